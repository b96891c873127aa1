-- What /api/dashboards/aggregate-snapshot/ serves: per tenant, totals and rates over the whole
-- history, overall and per channel, with the freshest day seen.
with daily as (
    select * from {{ ref('fct_campaign_daily') }}
)

select
    tenant_id || ':' || coalesce(channel, 'all') as snapshot_id,
    tenant_id,
    coalesce(channel, 'all') as channel,
    count(distinct campaign_id) as campaigns,
    min(date_day) as first_day,
    max(date_day) as last_day,
    sum(impressions) as impressions,
    sum(clicks) as clicks,
    sum(spend) as spend,
    sum(conversions) as conversions,
    round(sum(clicks) / nullif(sum(impressions), 0), 6) as ctr,
    round(sum(spend) / nullif(sum(clicks), 0), 4) as cpc,
    round(sum(spend) / nullif(sum(conversions), 0), 4) as cpa,
    {% if inject_failure('model') -%}
    -- rehearsal: a conversion error at run time
    cast('not-a-number' as integer) as injected_failure,
    {% endif -%}
    current_timestamp as snapshot_generated_at
from daily
group by grouping sets ((tenant_id, channel), (tenant_id))
