"""`colrec-jobs backfill`: a refresh for each date of a range, oldest first. Dates already published
with the same plan are skipped, so a backfill that stopped (a crash, a failing date) resumes where it
stopped when run again."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from colrec.errors import ColrecError
from jobs import refresh
from jobs.common.context import JobContext

log = logging.getLogger(__name__)


def parse_every(text: str) -> dt.timedelta:
    """`1d`, `7d`, `30d` or `2w`."""
    match = re.fullmatch(r"\s*(\d+)\s*([dw])\s*", text)
    if not match or int(match.group(1)) == 0:
        raise ColrecError(f"--every must look like 1d, 7d or 2w, not {text!r}")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    return dt.timedelta(days=days)


def dates(start: dt.date, end: dt.date, every: dt.timedelta) -> list[dt.date]:
    if end < start:
        raise ColrecError(f"--to {end} is before --from {start}")
    out, day = [], start
    while day <= end:
        out.append(day)
        day += every
    return out


def run(
    ctx: JobContext,
    dataset: str,
    plan: refresh.RefreshPlan,
    start: dt.date,
    end: dt.date,
    every: dt.timedelta,
    *,
    allow_future: bool = False,
) -> list[dict[str, Any]]:
    days = dates(start, end, every)
    today = dt.datetime.now(dt.UTC).date()
    if days[-1] > today and not allow_future:  # refused before the first date runs, not halfway
        raise ColrecError(f"--to {end} is after today ({today}, UTC): refused (pass --allow-future if you mean it)")
    results = []
    for number, day in enumerate(days, 1):
        log.info("backfill %s: %s (%d of %d)", dataset, day, number, len(days))
        result = refresh.run(ctx, dataset, plan, as_of=day, allow_future=allow_future)
        results.append({k: result.get(k) for k in ("as_of", "status", "run_id")})
    return results
