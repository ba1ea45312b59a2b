"""The contract every collaborative model passes, on a synthetic matrix whose right answer is known.

Two communities: users 0..19 interact only with items 0..14, users 20..39 only with items 15..29.
Held out per user: in-community items it never saw (positives) and other-community items
(negatives). A model that learned anything ranks the first above the second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from colrec.cf import registry
from colrec.cf.base import Interactions, Recommender
from colrec.cf.deepfm import DeepFM
from colrec.cf.registry import build
from colrec.cf.sasrec import SASRec
from colrec.metrics import auc

N_USERS, N_ITEMS, HALF_U, HALF_I = 40, 30, 20, 15


def community(index: np.ndarray, half: int) -> np.ndarray:
    return (np.asarray(index) >= half).astype(int)


@pytest.fixture(scope="module")
def data() -> dict[str, Interactions]:
    rng = np.random.default_rng(0)
    train, held_u, held_i, held_y = [], [], [], []
    for user in range(N_USERS):
        own = np.arange(HALF_I) + HALF_I * community(np.array([user]), HALF_U)[0]
        other = np.setdiff1d(np.arange(N_ITEMS), own)
        seen = rng.choice(own, size=10, replace=False)
        negatives = rng.choice(other, size=4, replace=False)  # explicit negatives (CTR)
        times = 1_000_000 + user * 100 + rng.permutation(14)  # interleaved: no order shortcut
        for t, item in zip(times[:10], seen, strict=True):
            train.append((user, item, 1.0, t))
        for t, item in zip(times[10:], negatives, strict=True):
            train.append((user, item, 0.0, t))
        unseen = np.setdiff1d(own, seen)
        held_u += [user] * (unseen.size + 3)
        held_i += list(unseen) + list(rng.choice(other, size=3, replace=False))
        held_y += [1.0] * unseen.size + [0.0] * 3
    users, items, labels, ts = (np.array(c) for c in zip(*train, strict=True))
    test = Interactions(np.array(held_u), np.array(held_i), np.array(held_y), np.full(len(held_u), 2_000_000))
    ctr = Interactions(users, items, labels, ts)
    return {"ctr": ctr, "implicit": ctr.positives(), "test": test}


CASES = [
    ("mf", "implicit"),
    ("mf", "ctr"),
    ("lightgcn", "implicit"),
    ("lightgcn", "ctr"),
    ("sasrec", "implicit"),
    ("sasrec", "ctr"),
    ("deepfm", "ctr"),
    ("deepfm", "implicit"),
]
EPOCHS = {"mf": 60, "lightgcn": 60, "sasrec": 30, "deepfm": 60}


def fitted(name: str, train: Interactions, seed: int = 0) -> Recommender:
    model = build(
        name,
        N_USERS,
        N_ITEMS,
        epochs=EPOCHS[name],
        seed=seed,
        dim=16,
        lr=0.02 if name != "sasrec" else 0.005,
        batch_size=64,
    )
    if isinstance(model, DeepFM):
        model.set_item_tokens((community(np.arange(N_ITEMS), HALF_I) + 1).reshape(-1, 1))
    model.fit(train)
    return model


@pytest.fixture(scope="module")
def models(data: dict[str, Interactions]) -> dict[tuple[str, str], Recommender]:
    return {(name, mode): fitted(name, data[mode]) for name, mode in CASES}


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_learns_the_communities(
    models: dict[tuple[str, str], Recommender], data: dict[str, Interactions], name: str, mode: str
) -> None:
    test = data["test"]
    scores = models[name, mode].score(test.users, test.items, test.ts)
    assert auc(test.labels, scores) > 0.9


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_recommend_excludes_seen_and_stays_in_community(
    models: dict[tuple[str, str], Recommender], data: dict[str, Interactions], name: str, mode: str
) -> None:
    train = data["implicit"]
    seen = {u: train.items[train.users == u] for u in range(N_USERS)}
    users = np.arange(N_USERS)
    lists, list_scores = models[name, mode].recommend(users, 3, exclude=seen)
    top, scores = np.stack(lists), np.stack(list_scores)
    assert top.shape == scores.shape == (N_USERS, 3)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    for user, row in zip(users, top, strict=True):
        assert not set(row) & set(seen[user])
    in_community = community(top, HALF_I) == community(users, HALF_U)[:, None]
    assert in_community.mean() > 0.9


def test_a_user_with_fewer_items_left_than_k_gets_a_shorter_list(models: dict[tuple[str, str], Recommender]) -> None:
    model = models[CASES[0]]
    n_items = model.n_items
    almost_all = {0: np.arange(n_items - 2), 1: np.arange(n_items)}  # 2 items left, then none
    lists, scores = model.recommend(np.array([0, 1, 2]), 5, exclude=almost_all)
    assert sorted(lists[0].tolist()) == [n_items - 2, n_items - 1] and np.isfinite(scores[0]).all()
    assert lists[1].size == 0 and scores[1].size == 0
    assert lists[2].size == 5


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_embeddings_and_save_load_round_trip(
    models: dict[tuple[str, str], Recommender], data: dict[str, Interactions], name: str, mode: str, tmp_path: Path
) -> None:
    model = models[name, mode]
    users, items = model.user_embeddings(), model.item_embeddings()
    assert users.shape[0] == N_USERS and items.shape[0] == N_ITEMS and users.shape[1] == items.shape[1]
    assert np.isfinite(users).all() and np.isfinite(items).all()
    model.save(tmp_path / "m.pt")
    again = registry.load(tmp_path / "m.pt")
    test = data["test"]
    np.testing.assert_allclose(
        again.score(test.users, test.items, test.ts), model.score(test.users, test.items, test.ts), rtol=1e-5, atol=1e-6
    )
    assert again.config == model.config


@pytest.mark.parametrize("name", ["mf", "lightgcn", "sasrec", "deepfm"])
def test_deterministic_under_a_seed(data: dict[str, Interactions], name: str) -> None:
    test = data["test"]
    first = fitted(name, data["ctr"], seed=3).score(test.users, test.items, test.ts)
    second = fitted(name, data["ctr"], seed=3).score(test.users, test.items, test.ts)
    np.testing.assert_array_equal(first, second)


def test_sasrec_uses_only_history_before_each_event() -> None:
    model = SASRec(SASRec.config_class(max_len=3), n_users=1, n_items=5)
    model.extend_history(
        Interactions(np.zeros(4), np.array([0, 1, 2, 3]), np.array([1, 1, 0, 1]), np.array([10, 20, 30, 40]))
    )
    rows = model.histories(np.zeros(3, dtype=np.int64), np.array([10, 35, 41])).numpy()
    # ids are +1; newest on the right; the label-0 event (item 2) is not history
    assert rows.tolist() == [[0, 0, 0], [0, 1, 2], [1, 2, 4]]


def test_sasrec_history_holds_each_event_once() -> None:
    model = SASRec(SASRec.config_class(max_len=4), n_users=1, n_items=5)
    events = Interactions(np.zeros(3), np.array([0, 1, 2]), np.ones(3), np.array([10, 20, 30]))
    model.extend_history(events)
    model.extend_history(events)  # the same rows again: nothing new
    assert model.history().items.tolist() == [0, 1, 2]
    assert model.histories(np.zeros(1, dtype=np.int64), np.array([99])).numpy().tolist() == [[0, 1, 2, 3]]


def test_early_stopping_keeps_the_best_epoch(data: dict[str, Interactions]) -> None:
    model = build("mf", N_USERS, N_ITEMS, epochs=40, patience=2, dim=16, lr=0.05, batch_size=64)
    report = model.fit(data["ctr"], data["test"])
    history = [h["valid_auc"] for h in report["history"]]
    assert report["best_epoch"] == int(np.argmax(history))
    assert report["epochs_run"] <= 40
    test = data["test"]
    assert auc(test.labels, model.score(test.users, test.items)) == pytest.approx(max(history))


@pytest.mark.parametrize("mode", ["implicit", "ctr"])
def test_mf_with_sparse_updates_learns_the_communities(data: dict[str, Interactions], mode: str) -> None:
    model = build("mf", N_USERS, N_ITEMS, epochs=EPOCHS["mf"], dim=16, lr=0.02, batch_size=64, sparse=True)
    model.fit(data[mode])
    assert model.module.user.weight.grad is None or model.module.user.weight.grad.is_sparse
    test = data["test"]
    assert auc(test.labels, model.score(test.users, test.items, test.ts)) > 0.9


def test_mf_sparse_updates_refuse_weight_decay() -> None:
    from colrec.errors import ColrecError

    with pytest.raises(ColrecError, match="no weight decay"):
        build("mf", N_USERS, N_ITEMS, sparse=True, weight_decay=0.01)
