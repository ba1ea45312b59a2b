"""One quality table: every method on the test pairs of one split, read from the store the jobs made.

    COLREC_DATA_DIR=DIR python -m benchmarks.quality_table -d ml1m -s temporal [--name ml1m] [--readme]

The jobs make the methods (the README's "Quality table" section lists the commands); this reads them
back on the same pairs, so every row is measured the same way: CF models (`mf`, `lightgcn`,
`sasrec`, `deepfm`) are scored again from their newest artifact trained on the split (`evaluate`),
the LLM and stacked methods from their newest score run, `positive-rate` (the user's plus the item's
smoothed positive rate in the train part) is computed here, and `hybrid-no-llm` is stacked here when
the CF models exist (seconds). A method the store has nothing of is a row with "auc": null and why;
a method scored on fewer of the test pairs (a sample; a CF model skips users and items it never
saw) says how many. Beside each row: the paper's figure on the same split (SCORE's Table 2, ML-1M,
the CoLLM split; 7B/8B LLMs) and the goal of issue #23 with the amount it is missed by. Writes
benchmarks/results/quality_table-<name>.json; `--readme` rewrites the README's table between its
markers from that file. A row this store did not make keeps the figures that file held for it (the
same dataset, split and pairs), marked as from an earlier store (`--fresh`: left empty), and a row
scored by a tuned model says how many train pairs it was tuned on.

With `--candidates N` (the ML-100K table) every method instead reranks the same lists of each test
user (colrec.candidates: the user's last test positive among N-1 sampled unseen items), made by the
jobs' `--candidates N`, and the table leads with NDCG@10 and HR@10 on them, AUC/UAUC over the lists'
pairs beside; the README's rerank table is written between its own markers.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import write_results
from benchmarks.results_io import RESULTS
from colrec import hybrid, metrics
from colrec.candidates import rerank_metrics
from colrec.errors import ColrecError
from colrec_store.config import Settings
from colrec_store.repositories.runs import run_params
from jobs import evaluate, score
from jobs.common.context import JobContext
from jobs.common.pairs import pair_targets
from jobs.common.windows import load_window

CF = ("mf", "lightgcn", "sasrec", "deepfm")
LLM = ("llm", "llm-lora", "llm-full", "score", "score-lora", "score-full", "coral-none", "coral-random", "coral")
METHODS = ("positive-rate", *CF, *LLM, "hybrid", "hybrid-no-llm")
# SCORE's Table 2 (ML-1M on the CoLLM split, AUC): the tuned rows are 7B (TALLRec, CoLLM) and 8B (SCORE) LLMs.
PAPER = {"mf": ("MF", 0.6063), "lightgcn": ("LightGCN", 0.6114), "sasrec": ("SASRec", 0.7000),
         "coral": ("CoRAL", 0.5412), "llm-lora": ("TALLRec", 0.7242), "llm-full": ("TALLRec", 0.7242),
         "score-lora": ("SCORE", 0.7367), "score-full": ("SCORE", 0.7367), "hybrid": ("CoLLM", 0.7333)}  # fmt: skip
# How each method is made when the store has none of it (the error says only that it is missing).
MAKE = {
    "llm": "`score -d D -s S` (untuned history-only prompt)",
    "llm-lora": "`finetune --recipe yesno --tuning lora`, then `score --adapter-run RUN`",
    "llm-full": "`finetune --recipe yesno --tuning full`, then `score --adapter-run RUN`",
    "score": "`retrieve --method score` (CAR, LLM self-assessment, SARE), then `score --method score`",
    "score-lora": "`retrieve --parts train` (run R), `retrieve --models-run R`, `finetune --prompt score --tuning "
    "lora`, then `score --method score --adapter-run RUN`",
    "score-full": "`retrieve --parts train` (run R), `retrieve --models-run R`, `finetune --prompt score --tuning "
    "full`, then `score --method score --adapter-run RUN`",
    "coral-none": "`score --method coral-none`",
    "coral-random": "`score --method coral-random`",
    "coral": "`coral train-policy -s S`, then `score --method coral`",
    "hybrid": "an LLM score run of the valid and test parts (`score --parts valid,test`), then `score --method hybrid`",
}
README = Path(__file__).parent.parent / "README.md"
MARKERS = ("<!-- quality-table:start -->", "<!-- quality-table:end -->")
RERANK_MARKERS = ("<!-- rerank-table:start -->", "<!-- rerank-table:end -->")


def measure(ctx: JobContext, dataset: str, split: str, candidates: int = 0) -> dict[str, Any]:
    window = load_window(ctx, dataset, split)
    test = pair_targets(window, ("test",), None, 0, candidates) if candidates else window.split.part("test")
    rows = [_positive_rate(window.split.part("train"), test, candidates)]
    if candidates:  # what sampled lists reward by themselves: the negatives are drawn uniformly
        rows.append(_popularity(window.split.part("train"), test))
    for method in METHODS[1:]:
        rows.append(_tuned_on(ctx, _row(ctx, dataset, split, method, test.height, candidates)))
    table: dict[str, Any] = {"dataset": dataset, "split": split, "pairs": test.height, "rows": rows}
    if candidates:
        table.update(candidates=candidates, users=test["user_id"].n_unique(), random_ndcg_at_10=_random_ndcg(test))
    else:
        _goals(table)
    return table


def _positive_rate(train: Any, test: Any, candidates: int) -> dict[str, Any]:
    scores = hybrid.positive_rate_score(hybrid.rate_features(train, test))
    labels, users = test["label"].to_numpy(), test["user_id"].to_numpy()
    row = {"method": "positive-rate", "auc": metrics.rounded(metrics.auc(labels, scores)),
           "uauc": metrics.rounded(metrics.uauc(users, labels, scores)), "pairs": test.height}  # fmt: skip
    return {**row, **_rerank_columns(rerank_metrics(users, labels, scores))} if candidates else row


def _popularity(train: Any, lists: Any) -> dict[str, Any]:
    """Each candidate's number of training events: the bias of uniformly sampled negatives, a
    reference row for the rerank table (a method below it ranks worse than popularity alone)."""
    counts = train.group_by("item_id").len()
    scores = (
        lists.join(counts, on="item_id", how="left", maintain_order="left")["len"].fill_null(0).to_numpy().astype(float)
    )
    labels, users = lists["label"].to_numpy(), lists["user_id"].to_numpy()
    return {"method": "popularity", "auc": metrics.rounded(metrics.auc(labels, scores)),
            "uauc": metrics.rounded(metrics.uauc(users, labels, scores)), "pairs": lists.height,
            **_rerank_columns(rerank_metrics(users, labels, scores))}  # fmt: skip


def _row(ctx: JobContext, dataset: str, split: str, method: str, pairs: int, candidates: int) -> dict[str, Any]:
    try:
        if method == "hybrid-no-llm":  # a stack over the CF runs: cheap, always fresh
            score.run(ctx, dataset, split, method=method, candidates=candidates)
        result = evaluate.run(ctx, dataset, method, split, candidates=candidates)
    except ColrecError as error:
        lists = f" (each with `--candidates {candidates}`)" if candidates else ""
        why = str(error) if method not in MAKE else f"no {method} scores on split {split!r}; made by {MAKE[method]}"
        return {"method": method, "auc": None, "uauc": None, "why": why + (lists if method in MAKE else "")}
    row = {"method": method, "auc": result.get("auc"), "uauc": result.get("uauc"), "pairs": result.get("test_pairs")}
    if candidates:
        row.update(_rerank_columns(result))
    if row["pairs"] != pairs:
        row["note"] = f"on {row['pairs']} of the {pairs} test pairs"  # a sample, or pairs new to the model
    return {**row, **{k: result[k] for k in ("score_run", "model_run") if k in result}}


def _tuned_on(ctx: JobContext, row: dict[str, Any]) -> dict[str, Any]:
    """A row scored by a tuned model names its finetune run and how many train pairs it was tuned on:
    tunings of unequal size are otherwise compared as if they were alike."""
    if "score_run" not in row:
        return row
    with ctx.transaction() as session:
        tuned_by = run_params(session, row["score_run"]).get("adapter_run")
        pairs = (run_params(session, tuned_by).get("window") or {}).get("pairs") if tuned_by else None
    return {**row, "finetune_run": tuned_by, "tuned_pairs": pairs} if tuned_by else row


def carry_over(table: dict[str, Any], earlier: dict[str, Any] | None) -> dict[str, Any]:
    """Rows this store did not make keep the figures of the results file measured before (same
    dataset, split, pairs and lists), marked `"earlier_store": true`. Why: a store lives on the machine
    that made it, and the methods of one table take longer to make than one machine is kept; without
    this, each new store would forget every row it had no time to make again."""
    same = ("dataset", "split", "pairs", "candidates")
    if earlier is None or any(earlier.get(k) != table.get(k) for k in same):
        return table
    before = {row["method"]: row for row in earlier["rows"]}
    rows = []
    for row in table["rows"]:
        old = before.get(row["method"])
        if row["auc"] is None and old is not None and old.get("auc") is not None:
            row = {k: v for k, v in old.items() if k not in ("goal", "missed_by")} | {"earlier_store": True}
        rows.append(row)
    merged = {**table, "rows": rows}
    if "candidates" not in merged:
        _goals(merged)
    return merged


def _rerank_columns(result: dict[str, Any]) -> dict[str, Any]:
    return {"ndcg@10": result.get("rerank_ndcg@10"), "hr@10": result.get("rerank_hr@10"),
            "users": result.get("rerank_users")}  # fmt: skip


def _random_ndcg(lists: Any) -> float:
    """NDCG@10 of a random order of the same lists (its expectation, list by list)."""
    sizes = lists.group_by("user_id").len()["len"].to_numpy()
    gains = 1.0 / np.log2(np.arange(10) + 2)
    return round(float(np.mean([gains[: min(10, n)].sum() / n for n in sizes])), 4)


def _goals(table: dict[str, Any]) -> None:
    """Issue #23's goals beside the rows they judge, with the paper's figure on the same split."""
    auc = {r["method"]: r["auc"] for r in table["rows"]}
    tuned_llm = max((auc[m] for m in ("llm-lora", "llm-full") if auc[m] is not None), default=None)
    goals: dict[str, tuple[float | None, str]] = {
        "llm-lora": (0.65, "tuned TALLRec prompt >= 0.65"),
        "llm-full": (0.65, "tuned TALLRec prompt >= 0.65"),
        "score-lora": (None if tuned_llm is None else tuned_llm + 0.02, "tuned SCORE prompt >= tuned TALLRec + 0.02"),
        "score-full": (None if tuned_llm is None else tuned_llm + 0.02, "tuned SCORE prompt >= tuned TALLRec + 0.02"),
    }
    no_llm = auc.get("hybrid-no-llm")
    goals["hybrid"] = (max(0.74, (no_llm or 0.0) + 0.005), ">= 0.74 and >= hybrid-no-llm + 0.005")
    for row in table["rows"]:
        if row["method"] in PAPER:
            row["paper"], row["paper_auc"] = PAPER[row["method"]]
        if row["method"] in goals:
            target, text = goals[row["method"]]
            row["goal"] = text
            if target is not None and row["auc"] is not None:
                row["missed_by"] = round(max(0.0, target - row["auc"]), 4)


