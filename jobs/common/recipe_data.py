"""Training data of the fine-tuning recipes, built from one split's train part: every pair, every
history and every rationale comes from events before the split's cut (and the as-of date)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from colrec.errors import ColrecError
from colrec.llm.engine import Messages
from colrec.llm.prompts import (
    ItemText,
    UserRecord,
    reclm_two_turn,
    tallrec_yes_no,
    twice_item_description,
    twice_next_item,
)
from colrec_store.repositories.embeddings import user_neighbours
from colrec_store.repositories.generated import kept_rationales, split_run, user_profiles
from jobs.common.context import JobContext
from jobs.common.pairs import histories_before
from jobs.common.windows import Window
from jobs.methods.score_prompts import score_prompts

TRAIN = ("train",)


def yesno_prompts(ctx: JobContext, window: Window, pairs: pl.DataFrame, split: str, history_len: int,
                  evidence_run: int | None, params: dict[str, Any]) -> list[Messages]:  # fmt: skip
    """The history-only prompt, or SCORE's P^s from an evidence run made for the train part."""
    if params["prompt"] == "score":
        messages, params["evidence_run"], params["with_evidence"] = score_prompts(
            ctx, window, pairs, split, history_len, evidence_run, {**params, "parts": list(TRAIN)}, TRAIN
        )
        return messages
    return [tallrec_yes_no(h, t) for h, t in histories_before(window, pairs, history_len, TRAIN)]


def next_item_users(sequences: dict[int, list[int]], limit: int | None, seed: int) -> list[int]:
    """The users TWiCE learns a next item from (3+ liked training items), a seeded sample of `limit`:
    the rationale job (`--split`) and the twice recipe pick the same users with the same options."""
    users = sorted(u for u, items in sequences.items() if len(items) >= 3)
    if limit is not None and len(users) > limit:
        users = sorted(pl.Series(users).sample(limit, seed=seed).to_list())
    return users


@dataclass
class TwiceData:
    sft: list[tuple[Messages, str]] = field(default_factory=list)
    rl_prompts: list[Messages] = field(default_factory=list)
    rl_users: list[int] = field(default_factory=list)
    rl_targets: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def twice_data(ctx: JobContext, window: Window, history_len: int, limit: int | None, seed: int) -> TwiceData:
    """Per user with 3+ liked training items: their last liked item is the next item, the earlier
    ones the history. Task 1 describes the items involved (where the store has text about them),
    task 2 names the next item, task 3 reasons first (where `rationale --split` of this split
    kept a rationale)."""
    sequences = window.liked_sequences()
    users = next_item_users(sequences, limit, seed)
    with ctx.transaction() as session:
        rationales = kept_rationales(session, _split_run(session, window, "rationale"))
    data, items, titles = TwiceData(), set(), window.titles
    for user in users:
        *before, target = sequences[user]
        history = [titles[i] for i in before[-history_len:]]
        items.update([*before[-history_len:], target])
        answer = f"<item>{titles[target]}</item>"
        data.sft.append((twice_next_item(history, reasoning=False), answer))
        if (user, target) in rationales:
            reasoned = f"<think>{rationales[user, target]}</think>{answer}"
            data.sft.append((twice_next_item(history, reasoning=True), reasoned))
        data.rl_prompts.append(twice_next_item(history, reasoning=True))
        data.rl_users.append(user)
        data.rl_targets.append(titles[target])
    descriptions = [(twice_item_description(ItemText(titles[i])), text) for i in sorted(items)
                    if (text := _about(window, i))]  # fmt: skip
    data.counts = {"users": len(users), "descriptions": len(descriptions),
                   "reasoning": len(data.sft) - len(users)}  # fmt: skip
    data.sft = descriptions + data.sft
    return data


