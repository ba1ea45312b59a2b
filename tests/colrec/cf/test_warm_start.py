"""Warm starts: a model starts from a previous one's weights, row by row through the store ids, so a
nightly refresh trains a few epochs instead of from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colrec.cf.base import Interactions, Recommender
from colrec.cf.data import previous_rows
from colrec.cf.registry import build, model_class
from colrec.metrics import auc
from tests.colrec.cf.test_contract import N_ITEMS, N_USERS, data, fitted  # noqa: F401 (fixture)

WARM = ("mf", "lightgcn", "sasrec")


def tables(model: Recommender) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(user rows, item rows) of the model's own entity tables, items in index order."""
    m = model.module  # type: ignore[attr-defined]
    if model.name == "mf":
        return m.user.weight.detach().clone(), m.item.weight.detach().clone()
    if model.name == "lightgcn":
        weight = m.embedding.weight.detach().clone()
        return weight[: model.n_users], weight[model.n_users :]
    return torch.zeros(model.n_users, 1), m.item.weight.detach().clone()[1 : model.n_items + 1]


def test_previous_rows_maps_ids_and_marks_new_ones() -> None:
    assert previous_rows(np.array([10, 20, 30]), np.array([20, 25, 30, 40])).tolist() == [1, -1, 2, -1]
    assert previous_rows(np.array([], np.int64), np.array([1, 2])).tolist() == [-1, -1]


@pytest.mark.parametrize("name", WARM)
def test_known_rows_are_copied_and_new_ones_keep_their_initialisation(name: str, data: dict) -> None:  # noqa: F811
    previous = fitted(name, data["implicit"])
    previous.user_ids, previous.item_ids = np.arange(N_USERS) * 10, np.arange(N_ITEMS) * 10
    # tonight: user 0 and item 0 are gone, one new user and one new item at the end
    user_ids, item_ids = np.append(previous.user_ids[1:], 10_000), np.append(previous.item_ids[1:], 10_000)
    model = build(name, N_USERS, N_ITEMS, dim=16, seed=1)
    fresh_users, fresh_items = tables(model)
    users, items = previous_rows(previous.user_ids, user_ids), previous_rows(previous.item_ids, item_ids)
    model.warm_start(previous, users, items)

    old_users, old_items = tables(previous)
    new_users, new_items = tables(model)
    assert torch.equal(new_items[:-1], old_items[1:]) and torch.equal(new_items[-1], fresh_items[-1])
    if name != "sasrec":
        assert torch.equal(new_users[:-1], old_users[1:]) and torch.equal(new_users[-1], fresh_users[-1])
    else:  # the transformer's own weights are shared by every user
        assert torch.equal(model.module.position.weight, previous.module.position.weight)  # type: ignore[attr-defined]


def test_a_warm_start_needs_far_fewer_epochs(data: dict) -> None:  # noqa: F811
    # MF only: LightGCN's propagation alone separates these two communities, warm or cold
    train, test = data["implicit"], data["test"]
    previous = fitted("mf", _older(train))
    same = np.arange(N_USERS), np.arange(N_ITEMS)

    def few_epochs(warm: bool) -> float:
        model = build("mf", N_USERS, N_ITEMS, epochs=1, dim=16, lr=0.02, batch_size=64, seed=1)
        if warm:
            model.warm_start(previous, *same)
        model.fit(train)
        return auc(test.labels, model.score(test.users, test.items))

    warm, cold = few_epochs(True), few_epochs(False)
    assert warm >= 0.95 and warm > cold + 0.1, (warm, cold)


def _older(events: Interactions) -> Interactions:
    """Last night's data: the newest fifth of each user's events not there yet."""
    keep = events.ts < np.quantile(events.ts, 0.8)
    return Interactions(events.users[keep], events.items[keep], events.labels[keep], events.ts[keep])


def test_models_without_entity_tables_say_they_cannot_warm_start(data: dict) -> None:  # noqa: F811
    assert [n for n in ("mf", "lightgcn", "sasrec", "deepfm") if model_class(n).can_warm_start()] == list(WARM)
    a, b = build("deepfm", N_USERS, N_ITEMS), build("deepfm", N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match="deepfm models do not warm-start"):
        b.warm_start(a, np.arange(N_USERS), np.arange(N_ITEMS))
    with pytest.raises(ValueError, match="cannot warm-start from a mf"):
        b.warm_start(build("mf", N_USERS, N_ITEMS), np.arange(N_USERS), np.arange(N_ITEMS))
