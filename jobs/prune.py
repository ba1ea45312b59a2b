"""`colrec-jobs prune`: delete old runs with their outputs and model files (see
`colrec_store.repositories.runs.prunable_runs` for what is kept)."""

from __future__ import annotations

import shutil
from typing import Any

from colrec.errors import ColrecError
from colrec_store.repositories.runs import delete_runs, prunable_runs
from jobs.common.context import JobContext


def run(ctx: JobContext, keep: int, dry_run: bool = False) -> dict[str, Any]:
    if keep < 1:
        raise ColrecError("--keep must be at least 1 (the latest published runs are never removed)")
    with ctx.transaction() as session:
        doomed = prunable_runs(session, keep)
        removed = doomed if dry_run else delete_runs(session, doomed)
    if not dry_run:
        for run_id in removed:  # after the commit: a file without its row is harmless, the reverse is not
            shutil.rmtree(ctx.settings.models_path / "runs" / str(run_id), ignore_errors=True)
    return {"runs": len(doomed), "with_steps": len(removed), "run_ids": sorted(removed), "dry_run": dry_run}
