-- Partitioned outputs: predictions, recommendations and embeddings are partitioned by dataset
-- (list on dataset_id) and, inside each dataset, by run (list on run_id). Publishing a run stays a
-- status change on `runs`; pruning one is a DROP TABLE of its partitions instead of a DELETE of
-- its rows, and a query of one run reads that run's partition only. Applied by migration 0007.

-- colrec_run_partition_name(table, dataset, run): the one place that names a run's partition.
create or replace function colrec_run_partition_name(p_table text, p_dataset integer, p_run bigint)
returns text
language sql
immutable
as $$ select format('%s_d%s_r%s', p_table, p_dataset, p_run) $$;

-- colrec_run_partition(table, dataset, run): the partition of one run's rows, created on first
-- need. Each new table is made standalone and then attached: ATTACH PARTITION locks the parent in
-- SHARE UPDATE EXCLUSIVE mode, which readers' open transactions on the latest_* views (ACCESS
-- SHARE) do not block, where CREATE TABLE ... PARTITION OF would wait for every one of them.
-- Concurrent creators queue on their dataset's row (FOR NO KEY UPDATE: a lock that needs the
-- UPDATE right, so a read-only login cannot hold it; an advisory lock could be taken by anyone).
-- Applied by migrations 0007 and 0010.
create or replace function colrec_run_partition(p_table text, p_dataset integer, p_run bigint)
returns text
language plpgsql
as $$
declare
    by_dataset text := format('%s_d%s', p_table, p_dataset);
    by_run text := colrec_run_partition_name(p_table, p_dataset, p_run);
begin
    if p_table not in ('predictions', 'recommendations', 'embeddings') then
        raise exception 'colrec_run_partition: % is not a partitioned output table', p_table;
    end if;
    if to_regclass(by_run) is not null then
        return by_run;
    end if;
    perform 1 from datasets where id = p_dataset for no key update;
    if to_regclass(by_run) is not null then  -- made while we queued
        return by_run;
    end if;
    if to_regclass(by_dataset) is null then
        execute format('create table %I (like %I including defaults including constraints) partition by list (run_id)',
                       by_dataset, p_table);
        execute format('alter table %I attach partition %I for values in (%s)', p_table, by_dataset, p_dataset);
    end if;
    execute format('create table %I (like %I including defaults including constraints)', by_run, by_dataset);
    execute format('alter table %I attach partition %I for values in (%s)', by_dataset, by_run, p_run);
    return by_run;
end
$$;

-- colrec_drop_run_partitions(dataset, run): drop a run's partitions of every output table; the
-- number dropped.
create or replace function colrec_drop_run_partitions(p_dataset integer, p_run bigint)
returns integer
language plpgsql
as $$
declare
    output text;
    part_name text;
    dropped integer := 0;
begin
    foreach output in array array['predictions', 'recommendations', 'embeddings'] loop
        part_name := colrec_run_partition_name(output, p_dataset, p_run);
        if to_regclass(part_name) is not null then
            execute format('drop table %I', part_name);
            dropped := dropped + 1;
        end if;
    end loop;
    return dropped;
end
$$;
