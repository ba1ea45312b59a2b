"""Prospective evaluation, a step of every refresh: what downstream actually got.

The previous published refresh's lists (every method it published: CF models, the LLM rerank, any
later one) are scored against the interactions that arrived after its as-of date, up to tonight's:
HR, Recall and NDCG at 5, 10 and 20 over the users who interacted, with the counts they rest on.
An arrival counts when the plan's protocol labels it positive (every interaction on implicit
splits; rating > 3 or the source's label otherwise) and the user had not already interacted with
the item by that date (lists exclude seen items, so those could never be hit).

A method other than the first CF method (the base) is scored on the users that have a list from
both, beside the base on those same users, since the LLM may rerank only some users: that
difference, averaged over the last nights, is what `auto` serving (choose_served) compares.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from colrec import metrics
from colrec.splits import SplitConfig, end_of_day, labelled
from colrec_store.repositories import interactions
from colrec_store.repositories import refresh as store
from colrec_store.repositories.datasets import dataset_id as find_dataset
from colrec_store.repositories.outputs import read_recommendations
from jobs.common.context import JobContext

KS = (5, 10, 20)
SERVE_NIGHTS = 7  # auto serving weighs the prospective NDCG@10 of this many nights, tonight's included
SERVE_METRIC = "ndcg@10"
# A switch away from the first CF method needs its lead measured on this many users in all: a lead
# on the 8 users who came back after one night is noise.
SERVE_MIN_USERS = 50


def run(ctx: JobContext, dataset: str, as_of: dt.date, split: str) -> dict[str, Any]:
    with ctx.transaction() as session:
        previous = store.recent_refreshes(session, dataset, as_of, None, 1)
        if not previous:
            return {"skipped": "no earlier published refresh to look back on"}
        run_id, since, _ = previous[0]
        base = (store.refresh_params(session, run_id).get("methods") or [None])[0]
        steps = store.step_runs(session, run_id, "recommend")
        lists = {method: read_recommendations(session, step, method) for method, step in steps.items()}
        events = interactions.interactions(session, find_dataset(session, dataset))
    relevant = arrived_positives(events, since, as_of, SplitConfig(name=split).implicit or False)
    result: dict[str, Any] = {
        "from_run": run_id, "from_as_of": since.isoformat(), "to_as_of": as_of.isoformat(), "base": base,
        "users_interacted": len(relevant), "arrivals": sum(len(v) for v in relevant.values()), "methods": {},
    }  # fmt: skip
    ranked = {method: _per_user(frame) for method, frame in lists.items()}
    for method, lists_of in ranked.items():
        result["methods"][method] = score_lists(lists_of, relevant, ranked.get(base) if method != base else None)
    return result


def arrived_positives(events: pl.DataFrame, since: dt.date, until: dt.date, implicit: bool) -> dict[int, set[int]]:
    """user -> items of positive interactions in (since, until] (whole days, UTC) that the user had
    not interacted with on or before `since`."""
    start, end = end_of_day(since), end_of_day(until)
    before = events.filter(pl.col("ts") < start).select("user_id", "item_id").unique()
    window = events.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    window = window.with_columns(pl.lit(1, pl.Int8).alias("label")) if implicit else labelled(window)
    fresh = window.filter(pl.col("label") == 1).join(before, on=["user_id", "item_id"], how="anti")
    grouped = fresh.group_by("user_id").agg(pl.col("item_id").unique())
    return {int(u): set(items) for u, items in zip(grouped["user_id"], grouped["item_id"].to_list(), strict=True)}


def score_lists(
    lists: dict[int, list[int]], relevant: dict[int, set[int]], base: dict[int, list[int]] | None = None
) -> dict[str, Any]:
    """HR/Recall/NDCG@KS of one method's lists over the users with arrivals and a list (and, given
    the base method's lists, a base list too), with the base's on the same users."""
    users = sorted(u for u in relevant if u in lists and (base is None or u in base))
    out: dict[str, Any] = {"users": len(users), "arrivals": sum(len(relevant[u]) for u in users),
                           "users_without_list": sum(1 for u in relevant if u not in lists)}  # fmt: skip
    if not users:
        return out
    truth = [relevant[u] for u in users]
    out.update(_at_ks([lists[u] for u in users], truth))
    if base is not None:
        out["base_on_same_users"] = _at_ks([base[u] for u in users], truth)
    return out


def _at_ks(ranked: list[list[int]], truth: list[set[int]]) -> dict[str, float]:
    out = {}
    for k in KS:
        hr, recall, ndcg = metrics.hit_recall_ndcg_at_k(ranked, truth, k)
        out.update({f"hr@{k}": round(hr, 6), f"recall@{k}": round(recall, 6), f"ndcg@{k}": round(ndcg, 6)})
    return out


def _per_user(frame: pl.DataFrame) -> dict[int, list[int]]:
    ordered = frame.sort("user_id", "rank").group_by("user_id", maintain_order=True).agg("item_id")
    return {int(u): items for u, items in zip(ordered["user_id"], ordered["item_id"].to_list(), strict=True)}


def choose_served(
    ctx: JobContext, dataset: str, as_of: dt.date, *, tonight: dict[str, Any], published: list[str], base: str
) -> dict[str, Any]:
    """The method `serving_recommendations` serves from this refresh on, and why. A setting names
    one (COLREC_SERVE_METHOD); `auto` takes the published method whose prospective NDCG@10 beat the
    base's on the same users by the most, on average over the last SERVE_NIGHTS nights that have
    it, and the base (the first CF method) until some method has that evidence."""
    chosen = ctx.settings.serve_method
    served: dict[str, Any] = {"fallback": base, "setting": chosen}
    if chosen != "auto":
        if chosen in published:
            return {**served, "method": chosen, "why": f"COLREC_SERVE_METHOD={chosen}"}
        return {**served, "method": base,
                "why": f"COLREC_SERVE_METHOD={chosen}, but this refresh publishes no {chosen!r} lists"}  # fmt: skip
    with ctx.transaction() as session:
        earlier = store.recent_refreshes(session, dataset, as_of, None, SERVE_NIGHTS - 1)
    nights = [n for n in [tonight, *(m.get("prospective") or {} for _, _, m in earlier)] if n.get("methods")]
    gains = _mean_gains(nights, [m for m in published if m != base])
    served["evidence"] = {m: {"mean_gain": round(g, 6), "nights": n, "users": u} for m, (g, n, u) in gains.items()}
    best = max(gains, key=lambda m: gains[m][0], default=None)
    if best is None:
        why = f"auto: no prospective evidence yet; serving the first CF method {base}"
        return {**served, "method": base, "why": why}
    gain, count, users = gains[best]
    if gain <= 0:
        return {**served, "method": base,
                "why": f"auto: no method beat {base}'s prospective {SERVE_METRIC} (best: {best}, {gain:+.4f} "
                       f"over {count} night(s))"}  # fmt: skip
    if users < SERVE_MIN_USERS:
        return {**served, "method": base,
                "why": f"auto: {best} leads {base} by {gain:+.4f} over {count} night(s), but on {users} users; "
                       f"it takes {SERVE_MIN_USERS} to switch"}  # fmt: skip
    return {**served, "method": best,
            "why": f"auto: {best}'s prospective {SERVE_METRIC} beat {base}'s on the same users by {gain:+.4f} "
                   f"on average over {count} night(s)"}  # fmt: skip


def _mean_gains(nights: list[dict[str, Any]], candidates: list[str]) -> dict[str, tuple[float, int, int]]:
    """method -> (mean of its NDCG@10 minus the base's on the same users, nights counted, users
    those nights rest on)."""
    gains: dict[str, list[float]] = {}
    users: dict[str, int] = {}
    for night in nights:
        for method in candidates:
            scored = night["methods"].get(method) or {}
            own, base = scored.get(SERVE_METRIC), (scored.get("base_on_same_users") or {}).get(SERVE_METRIC)
            if own is not None and base is not None:
                gains.setdefault(method, []).append(own - base)
                users[method] = users.get(method, 0) + int(scored.get("users", 0))
    return {m: (sum(g) / len(g), len(g), users[m]) for m, g in gains.items()}
