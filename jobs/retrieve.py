"""`colrec-jobs retrieve --method score`: SCORE's evidence for a split's pairs, as one `evidence` run.

1. Behaviour texts: each user's last liked training items (d(H(u)) of the paper).
2. CAR: the retriever encoder fine-tuned with InfoNCE so that a user lands near its top-Kc
   neighbours of the CF model (SASRec by default); users encoded into pgvector (space `car_user`),
   the top-Ke candidates of a user are a pgvector query. A held-out share of users measures the
   agreement of the retriever with the CF neighbours before and after fine-tuning.
3. Self-assessment: for a sample of users, the LLM says what would help judge them on their last
   training item (P^r, through the LLM cache); the candidates are ranked by cosine with it.
4. SARE: a cross-encoder fine-tuned with InfoNCE on those rankings (top-1 positive, negatives
   sampled after rank K2); it reranks each pair's candidates against P^b and the top-Ks are selected.

Everything (models, vectors, assessments, evidence rows) is written with the run and published
with it in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from colrec.errors import ColrecError
from colrec.llm.catalog import CATALOG, encoder_path
from colrec.llm.encoder import most_similar
from colrec.llm.engine import GenerationParams, resolve_dtype, sha256
from colrec.llm.prompts import score_basic, score_self_assessment
from colrec.retrieval import car, sare
from colrec.retrieval.behaviour import behaviour_text, item_genres, recent_likes
from colrec_store.repositories.embeddings import Space, nearest, user_neighbours, write_embeddings
from colrec_store.repositories.evidence import latest_evidence_run, write_assessments, write_evidence
from colrec_store.repositories.models import latest_model, record_model
from jobs.common.console import progress
from jobs.common.context import JobContext, RunRecord
from jobs.common.pairs import candidate_param, histories_before, pair_targets
from jobs.common.windows import Window, load_window, split_params
from jobs.llm.work import CachedLLM, require_item_text

log = logging.getLogger(__name__)

METHODS = ("score",)
CAR_SPACE = "car_user"
ASSESSMENT = GenerationParams(max_tokens=128)
RERANK_LOG_EVERY = 500


@dataclass(frozen=True)
class RetrieveConfig:
    ke: int = 10  # candidates CAR retrieves per user
    ks: int = 2  # collaborators SARE selects per pair
    behaviour_len: int = 10  # liked items in a behaviour text
    assess_users: int = 200  # users the LLM self-assesses (the paper: 10,000)
    holdout: float = 0.1  # share of users kept out of CAR training to measure it
    cf_model: str = "sasrec"
    car: car.CarConfig = field(default_factory=car.CarConfig)
    sare: sare.SareConfig = field(default_factory=sare.SareConfig)


@dataclass(frozen=True)
class Assessed:
    user: int
    item: int
    query: str  # P^b of the pair: what the reranker scores candidates against
    prompt_hash: str  # of the rendered P^r
    text: str


@dataclass
class Behaviours:
    items: dict[int, list[int]]  # user -> liked training items, oldest first
    texts: dict[int, str]


def run(ctx: JobContext, dataset: str, split: str, *, method: str = "score", parts: tuple[str, ...] = ("test",),
        limit: int | None = None, as_of: dt.date | None = None, seed: int = 0, model: str | None = None,
        config: RetrieveConfig = RetrieveConfig(), cf_run: int | None = None,
        candidates: int = 0, models_run: int | None = None) -> dict[str, Any]:  # fmt: skip
    """`cf_run`: the train run whose user neighbours CAR learns from (a refresh passes the model it
    has just staged); default: the newest published `config.cf_model` model on the split.
    `candidates` N: evidence for each user's rerank list of N in the parts, as `score --candidates`.
    `models_run`: an earlier evidence run of the same split whose CAR and SARE this run uses instead
    of training its own (no self-assessment either): the test part's evidence made by the models
    that made the train part's, which a model tuned on the SCORE prompt learnt from."""
    if method not in METHODS:
        raise ColrecError(f"unknown retrieval method {method!r}; known: {', '.join(METHODS)}")
    window = load_window(ctx, dataset, split, as_of, seed)
    targets = pair_targets(window, parts, limit, seed, candidates)
    likes = recent_likes(window.split.part("train"), config.behaviour_len)
    if len(likes) < 2:
        raise ColrecError(f"split {split!r} of {dataset!r} has {len(likes)} users with liked training items; need 2+")
    genres = item_genres(window.index.items.tolist(), window.item_attributes)
    behaviours = Behaviours(likes, {u: behaviour_text(items, window.titles, genres) for u, items in likes.items()})
    with ctx.transaction() as session:
        _, trained = latest_model(session, window.dataset_id, config.cf_model, split, run_id=cf_run)
    llm = CachedLLM(ctx, model)
    params = {"method": method, **split_params(split, as_of, seed), "parts": list(parts), "limit": limit,
              "cf_run": trained.id, "model": llm.model_name, "retriever": ctx.settings.retriever_model,
              "reranker": ctx.settings.reranker_model, "ke": config.ke, "ks": config.ks,
              "behaviour_len": config.behaviour_len, "assess_users": config.assess_users,
              **candidate_param(candidates), **({"models_run": models_run} if models_run else {})}  # fmt: skip
    try:
        with ctx.transaction() as session:
            reused = _reused_models(session, window.dataset_id, split, models_run, params)
        with ctx.run("evidence", dataset_id=window.dataset_id, params=params, as_of=as_of) as record:
            require_item_text(ctx, window.dataset_id, record)
            _Retrieval(ctx, record, window, behaviours, config, seed, params).build(trained.id, targets, llm, reused)
    finally:
        llm.close()
    return {"run_id": record.id, **record.metrics, "timings": record.timings}


