-- Every tenant has an overall ('all') row in the aggregate snapshot.
select t.tenant_id
from {{ ref('tenants') }} as t
left join {{ ref('aggregate_snapshot') }} as s
    on s.tenant_id = t.tenant_id and s.channel = 'all'
where s.tenant_id is null
