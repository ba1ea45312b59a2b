"""A short DDPG run learns to retrieve the evidence that helps, on a synthetic task where the right
evidence is known: the judge is only sure once one of three "informative" items is retrieved."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colrec.coral.env import CoralVecEnv, EntitySpace, Episode, Pair
from colrec.coral.policy import PolicyConfig, StateEncoder, load_policy, retrieve, train_policy

INFORMATIVE = {0, 1, 2}


def _space() -> EntitySpace:
    rng = np.random.default_rng(7)
    users, items = rng.normal(size=(20, 4)), rng.normal(size=(30, 4))
    items[:3] = [[2.0, 2.0, 0.0, 0.0], [2.2, 1.8, 0.1, 0.0], [1.8, 2.2, 0.0, 0.1]]  # a corner of the space
    return EntitySpace(users, items)


def judge(episodes: list[Episode]) -> np.ndarray:
    return np.array([0.95 if INFORMATIVE & set(e.items) else 0.5 for e in episodes])


def _return(episodes: list[Episode]) -> float:
    """The episode return telescopes to |p0 - y| - |p_T - y| (y = 1, p0 = 0.5)."""
    return float(np.mean([0.5 - abs(p - 1.0) for p in judge(episodes)]))


def test_state_encoder_folds_only_the_filled_steps() -> None:
    import torch
    from gymnasium import spaces

    encoder = StateEncoder(spaces.Box(-1, 1, (4 + 2 * 4 + 2,)), dim=2, max_steps=2)
    start = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    empty = torch.cat([start, torch.zeros(1, 8), torch.zeros(1, 2)], dim=1)
    assert torch.equal(encoder(empty), start)  # nothing retrieved: s0 itself
    one = torch.cat([start, torch.ones(1, 4), torch.zeros(1, 4), torch.tensor([[1.0, 0.0]])], dim=1)
    moved = encoder.transition(torch.cat([start, torch.ones(1, 4)], dim=1))
    assert torch.allclose(encoder(one), moved)


def test_a_short_run_beats_random_retrieval(tmp_path: Path) -> None:
    space = _space()
    pairs = [Pair(u, 3 + u % 20, 1) for u in range(20)]
    config = PolicyConfig(total_steps=1200, n_envs=8, max_steps=5, seed=0)
    env = CoralVecEnv(space, pairs, judge, n_envs=config.n_envs, max_steps=config.max_steps, seed=0)
    policy, stats = train_policy(env, config)
    learned = retrieve(policy, space, pairs, steps=1, max_steps=config.max_steps)
    random = retrieve(None, space, pairs, steps=1, max_steps=config.max_steps, seed=1)
    assert _return(learned) > _return(random) + 0.2, (stats, _return(learned), _return(random))
    assert stats["last_steps"] < stats["first_steps"]  # solved sooner as it learns

    policy.save(tmp_path / "policy.zip")
    again = retrieve(load_policy(tmp_path / "policy.zip"), space, pairs, steps=2, max_steps=config.max_steps)
    assert [e.items[0] for e in again] == [e.items[0] for e in learned]  # a saved policy retrieves the same
