"""The ray executor on a local Ray instance with 2 CPU replicas and the tiny model: the same
predictions as the local executor, row for row; a replica killed mid-job leaves nothing published,
and the rerun completes from what the finished partitions committed."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from colrec.errors import ColrecError
from colrec.llm.engine import YES_NO
from jobs import ingest, profile, score
from jobs.common.context import JobContext
from jobs.llm.ray_executor import LOCAL_RAY
from jobs.llm.task import cached_model_name
from tests.helpers import rows

PARTS = ("train", "valid", "test")
PAIRS = "select user_id, item_id, score, label from predictions where run_id = :r order by user_id, item_id"


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=200 * 1024**2, **LOCAL_RAY)  # fmt: skip
    yield
    ray.shutdown()


def on_ray(ctx: JobContext, **update: object) -> JobContext:
    settings = ctx.settings.model_copy(update={"executor": "ray", "ray_replicas": 2, "ray_partition_size": 8, **update})
    return JobContext(settings)


def ratings(ctx: JobContext, tmp_path: Path) -> None:
    """12 users x 8 items, every pair rated: 96 pairs to score."""
    draw = random.Random(7)
    lines = ["u,i,r,ts,title"] + [
        f"u{u},i{i},{draw.randint(1, 5)},{1_600_000_000 + draw.randint(0, 10**6)},Title {i}"
        for u in range(12)
        for i in range(8)
    ]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    ingest.run(ctx, [tmp_path / "r.csv"], dataset="c", fmt="csv", mapping="user=u,item=i,rating=r,ts=ts,title=title")


def test_ray_gives_the_local_predictions(llm_ctx: JobContext, tmp_path: Path) -> None:
    ratings(llm_ctx, tmp_path)
    local = score.run(llm_ctx, "c", "random", parts=PARTS)
    with llm_ctx.transaction() as session:  # the ray run must compute, not read the local run's cache
        session.execute(text("delete from llm_cache"))
    ray_ctx = on_ray(llm_ctx)
    remote = score.run(ray_ctx, "c", "random", parts=PARTS)
    # A few pairs share a prompt (a user's first event has no history): each prompt runs once.
    assert remote["pairs"] == 96 and remote["llm_calls"] == local["llm_calls"] > 80
    assert remote["ray_partitions"] == -(-remote["llm_calls"] // 8)
    ours, theirs = rows(llm_ctx, PAIRS, r=local["run_id"]), rows(llm_ctx, PAIRS, r=remote["run_id"])
    assert len(ours) == len(theirs) == local["pairs"]
    for a, b in zip(ours, theirs, strict=True):
        assert (a["user_id"], a["item_id"], a["label"]) == (b["user_id"], b["item_id"], b["label"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)
    assert rows(llm_ctx, "select count(*) as n from llm_requests")[0]["n"] == 0


def replica_pids() -> list[int]:
    """Processes of Ray Data's map actors (Ray names them in their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "MapWorker" in cmdline and "PartitionWorker" in cmdline:
                found.append(int(entry.name))
    return found


def hold_one_prompt(url: str, model: str, killed: list[int]) -> None:
    """Hold an uncommitted cache row of the last queued prompt: the replica that commits its
    partition waits on that row, mid-job. Then kill every replica (SIGKILL), and let go."""
    engine = create_engine(url)
    deadline = time.monotonic() + 400  # Ray's actors can be slow to start on a busy machine
    with engine.connect() as conn:
        held = None
        while held is None and time.monotonic() < deadline:
            held = conn.execute(text("select prompt_hash from llm_requests order by partition desc limit 1")).scalar()
            time.sleep(0.05)
        conn.execute(
            text(
                "insert into llm_cache (model, adapter, prompt_hash, params_hash, output) values (:m, '', :h, :p, '{}')"
            ),
            {"m": model, "h": held, "p": YES_NO.key()},
        )
        while time.monotonic() < deadline:
            conn.execute(text("select pg_stat_clear_snapshot()"))  # else the transaction keeps its first view
            blocked = (
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
            )
            if conn.execute(text(blocked)).scalar():
                for pid in replica_pids():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                break
            time.sleep(0.05)
        conn.rollback()
    engine.dispose()


def test_killed_replica_publishes_nothing_and_the_rerun_completes(llm_ctx: JobContext, tmp_path: Path) -> None:
    ratings(llm_ctx, tmp_path)
    ray_ctx = on_ray(llm_ctx, ray_retries=0)
    killed: list[int] = []
    cached = cached_model_name(ray_ctx.settings.llm_model, ray_ctx.settings.llm_dtype)  # the row the replica writes
    killer = threading.Thread(target=hold_one_prompt, args=(ray_ctx.url, cached, killed))
    killer.start()
    with pytest.raises(ColrecError, match=r"ray executor: run \d+ failed: .*died"):
        score.run(ray_ctx, "c", "random", parts=PARTS)
    killer.join()
    assert killed  # the job failed because its replicas were killed while one waited mid-partition
    failed = rows(llm_ctx, "select id, status, error from runs where job = 'score'")
    assert [r["status"] for r in failed] == ["failed"] and "ray executor" in failed[0]["error"]
    assert rows(llm_ctx, "select count(*) as n from predictions")[0]["n"] == 0
    assert rows(llm_ctx, "select count(*) as n from llm_requests")[0]["n"] == 0
    committed = rows(llm_ctx, "select count(*) as n from llm_cache")[0]["n"]

    rerun = score.run(on_ray(llm_ctx), "c", "random", parts=PARTS)
    assert committed > 0 and rerun["cache_hits"] >= committed  # the finished partitions were kept
    assert rerun["llm_calls"] == rows(llm_ctx, "select count(*) as n from llm_cache")[0]["n"] - committed
    assert len(rows(llm_ctx, PAIRS, r=rerun["run_id"])) == rerun["pairs"]


def test_ray_generates_the_local_profiles(llm_ctx: JobContext, fixtures: Path) -> None:
    ingest.run(llm_ctx, [fixtures / "amazon2018"], dataset="a", fmt="amazon-2018", all_items=True)
    texts = "select entity_kind, entity_id, text, failed from profiles where run_id = :r order by 1, 2"
    local = profile.run(llm_ctx, "a")
    with llm_ctx.transaction() as session:
        session.execute(text("delete from llm_cache"))
    remote = profile.run(on_ray(llm_ctx, ray_partition_size=2), "a")
    assert remote["llm_calls"] == local["llm_calls"] == 8 and remote["ray_partitions"] >= 4
    assert rows(llm_ctx, texts, r=remote["run_id"]) == rows(llm_ctx, texts, r=local["run_id"])
