{#- Seeds land in `raw` (as Airbyte's raw tables would), models in the target's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
