"""The refresh as real processes: killed mid-step, started twice at once, scheduled and stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from jobs import ingest
from jobs.common.context import JobContext
from tests.helpers import CLI, CSV_MAPPING, cli_env, community_events, rows, run_cli

PLAN = ["--methods", "mf", "--epochs", "2", "--steps", "split,train,recommend"]


@pytest.fixture
def toy(ctx: JobContext, tmp_path: Path) -> JobContext:
    ingest.run(ctx, [community_events(tmp_path / "events.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    return ctx


def _spawn(ctx: JobContext, *args: str, **env: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("COLREC_") and k != "DATABASE_URL"}
    full.update(cli_env(ctx, **env))
    return subprocess.Popen([CLI, *args], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(ctx: JobContext, sql: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(ctx, sql)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {sql}")


def published_refreshes(ctx: JobContext) -> list[dict[str, object]]:
    return rows(ctx, "select id, as_of from runs where job = 'refresh' and status = 'published'")


def test_kill_9_mid_step_publishes_nothing_and_the_next_refresh_completes(toy: JobContext) -> None:
    # Many epochs, so that the train step is surely running when the process dies.
    proc = _spawn(toy, "refresh", "-d", "toy", "--as-of", "2021-03-01", "--methods", "mf", "--epochs", "400",
                  "--steps", "split,train,recommend")  # fmt: skip
    _wait_for(toy, "select id from runs where job = 'train' and status = 'running'")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert published_refreshes(toy) == []
    assert rows(toy, "select count(*) as n from latest_recommendations")[0]["n"] == 0

    proc = _spawn(toy, "refresh", "-d", "toy", "--as-of", "2021-03-01", *PLAN)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len(published_refreshes(toy)) == 1
    abandoned = rows(toy, "select status, error from runs where job = 'refresh' and status <> 'published'")
    assert len(abandoned) == 1 and abandoned[0]["status"] == "failed" and "abandoned" in abandoned[0]["error"]
    assert rows(toy, "select count(*) as n from runs where status in ('running', 'staged')")[0]["n"] == 0


def test_two_refreshes_at_once_do_the_work_once(toy: JobContext) -> None:
    procs = [_spawn(toy, "refresh", "-d", "toy", "--as-of", "2021-03-01", *PLAN) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 75]), results
    if codes == [0, 75]:
        assert any("another refresh of toy is running" in err for _, err in results)
    assert len(published_refreshes(toy)) == 1
    assert rows(toy, "select count(*) as n from runs where job = 'refresh'")[0]["n"] == 1


def test_scheduler_runs_now_and_stops_on_sigterm(toy: JobContext) -> None:
    proc = _spawn(toy, "schedule", "-d", "toy", "--cron", "0 3 * * *", "--run-now", *PLAN, COLREC_LOG_LEVEL="INFO")
    try:
        _wait_for(toy, "select id from runs where job = 'refresh' and status = 'published'", timeout=300)
        jobs = rows(toy, "select id from apscheduler_jobs")
        assert [j["id"] for j in jobs] == ["refresh:toy"]  # the one-off start-up run is gone, the nightly stays
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "scheduler stopped" in err


def test_database_restart_mid_refresh_fails_clearly_then_recovers(tmp_path: Path) -> None:
    """On the embedded default: the server is stopped and started again while a refresh trains."""
    env = {"COLREC_DATA_DIR": str(tmp_path / "data"), "COLREC_LOG_LEVEL": "WARNING"}
    full = {k: v for k, v in os.environ.items() if not k.startswith("COLREC_") and k != "DATABASE_URL"} | env
    events = community_events(tmp_path / "events.csv")
    refresh_args = [
        "refresh",
        "-d",
        "toy",
        "--as-of",
        "2021-03-01",
        "--methods",
        "mf",
        "--steps",
        "split,train,recommend",
    ]
    try:
        assert run_cli("db", "upgrade", env=env).returncode == 0
        assert run_cli("ingest", str(events), "-d", "toy", "-f", "csv", "--map", CSV_MAPPING, env=env).returncode == 0
        proc = subprocess.Popen([CLI, *refresh_args, "--epochs", "400"], env=full, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while not any(r["job"] == "train" and r["status"] == "running" for r in _runs(env)):
            assert time.monotonic() < deadline and proc.poll() is None, "the refresh never reached its train step"
            time.sleep(0.5)
        assert run_cli("db", "stop", env=env).stdout.strip() == "embedded server stopped"
        assert json.loads(run_cli("db", "status", "--json", env=env).stdout)["running"] is False
        _runs(env)  # any command starts the server again
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err

        again = run_cli(*refresh_args, "--epochs", "2", env=env, timeout=300)
        assert again.returncode == 0, again.stderr
        refreshes = [r["status"] for r in _runs(env) if r["job"] == "refresh"]
        assert sorted(refreshes) == ["failed", "published"]
        assert not [r for r in _runs(env) if r["status"] in ("running", "staged")]
    finally:
        run_cli("db", "stop", env=env)


def _runs(env: dict[str, str]) -> list[dict[str, object]]:
    result = run_cli("runs", "--json", "--limit", "100", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_mid_rerank_leaves_no_engine_running_and_publishes_nothing(toy: JobContext, tiny_model: Path) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("COLREC_") and k != "DATABASE_URL"}
    full.update(cli_env(toy, COLREC_LLM_BACKEND="vllm", COLREC_LLM_MODEL=str(tiny_model), COLREC_LLM_DTYPE="float32",
                        COLREC_VLLM_MEMORY_SHARE="0.1"))  # fmt: skip
    proc = subprocess.Popen(
        [CLI, "refresh", "-d", "toy", "--as-of", "2021-03-01", "--methods", "mf", "--epochs", "2",
         "--steps", "split,train,recommend,rerank"],
        env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    _wait_for(toy, "select id from runs where job = 'recommend' and params->>'method' = 'llm' "
                   "and status = 'running'", timeout=300)  # fmt: skip
    time.sleep(3)  # into the engine's start-up or its first prompts
    os.killpg(proc.pid, signal.SIGTERM)  # the whole group, as a container stop or `kill -- -PGID` does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _group_alive(proc.pid), "an engine process outlived the job"
    assert published_refreshes(toy) == []
    assert rows(toy, "select count(*) as n from runs where status in ('running', 'staged')")[0]["n"] == 0
