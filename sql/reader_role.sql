-- colrec_reader: may read the downstream views and nothing else. Applied by migration 0003.
-- Views run with their owner's rights, so the role needs no grant on the tables behind them.
-- Roles are cluster-wide; the grants below are per database.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'colrec_reader') then
        create role colrec_reader nologin;
    end if;
end
$$;

grant usage on schema public to colrec_reader;
grant select on latest_runs, latest_recommendations, latest_predictions, latest_user_profiles,
    latest_item_profiles, latest_evidence, run_history, dataset_stats to colrec_reader;
-- Functions are executable by PUBLIC by default; the index helper is for the jobs only.
revoke execute on function colrec_ensure_hnsw(text, integer, text) from public;
