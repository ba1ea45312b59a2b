-- dataset_stats: one row per dataset with its size and time range. Applied by a migration.
create or replace view dataset_stats as
select
    d.name as dataset,
    (select count(*) from users u where u.dataset_id = d.id) as users,
    (select count(*) from items i where i.dataset_id = d.id) as items,
    coalesce(x.interactions, 0) as interactions,
    x.first_ts,
    x.last_ts
from datasets d
left join lateral (
    select count(*) as interactions, min(ts) as first_ts, max(ts) as last_ts
    from interactions x
    where x.dataset_id = d.id
) x on true;
