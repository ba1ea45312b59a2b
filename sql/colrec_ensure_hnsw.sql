-- colrec_ensure_hnsw(space, dim, metric): one HNSW index per embedding space and dimension.
-- `embeddings.vector` has no fixed dimension, so each (space, dim) gets a partial expression index
-- on vector::vector(dim); queries that filter on the same space and dim constants use it. The DDL
-- lives here (applied by a migration); jobs only call the function when they write a new space.
create or replace function colrec_ensure_hnsw(p_space text, p_dim integer, p_metric text default 'cosine')
returns text
language plpgsql
as $$
declare
    ops text := case p_metric
        when 'cosine' then 'vector_cosine_ops'
        when 'l2' then 'vector_l2_ops'
        when 'ip' then 'vector_ip_ops'
    end;
    index_name text := left(
        format('ix_emb_hnsw_%s_%s_%s', regexp_replace(lower(p_space), '[^a-z0-9_]', '_', 'g'), p_dim, p_metric), 63
    );
begin
    if ops is null then
        raise exception 'unknown metric % (cosine, l2 or ip)', p_metric;
    end if;
    if p_dim < 1 or p_dim > 2000 then
        raise exception 'HNSW supports 1..2000 dimensions, got %', p_dim;
    end if;
    execute format(
        'create index if not exists %I on embeddings using hnsw ((vector::vector(%s)) %s) where space = %L and dim = %s',
        index_name, p_dim, ops, p_space, p_dim
    );
    return index_name;
end
$$;
