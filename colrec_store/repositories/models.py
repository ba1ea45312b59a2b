"""Trained artifacts: where each model file is, with its config, data window and metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from colrec.errors import ColrecError
from colrec_store.models import ModelArtifact, Run


def record_model(
    session: Session,
    *,
    run_id: int,
    dataset_id: int,
    kind: str,
    name: str,
    path: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
) -> int:
    artifact = ModelArtifact(
        run_id=run_id, dataset_id=dataset_id, kind=kind, name=name, path=path, config=config, metrics=metrics
    )
    session.add(artifact)
    session.flush()
    return artifact.id


def latest_model(
    session: Session,
    dataset_id: int,
    kind: str,
    split: str | None = None,
    run_id: int | None = None,
    *,
    serve: bool = False,
) -> tuple[ModelArtifact, Run]:
    """The newest published artifact of this kind for the dataset (and split, if given), or the one
    of a given train run whatever its status (a refresh uses the model it has just staged). With a
    split, a serving fit (every interaction, nothing held out) is taken only when `serve` asks for
    one: split-protocol work must not score the held-out rows with a model that trained on them."""
    query = (
        select(ModelArtifact, Run)
        .join(Run, Run.id == ModelArtifact.run_id)
        .where(ModelArtifact.dataset_id == dataset_id, ModelArtifact.kind == kind)
        .order_by(Run.id.desc())
        .limit(1)
    )
    if run_id is not None:
        query = query.where(Run.id == run_id)
    else:
        query = query.where(Run.status == "published")
    if split is not None:
        query = query.where(Run.params["split"].astext == split)
        query = query.where(func.coalesce(Run.params["serve"].astext, "false") == ("true" if serve else "false"))
    row = session.execute(query).first()
    if row is None:
        where = f" on split {split!r}" if split else ""
        raise ColrecError(
            f"no trained {kind!r} model{where} for this dataset: run `colrec-jobs train --model {kind}` first"
        )
    return row[0], row[1]


def latest_score_run(session: Session, dataset_id: int, method: str, split: str, part: str = "test",
                     candidates: int = 0) -> int:  # fmt: skip
    """The newest successful (staged or published) score run of a method on a split that scored `part`
    (a run of the valid part alone, made to fit a hybrid, has nothing to evaluate), of the split's
    own pairs or, with `candidates` N, of rerank lists of N (runs before lists lack the param)."""
    found = session.execute(
        select(Run.id)
        .where(Run.dataset_id == dataset_id, Run.job == "score", Run.status.in_(("staged", "published")),
               Run.params["method"].astext == method, Run.params["split"].astext == split,
               Run.params["parts"].contains([part]),
               func.coalesce(Run.params["candidates"].astext, "0") == str(candidates))
        .order_by(Run.id.desc())
        .limit(1)
    ).scalar_one_or_none()  # fmt: skip
    if found is None:
        lists = f" --candidates {candidates}" if candidates else ""
        raise ColrecError(f"no {method!r} scores of the {part} part{lists and ' in rerank lists'} on split {split!r}: "
                          f"run `colrec-jobs score --method {method} --parts {part}{lists}` first")  # fmt: skip
    return found


def tuned_models(
    session: Session, dataset_id: int, kinds: tuple[str, ...], *, recipe: str, base_model: str, prompt: str, split: str
) -> list[tuple[ModelArtifact, Run]]:
    """The published tuned LLMs (adapters or whole models) of a recipe, base model, prompt and split,
    newest first: what a nightly step may serve in place of the untuned base."""
    rows = session.execute(
        select(ModelArtifact, Run)
        .join(Run, Run.id == ModelArtifact.run_id)
        .where(ModelArtifact.dataset_id == dataset_id, ModelArtifact.kind.in_(kinds), Run.status == "published",
               Run.job == "finetune", Run.params["recipe"].astext == recipe,
               Run.params["base_model"].astext == base_model, Run.params["prompt"].astext == prompt,
               Run.params["split"].astext == split)
        .order_by(Run.id.desc())
    ).all()  # fmt: skip
    return [(artifact, run) for artifact, run in rows]


def score_runs(session: Session, dataset_id: int, method: str, split: str) -> list[tuple[int, dict[str, Any]]]:
    """Every successful (staged or published) score run of a method on a split, newest first, with
    its params."""
    rows = session.execute(
        select(Run.id, Run.params)
        .where(Run.dataset_id == dataset_id, Run.job == "score", Run.status.in_(("staged", "published")),
               Run.params["method"].astext == method, Run.params["split"].astext == split)
        .order_by(Run.id.desc())
    ).all()  # fmt: skip
    return [(run_id, params) for run_id, params in rows]
