"""`colrec-jobs rationale`: TWiCE-Rec stage 1 (twice-rec.txt, "In-Context Learning with
Self-Annotated Curation"): for each user, a rationale for the observed next item given the earlier
history, written with in-context examples; then the LLM judges each rationale (causal relevance,
logical coherence) and weak ones are marked `kept = false` (both kinds are stored).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from colrec.errors import ColrecError
from colrec.llm.engine import GenerationParams, sha256
from colrec.llm.parsing import ParseError, profile_text, repeats_itself
from colrec.llm.prompts import ItemText, RationaleExample, twice_curation, twice_rationale
from colrec_store.repositories import interactions
from colrec_store.repositories.datasets import dataset_id as find_dataset
from colrec_store.repositories.generated import write_rationales
from jobs.common.context import JobContext
from jobs.common.recipe_data import next_item_users
from jobs.common.windows import events_until, item_texts, load_window
from jobs.llm.work import CachedLLM, require_item_text

RATIONALE = GenerationParams(max_tokens=128, repetition_penalty=1.15)  # as profiles (jobs.profile)
KEEP_AT = 0.5  # P(Yes) of the curation question at or above which a rationale is kept

# Hand-written seeds for in-context learning, as the paper seeds its prompts with a few examples.
EXAMPLES = (
    RationaleExample(
        ["Toy Story (1995)", "Aladdin (1992)", "The Lion King (1994)"],
        "Beauty and the Beast (1991)",
        "The user keeps choosing animated family films with musical numbers; Beauty and the Beast is a classic of "
        "exactly that kind, from the same studio and era as The Lion King and Aladdin.",
    ),
    RationaleExample(
        ["Trail running shoes", "Hydration vest", "Headlamp"],
        "Trekking poles",
        "The purchases build a kit for long trail runs and night hikes; trekking poles are the next piece of that "
        "kit, useful on the steep terrain these items are made for.",
    ),
)


def run(
    ctx: JobContext,
    dataset: str,
    *,
    limit: int | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    history_len: int = 10,
    split: str | None = None,
    seed: int = 0,
    keep_at: float = KEEP_AT,
    keep_share: float | None = None,
) -> dict[str, Any]:
    if keep_share is not None and not 0 < keep_share <= 1:
        raise ColrecError(f"--keep-share must be in (0, 1], not {keep_share}")
    if split is None:
        dataset_id, targets, titles, descriptions = _all_events(ctx, dataset, as_of, limit)
    else:
        dataset_id, targets, titles, descriptions = _split_likes(ctx, dataset, split, as_of, seed, limit)
    llm = CachedLLM(ctx, model)
    params = {
        "limit": limit,
        "model": llm.model_name,
        "history_len": history_len,
        "as_of": as_of.isoformat() if as_of else None,
        "split": split,
        "seed": seed if split else None,
        "keep_at": None if keep_share is not None else keep_at,
        "keep_share": keep_share,
    }
    try:
        with ctx.run("rationale", dataset_id=dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, dataset_id, record)
            histories = [[titles[i] for i in seq[:-1][-history_len:]] for _, seq in targets]
            nexts = [seq[-1] for _, seq in targets]
            prompts = [
                llm.render(twice_rationale(h, ItemText(titles[n], descriptions.get(n)), EXAMPLES))
                for h, n in zip(histories, nexts, strict=True)
            ]
            raws = llm.generate(prompts, RATIONALE, record)
            made: list[dict[str, Any]] = []
            for (user, _), history, item, prompt, raw in zip(targets, histories, nexts, prompts, raws, strict=True):
                try:
                    text, failed = profile_text(raw), False
                except ParseError:
                    text, failed = raw, True
                made.append(
                    {
                        "user_id": user,
                        "item_id": item,
                        "text": text,
                        "failed": failed,
                        "prompt_hash": sha256(prompt),
                        "history": history,
                    }
                )
            judged = [r for r in made if not r["failed"]]
            questions = [llm.render(twice_curation(r["history"], titles[r["item_id"]], r["text"])) for r in judged]
            verdicts = [float(p) for p in llm.score_yes_no(questions, record)]
            for r, p_yes, kept in zip(judged, verdicts, curate(verdicts, keep_at, keep_share), strict=True):
                r["verdict"], r["kept"] = p_yes, kept
            record.metrics.update(
                rationales=len(made),
                failed=sum(r["failed"] for r in made),
                kept=sum(bool(r.get("kept")) for r in made),
                repetitive=sum(repeats_itself(r["text"]) for r in made),
            )
            with ctx.transaction() as session:
                write_rationales(
                    session,
                    [
                        {
                            "run_id": record.id,
                            "dataset_id": dataset_id,
                            "model": llm.model_name,
                            "adapter": None,
                            "user_id": r["user_id"],
                            "item_id": r["item_id"],
                            "text": r["text"],
                            "failed": r["failed"],
                            "kept": r.get("kept"),
                            "verdict": r.get("verdict"),
                            "prompt_hash": r["prompt_hash"],
                        }
                        for r in made
                    ],
                )
                record.finish(session, "published")  # staged inside a refresh
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics}


def curate(verdicts: list[float], keep_at: float, keep_share: float | None) -> list[bool]:
    """TWiCE's self-curation: keep a rationale whose P(Yes) reaches `keep_at`, or with `keep_share`
    the best share of them (ties at the cut kept). A small model's P(Yes) can sit below 0.5 for
    every rationale; ranking by it still separates its better ones from its worse."""
    if keep_share is None:
        return [p >= keep_at for p in verdicts]
    if not verdicts:
        return []
    cut = sorted(verdicts, reverse=True)[max(1, round(keep_share * len(verdicts))) - 1]
    return [p >= cut for p in verdicts]


Targets = list[tuple[int, list[int]]]  # (user, items oldest first): the last is the next item to explain


def _all_events(ctx: JobContext, dataset: str, as_of: dt.date | None, limit: int | None) -> tuple[
        int, Targets, dict[int, str], dict[int, str]]:  # fmt: skip
    """Every user's events up to the date, liked or not: the last one is the next item."""
    with ctx.transaction() as session:
        dataset_id = find_dataset(session, dataset)
        rows = events_until(session, dataset_id, as_of)
        items = interactions.items(session, dataset_id)
    titles, descriptions = item_texts(items)
    sequences = rows.group_by("user_id", maintain_order=True).agg(pl.col("item_id")).sort("user_id")
    targets = [(int(u), list(s)) for u, s in zip(sequences["user_id"], sequences["item_id"], strict=True)]
    return dataset_id, [t for t in targets if len(t[1]) >= 3][:limit], titles, descriptions


def _split_likes(ctx: JobContext, dataset: str, split: str, as_of: dt.date | None, seed: int,
                 limit: int | None) -> tuple[int, Targets, dict[int, str], dict[int, str]]:  # fmt: skip
    """The split's liked training items: the next item and users the twice recipe trains on, so
    its reasoning task finds these rationales; nothing after the split's cut is read."""
    window = load_window(ctx, dataset, split, as_of, seed)
    sequences = window.liked_sequences()
    targets = [(u, sequences[u]) for u in next_item_users(sequences, limit, seed)]
    return window.dataset_id, targets, window.titles, window.descriptions
