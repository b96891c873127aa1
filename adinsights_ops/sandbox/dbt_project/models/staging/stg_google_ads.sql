-- Google Ads campaign stats, one row per tenant, campaign and day; cost arrives in micros.
select
    tenant_id,
    {% if inject_failure('test') -%}
    -- rehearsal: an unknown channel, which the accepted_values test rejects
    case when campaign_id = '9100000001' then 'google_adz' else 'google_ads' end as channel,
    {%- else -%}
    'google_ads' as channel,
    {%- endif %}
    customer_id as account_id,
    campaign_id,
    campaign_name,
    cast(segments_date as date) as date_day,
    cast(metrics_impressions as bigint) as impressions,
    cast(metrics_clicks as bigint) as clicks,
    cast(metrics_cost_micros / 1000000.0 as decimal(12, 2)) as spend,
    cast(metrics_conversions as double) as conversions,
    customer_currency_code as currency
from {{ ref('raw_google_ads_daily') }}
