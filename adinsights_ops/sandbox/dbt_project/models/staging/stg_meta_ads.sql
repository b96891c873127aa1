-- Meta Ads insights, one row per tenant, campaign and day, in the shape every channel shares.
select
    tenant_id,
    'meta_ads' as channel,
    account_id,
    campaign_id,
    campaign_name,
    cast(date_start as date) as date_day,
    cast(impressions as bigint) as impressions,
    cast(clicks as bigint) as clicks,
    cast(spend as decimal(12, 2)) as spend,
    cast(conversions as double) as conversions,
    account_currency as currency
from {{ ref('raw_meta_ads_daily') }}
