-- Spend is never negative: a negative value means a unit conversion went wrong upstream.
select campaign_day_id, spend
from {{ ref('fct_campaign_daily') }}
where spend < 0
