"""File ingest in chunks (CHUNK_ROWS rows at a time): the same rows and counts as one pass, and the
checks that span chunks still name both lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from colrec.errors import InputError
from jobs import ingest
from jobs.common.context import JobContext
from tests.helpers import rows

MAP = "user=member,item=sku,rating=stars,ts=when,title=name"


def test_chunks_give_the_rows_of_one_pass(ctx: JobContext, fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = ingest.run(ctx, [fixtures / "csv" / "events.csv"], dataset="whole", fmt="csv", mapping=MAP)
    monkeypatch.setattr(ingest, "CHUNK_ROWS", 2)
    chunked = ingest.run(ctx, [fixtures / "csv" / "events.csv"], dataset="chunked", fmt="csv", mapping=MAP)
    assert chunked == whole and whole.interactions_added > 2
    same = "select i.external_id, i.title, count(*) as n from interactions x join items i on i.id = x.item_id " \
           "join datasets d on d.id = x.dataset_id where d.name = :d group by 1, 2 order by 1"  # fmt: skip
    assert rows(ctx, same, d="chunked") == rows(ctx, same, d="whole")
    (run,) = rows(ctx, "select metrics from runs r join datasets d on d.id = r.dataset_id where d.name = 'chunked'")
    assert run["metrics"]["interactions_seen"] == whole.interactions_seen


def test_a_conflict_across_chunks_names_both_lines(ctx: JobContext, fixtures: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = tmp_path / "events.csv"
    lines = (fixtures / "csv" / "events.csv").read_text().splitlines()
    first = lines[1].split(",")
    path.write_text("\n".join([*lines, ",".join([first[0], first[1], "4", *first[3:]])]) + "\n")
    monkeypatch.setattr(ingest, "CHUNK_ROWS", 2)
    with pytest.raises(InputError, match=rf"events\.csv:{len(lines) + 1}: the same event as {path}:2 "):
        ingest.run(ctx, [path], dataset="toy", fmt="csv", mapping=MAP)
    assert rows(ctx, "select count(*) as n from interactions") == [{"n": 0}]