def rerank_markdown(table: dict[str, Any]) -> str:
    lines = [f"{table['dataset']}, split {table['split']}: each of {table['users']:,} test users' held-out liked "
             f"item among {table['candidates'] - 1} sampled unseen items ({table['pairs']:,} pairs; "
             f"a random order: NDCG@10 {table['random_ndcg_at_10']:.4f}; "
             "`benchmarks/results/quality_table-*.json`):", "",
             "| method | NDCG@10 | HR@10 | AUC | UAUC | note |", "|---|---|---|---|---|---|"]  # fmt: skip
    made = [row for row in table["rows"] if row["auc"] is not None]
    for row in made:
        cells = [_cell(row.get(k)) for k in ("ndcg@10", "hr@10", "auc", "uauc")]
        lines.append(f"| `{row['method']}` | {' | '.join(cells)} | {_row_note(row)} |")
    # One line for the rows the store has none of: each one's recipe is its "why" in the results file.
    missing = [f"`{row['method']}`" for row in table["rows"] if row["auc"] is None]
    if missing:
        lines += [
            "",
            f"Not made in this store (how each is made: its `why` in the results file): {', '.join(missing)}.",
        ]
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def markdown(table: dict[str, Any]) -> str:
    lines = [f"{table['dataset']}, split {table['split']}, {table['pairs']:,} test pairs "
             "(`benchmarks/results/quality_table-*.json`; paper: SCORE's Table 2, ML-1M, 7B/8B LLMs):", "",
             "| method | AUC | UAUC | paper (AUC) | goal (missed by) |", "|---|---|---|---|---|"]  # fmt: skip
    for row in table["rows"]:
        auc = "–" if row["auc"] is None else f"{row['auc']:.4f}"
        uauc = "–" if row.get("uauc") is None else f"{row['uauc']:.4f}"
        paper = f"{row['paper']} {row['paper_auc']:.4f}" if "paper" in row else ""
        goal = row.get("goal", "")
        if "missed_by" in row:
            goal += " (met)" if row["missed_by"] == 0 else f" ({row['missed_by']:.4f})"
        if row["auc"] is None:
            goal = (goal + "; " if goal else "") + "not made: " + _short(row["why"])
        else:
            goal = "; ".join(x for x in (goal, _row_note(row)) if x)
        lines.append(f"| `{row['method']}` | {auc} | {uauc} | {paper} | {goal} |")
    return "\n".join(lines)


