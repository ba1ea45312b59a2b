"""`colrec-jobs models prepare|list`: the LLM and encoder catalogue under the model dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from colrec.llm.catalog import CATALOG, is_prepared, model_path, prepare
from jobs.common.context import JobContext


def run_prepare(ctx: JobContext, name: str) -> Path:
    return prepare(ctx.settings.models_path, name)


def run_list(ctx: JobContext) -> list[dict[str, Any]]:
    root = ctx.settings.models_path
    return [
        {
            "name": spec.name,
            "kind": spec.kind,
            "source": f"{spec.source}: {spec.ref}",
            "prepared": is_prepared(root, spec.name),
            "path": str(model_path(root, spec.name)),
            "note": spec.note,
        }
        for spec in CATALOG.values()
    ]
