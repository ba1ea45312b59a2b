"""The ray executor's work queue (`llm_requests`): prompts in numbered partitions of one run."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from colrec_store.db import psycopg_connection, rowcount
from colrec_store.models import LlmRequest


def enqueue(session: Session, run_id: int, prompts: list[tuple[str, str]], partition_size: int) -> int:
    """COPY (prompt hash, prompt) pairs in, `partition_size` to a partition; the number of partitions."""
    raw = psycopg_connection(session)
    with raw.cursor() as cursor:
        with cursor.copy("copy llm_requests (run_id, partition, prompt_hash, prompt) from stdin") as copy:
            for index, (prompt_hash, prompt) in enumerate(prompts):
                copy.write_row((run_id, index // partition_size, prompt_hash, prompt))
    return -(-len(prompts) // partition_size)


def read_partition(session: Session, run_id: int, partition: int) -> list[tuple[str, str]]:
    """The partition's (prompt hash, prompt) pairs still waiting (none once it was committed)."""
    rows = session.execute(
        select(LlmRequest.prompt_hash, LlmRequest.prompt)
        .where(LlmRequest.run_id == run_id, LlmRequest.partition == partition)
        .order_by(LlmRequest.prompt_hash)
    ).all()
    return [(h, p) for h, p in rows]


def remove_partition(session: Session, run_id: int, partition: int) -> None:
    session.execute(delete(LlmRequest).where(LlmRequest.run_id == run_id, LlmRequest.partition == partition))


def clear(session: Session, run_id: int) -> int:
    """Drop what is left of a run's queue; the number of rows that were still waiting."""
    return rowcount(session.execute(delete(LlmRequest).where(LlmRequest.run_id == run_id)))
