"""`colrec-jobs schedule`: a long-running APScheduler process that refreshes datasets on a cron
expression.

- Job store in Postgres (`apscheduler_jobs`, created by migration 0003): a restarted scheduler
  knows when each refresh last fired.
- Missed runs (the scheduler was down at the time): coalesced into one run at start-up when less
  than `misfire_grace` late, skipped to the next date otherwise.
- Overlap: each refresh takes its dataset's refresh lease; a refresh that finds it taken (another
  scheduler, or a cron call) is skipped and logged, never run twice.
- SIGTERM/SIGINT: no new refresh starts; a running one finishes (it publishes atomically, so even
  a hard kill leaves nothing half-published).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import signal
from typing import Any

from colrec.errors import Busy, ColrecError
from colrec_store.config import Settings
from jobs import refresh
from jobs.common.context import JobContext, one_line

log = logging.getLogger(__name__)
MISFIRE_GRACE = dt.timedelta(hours=12)


def nightly(dataset: str, plan: dict[str, Any]) -> None:
    """The scheduled job. Runs in the scheduler process, which is configured like any colrec-jobs
    command (COLREC_* variables); only the dataset and plan are stored in the job store."""
    ctx = JobContext(Settings())
    try:
        result = refresh.run(ctx, dataset, refresh.RefreshPlan(**_tuples(plan)))
        log.info("refresh %s: %s (run %s)", dataset, result["status"], result["run_id"])
    except Busy as err:
        log.warning("refresh %s skipped: %s", dataset, err)
    except Exception as err:  # the scheduler keeps going; the failure is in the run record
        log.error("refresh %s failed: %s", dataset, one_line(err))


def run(ctx: JobContext, datasets: list[str], cron: str, plan: refresh.RefreshPlan, run_now: bool = False) -> None:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    if not datasets:
        raise ColrecError("schedule needs at least one --dataset")
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=dt.UTC)
    except ValueError as err:
        raise ColrecError(f"--cron {cron!r}: {err}") from None
    executor = ThreadPoolExecutor(1)  # refreshes run one after another
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=ctx.engine)},
        executors={"default": executor},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(MISFIRE_GRACE.total_seconds())},
        timezone=dt.UTC,
    )
    for dataset in datasets:
        scheduler.add_job(nightly, trigger, args=[dataset, dataclasses.asdict(plan)], id=f"refresh:{dataset}",
                          name=f"refresh {dataset}", replace_existing=True)  # fmt: skip
        if run_now:
            scheduler.add_job(nightly, args=[dataset, dataclasses.asdict(plan)], id=f"refresh-now:{dataset}",
                              replace_existing=True)  # fmt: skip

    def stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing the running refresh, starting no new one", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler: %s on %r (UTC)", ", ".join(datasets), cron)
    scheduler.start()  # returns after shutdown
    executor.shutdown(wait=True)  # a refresh that was running finishes first
    log.info("scheduler stopped")


def _tuples(plan: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in plan.items()}
