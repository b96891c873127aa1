-- One row per tenant, channel, campaign and day, across channels. Incremental: a run re-reads the
-- last `lookback_days` days before the newest day it holds (late-arriving rows) and replaces them.
{{
    config(
        materialized='incremental',
        unique_key='campaign_day_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with unioned as (
    select * from {{ ref('stg_meta_ads') }}
    union all
    select * from {{ ref('stg_google_ads') }}
)

select
    tenant_id || '|' || channel || '|' || campaign_id || '|' || strftime(date_day, '%Y-%m-%d')
        as campaign_day_id,
    tenant_id,
    channel,
    account_id,
    campaign_id,
    campaign_name,
    date_day,
    impressions,
    clicks,
    spend,
    conversions,
    currency,
    '{{ invocation_id }}' as loaded_by_invocation
from unioned
{% if is_incremental() %}
where date_day >= (
    select max(date_day) - interval {{ var('lookback_days', 2) }} day from {{ this }}
)
{% endif %}