def _row_note(row: dict[str, Any]) -> str:
    notes = [row.get("note", "")]
    if row.get("tuned_pairs"):
        notes.append(f"tuned on {row['tuned_pairs']:,} train pairs")
    if row.get("earlier_store"):
        notes.append("from an earlier store")
    return "; ".join(n for n in notes if n)


def _short(why: str) -> str:
    return re.sub(r"\s+", " ", why).replace("|", "/")[:110]


def write_readme(table: dict[str, Any], readme: Path = README) -> None:
    markers, body = (RERANK_MARKERS, rerank_markdown(table)) if "candidates" in table else (MARKERS, markdown(table))
    text = readme.read_text()
    start, end = (text.index(m) for m in markers)
    readme.write_text(text[: start + len(markers[0])] + "\n" + body + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml1m")
    parser.add_argument("-s", "--split", default="temporal")
    parser.add_argument("--name", help="results file suffix (default: the dataset)")
    parser.add_argument("--readme", action="store_true", help="regenerate the README's table from the results")
    parser.add_argument("--from-file", action="store_true", help="with --readme: measure nothing, use the file")
    parser.add_argument("--candidates", type=int, default=0, help="rerank lists of N per test user (NDCG@10)")
    parser.add_argument("--fresh", action="store_true",
                        help="rows this store did not make stay empty (default: the results file's figures, marked)")  # fmt: skip
    args = parser.parse_args()
    name = f"quality_table-{args.name or args.dataset}"
    file = RESULTS / f"{name}.json"
    earlier = json.loads(file.read_text()) if file.exists() else None
    if args.from_file:
        if earlier is None:
            raise SystemExit(f"--from-file: {file} does not exist; measure it first (without --from-file)")
        table = earlier
    else:
        table = measure(JobContext(Settings()), args.dataset, args.split, args.candidates)
        if not args.fresh:
            table = carry_over(table, earlier)
        print(f"wrote {write_results(name, table)}")
    print(rerank_markdown(table) if "candidates" in table else markdown(table))
    if args.readme:
        write_readme(table)


if __name__ == "__main__":
    main()
