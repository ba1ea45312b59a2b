-- Downstream views: what a recommender reads with plain SQL. Applied by migration 0003.
-- Each view answers from the newest *published* run per dataset, job and method (newest by as-of
-- date, then by run id), so a refresh that is running, failed or staged is never visible.
-- Ids are the source's external ids: downstream systems know users and items by those.

create or replace view latest_runs as
select distinct on (r.dataset_id, r.job, r.params ->> 'method')
    r.id as run_id, r.dataset_id, r.job, r.params ->> 'method' as method, r.as_of
from runs r
where r.status = 'published'
order by r.dataset_id, r.job, r.params ->> 'method', r.as_of desc nulls last, r.id desc;

create or replace view latest_recommendations as
select d.name as dataset, u.external_id as user_id, rec.rank, i.external_id as item_id, rec.score,
       n.method, n.run_id, n.as_of, i.title
from latest_runs n
join recommendations rec on rec.run_id = n.run_id and rec.method = n.method
join datasets d on d.id = n.dataset_id
join users u on u.id = rec.user_id
join items i on i.id = rec.item_id
where n.job = 'recommend';

create or replace view latest_predictions as
select d.name as dataset, u.external_id as user_id, i.external_id as item_id, p.score, p.label, p.failed,
       n.method, n.run_id, n.as_of
from latest_runs n
join predictions p on p.run_id = n.run_id and p.method = n.method
join datasets d on d.id = n.dataset_id
join users u on u.id = p.user_id
join items i on i.id = p.item_id
where n.job = 'score';

create or replace view latest_user_profiles as
select d.name as dataset, u.external_id as user_id, p.text as profile, p.failed, p.model, p.adapter,
       n.run_id, n.as_of
from latest_runs n
join profiles p on p.run_id = n.run_id and p.entity_kind = 'user'
join datasets d on d.id = n.dataset_id
join users u on u.id = p.entity_id
where n.job = 'profile';

create or replace view latest_item_profiles as
select d.name as dataset, i.external_id as item_id, p.text as profile, p.failed, p.model, p.adapter,
       n.run_id, n.as_of
from latest_runs n
join profiles p on p.run_id = n.run_id and p.entity_kind = 'item'
join datasets d on d.id = n.dataset_id
join items i on i.id = p.entity_id
where n.job = 'profile';

-- Evidence of the retrieval methods: SCORE's `evidence` runs, and CoRAL's, which a `score` run
-- writes with the predictions it made from them (method in params).
create or replace view latest_evidence as
select d.name as dataset, u.external_id as user_id, i.external_id as item_id, e.method, e.stage, e.rank,
       e.entity_kind,
       case when e.entity_kind = 'user' then cu.external_id else ci.external_id end as entity_id,
       e.score, e.payload, n.run_id, n.as_of
from latest_runs n
join evidence e on e.run_id = n.run_id and e.method = n.method
join datasets d on d.id = n.dataset_id
join users u on u.id = e.user_id
left join items i on i.id = e.item_id
left join users cu on e.entity_kind = 'user' and cu.id = e.entity_id
left join items ci on e.entity_kind = 'item' and ci.id = e.entity_id
where n.job in ('evidence', 'score');

-- Published runs only: the history a downstream reader may see (failed and staged work is
-- for operators, through `colrec-jobs runs`).
create or replace view run_history as
select r.id as run_id, d.name as dataset, r.job, r.params ->> 'method' as method, r.as_of, r.parent_run_id,
       r.started_at, r.finished_at, extract(epoch from r.finished_at - r.started_at) as seconds,
       r.metrics, r.timings, r.code_version
from runs r
left join datasets d on d.id = r.dataset_id
where r.status = 'published';
