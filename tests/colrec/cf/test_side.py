"""Profile fusion (RecLM): side vectors through an MLP into MF and LightGCN, zero-shot items scored
from their side vector alone, determinism, and save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from colrec.cf import registry
from colrec.cf.base import Interactions, Recommender
from colrec.cf.registry import build
from colrec.cf.side import SideFeatures, SidePath
from colrec.metrics import auc
from tests.colrec.cf.test_contract import HALF_I, HALF_U, N_ITEMS, N_USERS, community, data  # noqa: F401

COLD = np.array([12, 13, 14, 27, 28, 29])  # items no one interacts with in training


def side_vectors(noise: float = 0.3, seed: int = 0) -> np.ndarray:
    """A profile that carries the item's community: 8 dims, the community's direction plus noise."""
    rng = np.random.default_rng(seed)
    direction = np.eye(8)[community(np.arange(N_ITEMS), HALF_I)]
    return (direction + noise * rng.normal(size=(N_ITEMS, 8))).astype(np.float32)


def zero_shot(events: Interactions) -> tuple[Interactions, Interactions]:
    keep = ~np.isin(events.items, COLD)
    train = Interactions(events.users[keep], events.items[keep], events.labels[keep], events.ts[keep])
    users = np.repeat(np.arange(N_USERS), COLD.size)
    items = np.tile(COLD, N_USERS)
    labels = (community(users, HALF_U) == community(items, HALF_I)).astype(np.float32)
    return train, Interactions(users, items, labels, np.full(users.size, 2_000_000))


def trained(name: str, train: Interactions, side: SideFeatures | None, seed: int = 0) -> Recommender:
    model = build(name, N_USERS, N_ITEMS, epochs=40, dim=16, lr=0.02, batch_size=64, seed=seed, side_hidden=16)
    if side is not None:
        model.set_side_features(side)
    model.fit(train)
    return model


def test_side_path_shapes_and_masks() -> None:
    features = np.zeros((5, 8), np.float32)
    features[:3] = 1.0  # entities 3 and 4 have no side vector
    path = SidePath(features, dim=4, hidden=6)
    path.mark_trained(np.array([0, 3]))
    ids = torch.arange(5)
    id_vectors = torch.ones(5, 4)
    out = path(ids, id_vectors)
    assert out.shape == (5, 4) and path.fuse_all(id_vectors).shape == (5, 4)
    assert torch.allclose(out, path.fuse_all(id_vectors))
    assert torch.equal(out[4], torch.zeros(4))  # untrained and no side vector: nothing to say about it
    assert torch.equal(out[3], torch.ones(4))  # trained, no side vector: its ID embedding alone


def test_repeated_ids_map_like_distinct_ones_and_the_bpr_margin_is_the_score_difference() -> None:
    rng = np.random.default_rng(1)
    path = SidePath(rng.normal(size=(6, 8)).astype(np.float32), dim=4, hidden=6).eval()
    ids = torch.tensor([5, 1, 5, 5, 0, 1])
    assert torch.allclose(path(ids, torch.zeros(6, 4)), path.fuse_all(torch.zeros(6, 4))[ids], atol=1e-6)
    model = build("mf", N_USERS, N_ITEMS, dim=8, side_hidden=6)
    model.set_side_features(SideFeatures(items=side_vectors(), users=rng.normal(size=(N_USERS, 8)).astype(np.float32)))
    module = model.module.eval()  # type: ignore[attr-defined]
    users, positives, negatives = (torch.from_numpy(rng.integers(0, n, 50)) for n in (N_USERS, N_ITEMS, N_ITEMS))
    with torch.no_grad():
        margin = module.bpr_margin(users, positives, negatives)
        expected = module(users, positives) - module(users, negatives)
    assert torch.allclose(margin, expected, atol=1e-5) and margin.abs().max() > 0


@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_a_zero_shot_item_is_scored_from_its_side_vector_alone(name: str, data: dict) -> None:  # noqa: F811
    train, test = zero_shot(data["implicit"])
    fused = trained(name, train, SideFeatures(items=side_vectors()))
    base = trained(name, train, None)
    fused_auc = auc(test.labels, fused.score(test.users, test.items))
    base_auc = auc(test.labels, base.score(test.users, test.items))
    assert fused_auc >= 0.85 and fused_auc > base_auc + 0.2, (fused_auc, base_auc)
    assert fused.user_embeddings().shape == (N_USERS, 16) and fused.item_embeddings().shape == (N_ITEMS, 16)

    before = fused.score(test.users, test.items)
    with torch.no_grad():
        table = fused.module.item.weight if name == "mf" else fused.module.embedding.weight  # type: ignore[attr-defined]
        offset = 0 if name == "mf" else N_USERS
        table[COLD + offset] += 5.0  # a cold item's ID embedding never reaches its score
    if name == "lightgcn":
        fused._final = None  # type: ignore[attr-defined]
    assert np.allclose(fused.score(test.users, test.items), before)


def test_training_with_side_features_is_deterministic_and_round_trips(data: dict, tmp_path: Path) -> None:  # noqa: F811
    train, test = zero_shot(data["implicit"])
    users = np.random.default_rng(1).normal(size=(N_USERS, 4)).astype(np.float32)
    side = SideFeatures(users=users, items=side_vectors())
    a, b = trained("mf", train, side, seed=3), trained("mf", train, side, seed=3)
    assert np.array_equal(a.score(test.users, test.items), b.score(test.users, test.items))
    a.save(tmp_path / "mf.pt")
    loaded = registry.load(tmp_path / "mf.pt")
    assert np.array_equal(loaded.score(test.users, test.items), a.score(test.users, test.items))
    assert np.array_equal(loaded.score_all(np.arange(4)), a.score_all(np.arange(4)))


def test_models_without_the_path_refuse_side_features_and_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="sasrec models take no side features"):
        build("sasrec", N_USERS, N_ITEMS).set_side_features(SideFeatures(items=side_vectors()))
    with pytest.raises(ValueError, match="item side vectors: 29 rows for 30 items"):
        build("mf", N_USERS, N_ITEMS).set_side_features(SideFeatures(items=side_vectors()[:-1]))