class _Retrieval:
    def __init__(self, ctx: JobContext, record: RunRecord, window: Window, behaviours: Behaviours,
                 config: RetrieveConfig, seed: int, params: dict[str, Any]) -> None:  # fmt: skip
        self.ctx, self.record, self.window, self.behaviours = ctx, record, window, behaviours
        self.config, self.seed, self.params = config, seed, params
        self.out = ctx.settings.models_path / "runs" / str(record.id)
        self.users = sorted(behaviours.texts)

    def build(self, cf_run: int, targets: pl.DataFrame, llm: CachedLLM, reused: Reused | None = None) -> None:
        record = self.record
        with record.timed("cf_neighbours"):
            reference = self._cf_neighbours(cf_run)
        self.held_out = self._held_out()
        assessed: list[Assessed] = []
        if reused is None:
            with record.timed("car"):
                car_path = self._train_car(reference)
                retrieved = self._retrieve(car_path, reference)
            with record.timed("assess"):
                assessed = self._assess(retrieved, llm)
            with record.timed("sare"):
                sare_path = self._train_sare(assessed, retrieved)
        else:  # copied, so that pruning the earlier run leaves this one whole
            car_path, sare_path = (shutil.copytree(path, self.out / kind, dirs_exist_ok=True)
                                   for kind, path in (("car", reused.car), ("sare", reused.sare)))  # fmt: skip
            with record.timed("car"):
                retrieved = self._retrieve(car_path, reference)
        with record.timed("rerank"):
            selected = self._select(sare_path, targets, retrieved)
        with self.ctx.transaction() as session:
            self._write(session, targets, retrieved, selected, assessed, llm.model_name, car_path, sare_path)
            record.finish(session, "published")

    # --- CAR ------------------------------------------------------------------------------
    def _cf_neighbours(self, cf_run: int) -> dict[int, list[int]]:
        """Each user's nearest users in the CF model's user space, among users with a behaviour text."""
        with self.ctx.transaction() as session:
            return user_neighbours(session, cf_run, self.users, max(10, self.config.car.kc))

    def _held_out(self) -> list[int]:
        """The seeded share of users CAR does not train on, on whom its agreement is measured."""
        rng = np.random.default_rng(self.seed)
        size = max(1, int(len(self.users) * self.config.holdout))
        return sorted(rng.choice(self.users, size=size, replace=False).tolist())

    def _train_car(self, reference: dict[int, list[int]]) -> Path:
        held = set(self.held_out)
        training_texts = {u: t for u, t in self.behaviours.texts.items() if u not in held}
        examples = car.car_examples(training_texts, reference, sorted(training_texts), self.config.car.kc)
        base = encoder_path(self.ctx.settings.models_path, self.ctx.settings.retriever_model)
        self.base_vectors = self._encode_users(car.load_encoder(base))
        before = self._agreement(self.base_vectors, reference)
        path = self.out / "car"
        self.record.metrics.update(
            car.train_car(base, examples, self.config.car, path), car_examples=len(examples.users)
        )
        self.record.metrics.update({f"car_before_{k}@10": round(v, 4) for k, v in before.items()})
        self.car_base = base
        return path

    def _encode_users(self, encoder: Any) -> np.ndarray:
        """Every user's behaviour text, in `self.users` order."""
        return car.encode(encoder, [self.behaviours.texts[u] for u in self.users])

    def _agreement(self, vectors: np.ndarray, reference: dict[int, list[int]]) -> dict[str, float]:
        """Exact top-10 of the held-out users among all users, against their CF top-10."""
        position = {u: k for k, u in enumerate(self.users)}
        queries = vectors[[position[u] for u in self.held_out]]
        top = most_similar(queries, vectors, 11)
        found = {
            u: [self.users[j] for j in row if self.users[j] != u][:10]
            for u, row in zip(self.held_out, top, strict=True)
        }
        return car.neighbour_overlap(found, {u: reference.get(u, []) for u in self.held_out}, 10)

    def _retrieve(self, car_path: Path, reference: dict[int, list[int]]) -> dict[int, list[tuple[int, float]]]:
        """Every user encoded by CAR into pgvector; each user's top-Ke others by a pgvector query."""
        vectors = self._encode_users(car.load_encoder(car_path))  # one encoding serves the metric and pgvector
        after = self._agreement(vectors, reference)
        self.record.metrics.update({f"car_after_{k}@10": round(v, 4) for k, v in after.items()})
        space = Space(self.record.id, CAR_SPACE, vectors.shape[1])
        with self.ctx.transaction() as session:
            write_embeddings(session, self.window.dataset_id, space, np.array(self.users), vectors)
        with self.ctx.transaction() as session:
            rows = nearest(session, space, self.config.ke)
        out: dict[int, list[tuple[int, float]]] = {}
        for user, _, neighbour, distance in rows:
            out.setdefault(user, []).append((neighbour, 1.0 - distance))
        return out

    # --- self-assessment and SARE ------------------------------------------------------------
    def _assess(self, retrieved: dict[int, list[tuple[int, float]]], llm: CachedLLM) -> list[Assessed]:
        """A seeded sample of users, each assessed on their last training event (liked or not),
        from the liked items before it."""
        train = self.window.split.part("train").sort("ts", "interaction_id")
        last = train.group_by("user_id", maintain_order=True).last()
        last = last.filter(pl.col("user_id").is_in([u for u in self.users if len(retrieved.get(u, [])) > 0]))
        if last.height > self.config.assess_users:
            last = last.sample(self.config.assess_users, seed=self.seed)
        histories = histories_before(self.window, last, self.config.behaviour_len)
        prompts = [llm.render(score_self_assessment(h.liked, t)) for h, t in histories]
        texts = llm.generate(prompts, ASSESSMENT, self.record)
        return [
            Assessed(user, item, score_basic(h.liked, t)[-1]["content"], sha256(prompt), text)
            for user, item, (h, t), prompt, text in zip(
                last["user_id"].to_list(), last["item_id"].to_list(), histories, prompts, texts, strict=True
            )
        ]

    def _train_sare(self, assessed: list[Assessed], retrieved: dict[int, list[tuple[int, float]]]) -> Path:
        embedder = car.load_encoder(self.car_base)  # fixed TxtEmb of eq. 8: the encoder before CAR tuning
        assessments = car.encode(embedder, [a.text for a in assessed])
        position = {u: k for k, u in enumerate(self.users)}
        queries, rankings = [], []
        for one, vector in zip(assessed, assessments, strict=True):
            others = [c for c, _ in retrieved[one.user]]
            candidates = [self.behaviours.texts[c] for c in others]
            # The base encoder's vectors of every user were made for the "before" metric: reuse them.
            order = sare.assessment_order(vector, self.base_vectors[[position[c] for c in others]])
            queries.append(one.query)
            rankings.append([candidates[k] for k in order])
        examples = sare.sare_examples(queries, rankings, self.config.sare)
        base = encoder_path(self.ctx.settings.models_path, self.ctx.settings.reranker_model)
        path = self.out / "sare"
        self.record.metrics.update(sare.train_sare(base, examples, self.config.sare, path),
                                   sare_examples=len(examples.queries), assessed_users=len(assessed))  # fmt: skip
        return path

    def _select(self, sare_path: Path, targets: pl.DataFrame,
                retrieved: dict[int, list[tuple[int, float]]]) -> list[list[tuple[int, float]]]:  # fmt: skip
        """Per pair: the top-Ks of its user's candidates by SARE against the pair's P^b."""
        reranker = sare.load_reranker(sare_path, self.config.sare.max_length)
        histories = histories_before(self.window, targets, self.config.behaviour_len)
        dtype = resolve_dtype(self.ctx.settings.llm_dtype)
        out: list[list[tuple[int, float]]] = []
        begun = time.monotonic()
        with sare.inference_dtype(dtype), progress() as bar:
            shown = bar.add_task("SARE rerank", total=targets.height)
            for user, (history, target) in zip(targets["user_id"].to_list(), histories, strict=True):
                others = [c for c, _ in retrieved.get(user, [])]
                scores = sare.rerank_scores(reranker, score_basic(history.liked, target)[-1]["content"],
                                            [self.behaviours.texts[c] for c in others])  # fmt: skip
                best = np.argsort(-scores, kind="stable")[: self.config.ks]
                out.append([(others[k], float(scores[k])) for k in best])
                bar.advance(shown)
                if len(out) % RERANK_LOG_EVERY == 0:  # cron logs have no bar: a line now and then
                    _log_rerank(len(out), targets.height, time.monotonic() - begun)
        self.record.metrics.update(pairs=targets.height, pairs_with_evidence=sum(1 for s in out if s),
                                   rerank_dtype=dtype)  # fmt: skip
        return out

    # --- publish ----------------------------------------------------------------------------
    def _write(self, session: Any, targets: pl.DataFrame, retrieved: dict[int, list[tuple[int, float]]],
               selected: list[list[tuple[int, float]]], assessed: list[Assessed], model: str,
               car_path: Path, sare_path: Path) -> None:  # fmt: skip
        run_id, dataset_id = self.record.id, self.window.dataset_id
        users, items = targets["user_id"].to_list(), targets["item_id"].to_list()
        rows = []
        for user in sorted(set(users)):
            rows += self._rows(user, None, "retrieved", retrieved.get(user, []))
        for user, item, chosen in zip(users, items, selected, strict=True):
            rows += self._rows(user, item, "selected", chosen)
        self.record.metrics["evidence_rows"] = write_evidence(session, rows)
        write_assessments(session, [
            {"run_id": run_id, "dataset_id": dataset_id, "user_id": a.user, "item_id": a.item, "text": a.text,
             "model": model, "adapter": None, "prompt_hash": a.prompt_hash} for a in assessed
        ])  # fmt: skip
        params = self.params
        for kind, path, base, config in (
            ("car", car_path, params["retriever"], self.config.car.as_dict()),
            ("sare", sare_path, params["reranker"], self.config.sare.as_dict()),
        ):
            metrics = {k: v for k, v in self.record.metrics.items() if k.startswith(kind)}
            config = {**params, **config, "base": base, "note": _head_note(kind, base)}
            record_model(session, run_id=run_id, dataset_id=dataset_id, kind=kind, name=f"{kind}-{base}",
                         path=str(path), config=config, metrics=metrics)  # fmt: skip

    def _rows(self, user: int, item: int | None, stage: str, ranked: list[tuple[int, float]]) -> list[dict[str, Any]]:
        """Evidence rows of one user (stage retrieved) or pair (stage selected); the payload keeps the
        collaborator's behaviour items, so a row shows what the LLM was given."""
        return [
            {"run_id": self.record.id, "dataset_id": self.window.dataset_id, "method": "score", "user_id": user,
             "item_id": item, "stage": stage, "rank": rank, "entity_kind": "user", "entity_id": other,
             "score": score, "payload": {"items": self.behaviours.items[other]}}
            for rank, (other, score) in enumerate(ranked, 1)
        ]  # fmt: skip


