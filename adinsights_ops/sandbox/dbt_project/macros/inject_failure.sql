{#- Rehearsal switch: true when `--vars '{"inject_failure": "<kind>"}'` asks for this failure. -#}
{% macro inject_failure(kind) -%}
    {{ return(var('inject_failure', 'none') == kind) }}
{%- endmacro %}
