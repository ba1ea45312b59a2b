"""CoRAL's world over the store, shared by `coral train-policy` (jobs.coral) and `score --method
coral|coral-random|coral-none`: the CF space, the ratings that become evidence, the prompt, and the
evidence rows a score run stores."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from colrec.cf import registry
from colrec.cf.data import IdIndex
from colrec.coral.env import EntitySpace, Episode, Pair
from colrec.coral.evidence import ItemEvidence, Ratings
from colrec.coral.policy import PolicyConfig, load_policy, retrieve
from colrec.errors import ColrecError
from colrec.llm.engine import Messages
from colrec.llm.prompts import CoralEvidence, History, coral
from colrec_store.repositories.models import latest_model
from jobs.common.context import JobContext, RunRecord
from jobs.common.pairs import histories_before
from jobs.common.windows import Window
from jobs.llm.work import CachedLLM

log = logging.getLogger(__name__)

POLICY_KIND = "coral-policy"
INITS = ("cf", "random")
RETRIEVALS = ("pairs", "entities")  # nearest rated pair, or nearest user and item apart (colrec.coral.env)


@dataclass
class CoralWorld:
    """A split's pairs, histories and training ratings in the rows of one entity space."""

    window: Window
    cf_run: int  # the train run whose model gave the space
    space: EntitySpace
    index: IdIndex  # store ids of the space's rows
    ratings: Ratings
    history_len: int
    histories: dict[tuple[int, int], History]

    def pairs(self, frame: pl.DataFrame) -> list[Pair]:
        """Pairs in entity rows; their histories (train part, strictly before the event) are kept."""
        users = self.index.user_index(frame["user_id"].to_numpy())
        items = self.index.item_index(frame["item_id"].to_numpy())
        found = histories_before(self.window, frame, self.history_len, ("train",))
        for u, i, (history, _) in zip(users, items, found, strict=True):
            self.histories[(int(u), int(i))] = history
        return [Pair(int(u), int(i), int(y)) for u, i, y in zip(users, items, frame["label"].to_list(), strict=True)]

    def prompt(self, episode: Episode, found: list[ItemEvidence]) -> Messages:
        """`found`: `self.ratings.evidence(episode)`, which the caller may need as well."""
        titles, pair = self.window.titles, episode.pair
        evidence = [
            CoralEvidence(titles.get(int(self.index.items[e.item]), ""), [self._user(u) for u in e.liked_by],
                          [self._user(u) for u in e.disliked_by])
            for e in found
        ]  # fmt: skip
        target = titles.get(int(self.index.items[pair.item]), "")
        return coral(self._user(pair.user), target, evidence, self.histories[(pair.user, pair.item)])

    def _user(self, row: int) -> str:
        return f"user {int(self.index.users[row])}"


def world(ctx: JobContext, window: Window, split: str, cf_model: str, cf_run: int | None, init: str, seed: int,
          history_len: int, retrieval: str = "pairs") -> CoralWorld:  # fmt: skip
    """The space of the given CF train run, else of the newest published one on the split."""
    if init not in INITS:
        raise ColrecError(f"unknown policy init {init!r}; known: {', '.join(INITS)}")
    if retrieval not in RETRIEVALS:
        raise ColrecError(f"unknown retrieval {retrieval!r}; known: {', '.join(RETRIEVALS)}")
    with ctx.transaction() as session:
        artifact, trained = latest_model(session, window.dataset_id, cf_model, split, run_id=cf_run)
    model = registry.load(Path(artifact.path or ""))
    if model.user_ids is None or model.item_ids is None:
        raise ColrecError(f"the model of run {trained.id} carries no store ids: retrain it with this version")
    index = IdIndex(np.asarray(model.user_ids), np.asarray(model.item_ids))
    users, items = model.user_embeddings(), model.item_embeddings()
    if init == "random":  # the paper's ablation: embeddings from N(0, I), no CF knowledge
        rng = np.random.default_rng(seed)
        users, items = rng.normal(size=users.shape), rng.normal(size=items.shape)
    train = window.split.part("train")
    rated = index.user_index(train["user_id"].to_numpy()), index.item_index(train["item_id"].to_numpy())
    ratings = Ratings(*rated, train["label"].to_numpy())
    space = EntitySpace(users, items, rated if retrieval == "pairs" else None)
    return CoralWorld(window, trained.id, space, index, ratings, history_len, {})