def _about(window: Window, item: int) -> str:
    """What the store says about an item: its description, else its attributes (e.g. genres)."""
    if item in window.descriptions:
        return window.descriptions[item][:400]
    position = int(window.index.item_index(np.array([item]))[0])
    raw = window.item_attributes[position]
    attributes = json.loads(raw) if raw else {}
    parts = [f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in sorted(attributes.items())]
    return f"{window.titles[item]}. " + "; ".join(parts) if parts else ""


@dataclass
class ReclmData:
    dialogues: list[Messages] = field(default_factory=list)  # two turns, both answered
    turn_one: list[Messages] = field(default_factory=list)  # the profile request alone (reward model, RL)
    chosen: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    preference_prompts: list[Messages] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


def reclm_data(ctx: JobContext, window: Window, train_run: int, history_len: int, limit: int | None, seed: int,
               k: int = 2) -> ReclmData:  # fmt: skip
    """Users with a profile and 2+ liked training items, with their CF neighbours. Turn 1's answer
    is the profiles a profile run of this split wrote (the user's, and the neighbours' it has).
    Turn 2 asks about their last liked item or (half the time) an item they never touched in training.
    Rejected answers: the same block with another user's profile (a neighbour's where profiled) as
    the user's, and the block cut to a third."""
    with ctx.transaction() as session:
        profile_run = _split_run(session, window, "profile")
        profiles = user_profiles(session, profile_run)
    train = window.split.part("train")
    sequences = window.liked_sequences()
    candidates = sorted(u for u, items in sequences.items() if len(items) >= 2 and u in profiles)
    near: dict[int, list[int]] = {}
    if candidates:
        with ctx.transaction() as session:
            near = user_neighbours(session, train_run, sorted(sequences), k)
    users = [u for u in candidates if near.get(u)]
    if limit is not None and len(users) > limit:
        users = sorted(pl.Series(users).sample(limit, seed=seed).to_list())
    touched = {int(u): set(f["item_id"].to_list()) for (u,), f in train.group_by("user_id")}
    all_items, rng, data = sorted(window.titles), np.random.default_rng(seed), ReclmData()
    for n, user in enumerate(users):
        record = _user_record(window, user, sequences[user][:-1][-history_len:])
        others = [_user_record(window, v, sequences.get(v, [])[-history_len:]) for v in near[user]]
        lines = [f"User {user}: {profiles[user]}"] + [f"User {v}: {profiles[v]}" for v in near[user] if v in profiles]
        answer = "\n".join(lines)
        positive = n % 2 == 0
        item = sequences[user][-1] if positive else _unseen(rng, all_items, touched.get(user, set()))
        data.dialogues.append(reclm_two_turn(record, others, ItemText(window.titles[item]), answer,
                                             "Yes" if positive else "No"))  # fmt: skip
        turn_one = reclm_two_turn(record, others, ItemText(window.titles[item]))
        data.turn_one.append(turn_one)
        other = next((v for v in near[user] if v in profiles), users[(n + 1) % len(users)])
        impostor = answer.replace(profiles[user], profiles[other], 1)
        words = answer.split()
        for rejected in (impostor, " ".join(words[: max(1, len(words) // 3)])):
            if rejected != answer:
                data.preference_prompts.append(turn_one)
                data.chosen.append(answer)
                data.rejected.append(rejected)
    data.counts = {"users": len(users), "preference_pairs": len(data.chosen), "profile_run": profile_run}
    return data


def _user_record(window: Window, user: int, items: list[int]) -> UserRecord:
    return UserRecord(str(user), tuple(ItemText(window.titles[i]) for i in items))


def _unseen(rng: np.random.Generator, items: list[int], seen: set[int]) -> int:
    for _ in range(100):
        item = items[int(rng.integers(len(items)))]
        if item not in seen:
            return item
    raise ColrecError("could not find an item the user never interacted with")


def _split_run(session: Any, window: Window, job: str) -> int | None:
    """The newest `job` run made from this very split: one made from all interactions, or another
    split, would carry events after the cut into training."""
    config = window.split.config
    return split_run(session, window.dataset_id, job, config.name, config.seed, config.as_of)
