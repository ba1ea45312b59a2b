-- serving_recommendations: one method per dataset, the one the newest published refresh chose to
-- serve (its metrics -> 'serving': COLREC_SERVE_METHOD, or with `auto` the method with the best
-- prospective NDCG@10 over the last nights). A user the served method has no list for (the LLM may
-- rerank only some users) gets the fallback method's list (the refresh's first CF method), so
-- every user with recommendations gets one list. Applied by migration 0009.
create or replace view serving_recommendations as
with served as (
    select distinct on (r.dataset_id) r.dataset_id, r.id as refresh_run_id,
           r.metrics -> 'serving' ->> 'method' as method, r.metrics -> 'serving' ->> 'fallback' as fallback,
           r.metrics -> 'serving' ->> 'why' as why
    from runs r
    where r.job = 'refresh' and r.status = 'published' and r.metrics ? 'serving'
    order by r.dataset_id, r.as_of desc nulls last, r.id desc
), candidates as (
    select l.*, s.method as served_method, s.why as served_why, s.refresh_run_id,
           l.method = s.method as is_served
    from latest_recommendations l
    join datasets d on d.name = l.dataset
    join served s on s.dataset_id = d.id
    where l.method in (s.method, s.fallback)
)
select c.dataset, c.user_id, c.rank, c.item_id, c.title, c.score, c.method, c.served_method, c.served_why,
       c.run_id, c.refresh_run_id, c.as_of
from candidates c
where c.is_served
   or not exists (select 1 from candidates o where o.is_served and o.dataset = c.dataset and o.user_id = c.user_id);

grant select on serving_recommendations to colrec_reader;