def training_pairs(window: Window, limit: int | None, seed: int) -> pl.DataFrame:
    train = window.split.part("train")
    if "head" in train.columns:
        train = train.filter(~pl.col("head"))
    train = train.unique(["user_id", "item_id"], keep="last", maintain_order=True)
    if limit is not None and train.height > limit:
        train = train.sample(limit, seed=seed)
    if train.height == 0:
        raise ColrecError("the split has no long-tail training pairs to train the retrieval policy on")
    return train


def judge_with(data: CoralWorld, llm: CachedLLM, record: RunRecord) -> Any:
    def judge(episodes: Sequence[Episode]) -> np.ndarray:
        return llm.score_yes_no([llm.render(data.prompt(e, data.ratings.evidence(e))) for e in episodes], record)

    return judge


@dataclass
class CoralPrompts:
    messages: list[Messages]
    evidence: list[dict[str, Any]]  # evidence rows without run_id
    params: dict[str, Any]


def score_prompts(ctx: JobContext, window: Window, targets: pl.DataFrame, method: str, split: str,
                  history_len: int, seed: int, policy_run: int | None) -> CoralPrompts:  # fmt: skip
    """The CoRAL prompt for each pair, with the evidence its method retrieves."""
    params: dict[str, Any] = {}
    policy, steps, max_steps, cf_model, cf_run, init, retrieval = None, 0, 10, "deepfm", None, "cf", "pairs"
    space_seed = seed
    if method == "coral":
        try:
            with ctx.transaction() as session:
                artifact, trained = latest_model(session, window.dataset_id, POLICY_KIND, split, run_id=policy_run)
        except ColrecError:
            found = f"no CoRAL policy on split {split!r}"
            raise ColrecError(f"{found}: run `colrec-jobs coral train-policy` first") from None
        policy = load_policy(Path(artifact.path or ""))
        steps, max_steps = artifact.config["eval_steps"], artifact.config["max_steps"]
        cf_model, cf_run, init = artifact.config["cf_model"], artifact.config["cf_run"], artifact.config["init"]
        # the space the policy was trained in: --init random draws it from the training run's seed
        retrieval, space_seed = artifact.config["retrieval"], artifact.config["seed"]
        params["policy_run"] = trained.id
    elif method == "coral-random":
        steps = PolicyConfig().eval_steps
    data = world(ctx, window, split, cf_model, cf_run, init, space_seed, history_len, retrieval)
    params.update(cf_model=cf_model, cf_run=data.cf_run, retrieval=retrieval, retrieval_steps=steps)
    built = CoralPrompts([], [], params)
    for episode in retrieve(policy, data.space, data.pairs(targets), steps, max_steps, seed):
        evidence = data.ratings.evidence(episode)
        built.messages.append(data.prompt(episode, evidence))
        built.evidence += _evidence_rows(data, episode, evidence, method)
    return built


def _evidence_rows(data: CoralWorld, episode: Episode, found: list[ItemEvidence],
                   method: str) -> list[dict[str, Any]]:  # fmt: skip
    """One row per retrieved user and item, in retrieval order; an item's payload says which of the
    retrieved users liked and disliked it (what the prompt showed)."""
    users, items = data.index.users, data.index.items
    shown = {e.item: e for e in found}
    base = {"dataset_id": data.window.dataset_id, "method": method, "stage": "retrieved", "score": None,
            "user_id": int(users[episode.pair.user]), "item_id": int(items[episode.pair.item])}  # fmt: skip
    out = []
    for rank, (u, i) in enumerate(zip(episode.users, episode.items, strict=True), 1):
        out.append({**base, "rank": rank, "entity_kind": "user", "entity_id": int(users[u]), "payload": {}})
        item = shown.get(i)
        payload = ({"liked_by": [int(users[x]) for x in item.liked_by],
                    "disliked_by": [int(users[x]) for x in item.disliked_by]} if item else {})  # fmt: skip
        out.append({**base, "rank": rank, "entity_kind": "item", "entity_id": int(items[i]), "payload": payload})
    return out