@dataclass(frozen=True)
class Reused:
    car: Path
    sare: Path


# The params under which an earlier run's CAR and SARE are the ones this run would train.
SAME_MODELS = ("split", "as_of", "seed", "cf_run", "retriever", "reranker", "ke", "behaviour_len")


def _reused_models(session: Any, dataset_id: int, split: str, models_run: int | None,
                   params: dict[str, Any]) -> Reused | None:  # fmt: skip
    """The CAR and SARE folders of `models_run`, checked to be what a run of `params` would train."""
    if models_run is None:
        return None
    earlier = latest_evidence_run(session, dataset_id, "score", split, models_run)
    if earlier.status != "published":
        raise ColrecError(f"--models-run {models_run}: that evidence run is {earlier.status}, not published")
    differs = [f"{k} {earlier.params.get(k)!r} (here {params.get(k)!r})" for k in SAME_MODELS
               if earlier.params.get(k) != params.get(k)]  # fmt: skip
    if differs:
        raise ColrecError(f"--models-run {models_run} was made with another {'; '.join(differs)}")
    paths = {
        kind: Path(latest_model(session, dataset_id, kind, run_id=models_run)[0].path or "") for kind in ("car", "sare")
    }
    missing = [str(p) for p in paths.values() if not p.is_dir()]
    if missing:
        raise ColrecError(f"--models-run {models_run}: its model folder {missing[0]} is gone (pruned?)")
    return Reused(car=paths["car"], sare=paths["sare"])


def _log_rerank(done: int, total: int, seconds: float) -> None:
    left = (total - done) * seconds / done
    log.info("SARE rerank: %d of %d pairs (%.2f s a pair, %.0f min left)", done, total, seconds / done, left / 60)


def _head_note(kind: str, base: str) -> str:
    if kind == "sare" and CATALOG.get(base) is not None and CATALOG[base].kind != "reranker":
        return f"no pretrained cross-encoder offline: a new, randomly initialised scoring head on {base}'s weights"
    return ""
