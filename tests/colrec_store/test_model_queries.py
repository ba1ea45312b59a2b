"""Which run a query picks when several could serve: the store's choice, on a real Postgres."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from colrec.errors import ColrecError
from colrec_store.repositories.models import latest_score_run
from jobs.common.context import JobContext


def _score_run(ctx: JobContext, dataset_id: int, parts: list[str], status: str = "published") -> int:
    params = {"method": "llm-full", "split": "temporal", "parts": parts}
    with ctx.transaction() as s:
        return s.execute(
            text("insert into runs (dataset_id, job, status, params) values (:d, 'score', :s, cast(:p as jsonb)) "
                 "returning id"),
            {"d": dataset_id, "s": status, "p": json.dumps(params)},
        ).scalar_one()  # fmt: skip


def test_latest_score_run_is_the_newest_that_scored_the_part(ctx: JobContext) -> None:
    with ctx.transaction() as s:
        dataset_id = s.execute(text("insert into datasets (name) values ('toy') returning id")).scalar_one()
    with_test = _score_run(ctx, dataset_id, ["valid", "test"])
    valid_only = _score_run(ctx, dataset_id, ["valid"])  # newer: a valid sample made for a hybrid's fit
    _score_run(ctx, dataset_id, ["test"], status="failed")
    with ctx.transaction() as s:
        assert latest_score_run(s, dataset_id, "llm-full", "temporal") == with_test
        assert latest_score_run(s, dataset_id, "llm-full", "temporal", part="valid") == valid_only
        with pytest.raises(ColrecError, match="no 'llm-full' scores of the test part on split 'long-tail'"):
            latest_score_run(s, dataset_id, "llm-full", "long-tail")
