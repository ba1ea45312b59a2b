"""CoRAL's environment rules on hand-made cases: reward, early stop, cut, nearest entities, and the
evidence a prompt may use."""

from __future__ import annotations

import numpy as np
import pytest

from colrec.coral.env import CoralVecEnv, EntitySpace, Episode, Pair, observation_size, observe, reward, solved
from colrec.coral.evidence import Ratings
from colrec.errors import ColrecError

USERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
ITEMS = np.array([[0.5, 0.5], [-1.0, -1.0]])


def test_reward_is_the_drop_in_error() -> None:
    assert reward(0.5, 0.8, 1) == pytest.approx(0.3)
    assert reward(0.5, 0.8, 0) == pytest.approx(-0.3)
    assert reward(0.9, 0.6, 1) == pytest.approx(-0.3)
    assert reward(0.4, 0.4, 1) == 0.0


def test_early_stop_is_strictly_within_tolerance() -> None:
    assert solved(0.95, 1, 0.1) and solved(0.05, 0, 0.1)
    assert not solved(0.85, 1, 0.1) and not solved(0.5, 0, 0.1) and not solved(0.0, 0, 0.0)


def test_actions_map_to_the_nearest_user_and_item_exactly() -> None:
    space = EntitySpace(USERS, ITEMS)
    assert space.scale.tolist() == [1.0, 2.0]
    # action halves are in units of scale: (0.9, 0.1) -> (0.9, 0.2) is nearest user 1, item 0.
    users, items = space.nearest(np.array([[0.9, 0.1, -0.9, -0.4], [0.0, 0.9, 0.4, 0.2]]))
    assert users.tolist() == [1, 2] and items.tolist() == [1, 0]
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (200, 4))
    users, items = space.nearest(actions)
    queries_u, queries_i = actions[:, :2] * space.scale, actions[:, 2:] * space.scale
    brute_u = np.linalg.norm(queries_u[:, None] - USERS[None], axis=2).argmin(1)
    brute_i = np.linalg.norm(queries_i[:, None] - ITEMS[None], axis=2).argmin(1)
    assert (users == brute_u).all() and (items == brute_i).all()


def test_observation_holds_start_retrievals_and_mask() -> None:
    space = EntitySpace(USERS, ITEMS)
    episode = Episode(Pair(2, 1, 1), users=[1], items=[0])
    obs = observe(space, episode, max_steps=3)
    assert obs.shape == (observation_size(2, 3),) == (4 + 12 + 3,)
    assert obs[:4].tolist() == [0.0, 2.0, -1.0, -1.0]
    assert obs[4:8].tolist() == [1.0, 0.0, 0.5, 0.5] and not obs[8:16].any()
    assert obs[16:].tolist() == [1.0, 0.0, 0.0]


class CountingJudge:
    """p rises by 0.3 for every retrieval of item 0, from 0.5: a known right piece of evidence."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, episodes: list[Episode]) -> np.ndarray:
        self.calls.append(len(episodes))
        return np.array([min(0.5 + 0.3 * e.items.count(0), 1.0) for e in episodes])


def test_episodes_stop_early_when_solved_and_are_cut_at_max_steps() -> None:
    space = EntitySpace(USERS, ITEMS)
    judge = CountingJudge()
    env = CoralVecEnv(space, [Pair(0, 0, 1)], judge, n_envs=2, max_steps=3, seed=0)
    env.reset()
    toward_item_0 = [0.0, 0.0, 0.5, 0.25]  # item half (0.5, 0.5) in embedding units
    toward_item_1 = [0.0, 0.0, -1.0, -0.5]
    assert judge.calls == [2]  # both starting p0 in one call
    _, rewards, dones, infos = env.step(np.array([toward_item_0, toward_item_1]))
    assert judge.calls == [2, 2]  # one batched call per step, for all parallel episodes
    assert rewards.tolist() == pytest.approx([0.3, 0.0]) and not dones.any()
    _, rewards, dones, infos = env.step(np.array([toward_item_0, toward_item_1]))
    assert rewards.tolist() == pytest.approx([0.2, 0.0])  # 0.8 -> 1.0 (capped): |1 - 1| < 0.1
    assert dones.tolist() == [True, False] and infos[0]["TimeLimit.truncated"] is False
    assert judge.calls == [2, 2, 2, 1]  # the finished episode restarted on a new pair: its p0
    assert env.episodes[0].users == []  # restarted
    _, _, dones, infos = env.step(np.array([toward_item_0, toward_item_1]))
    assert dones.tolist() == [False, True] and infos[1]["TimeLimit.truncated"] is True  # cut, not solved
    assert infos[1]["terminal_observation"][-3:].tolist() == [1.0, 1.0, 1.0]
    assert [f["steps"] for f in env.finished] == [2, 3] and [f["solved"] for f in env.finished] == [1.0, 0.0]


def test_evidence_lists_only_rated_combinations_and_never_the_pair_itself() -> None:
    ratings = Ratings(np.array([0, 1, 2, 1]), np.array([0, 0, 0, 1]), np.array([1, 0, 1, 1]))
    episode = Episode(Pair(0, 0, 1), users=[0, 1, 1, 2], items=[0, 1, 0])
    found = ratings.evidence(episode)
    # user 0's own rating of item 0 is the label being predicted: it is left out
    assert [(e.item, e.liked_by, e.disliked_by) for e in found] == [(0, (2,), (1,)), (1, (1,), ())]
    assert ratings.evidence(Episode(Pair(0, 0, 1), users=[0], items=[0])) == []


def test_bad_spaces_and_empty_pairs_are_refused() -> None:
    with pytest.raises(ColrecError, match="share a width"):
        EntitySpace(USERS, np.zeros((2, 3)))
    with pytest.raises(ColrecError, match="no training pairs"):
        CoralVecEnv(EntitySpace(USERS, ITEMS), [], CountingJudge())


def test_with_links_an_action_retrieves_the_nearest_rated_pair_exactly() -> None:
    links = (np.array([0, 1, 2, 2]), np.array([1, 0, 0, 1]))
    space = EntitySpace(USERS, ITEMS, links)
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (300, 4))
    users, items = space.nearest(actions)
    queries_u, queries_i = actions[:, :2] * space.scale, actions[:, 2:] * space.scale
    joint = ((queries_u[:, None] - USERS[links[0]][None]) ** 2).sum(2) + (
        (queries_i[:, None] - ITEMS[links[1]][None]) ** 2
    ).sum(2)
    best = joint.argmin(1)
    assert (users == links[0][best]).all() and (items == links[1][best]).all()
    assert set(zip(users.tolist(), items.tolist(), strict=True)) <= set(zip(*links, strict=True))
    # near user 1 and item 1, which never met: the nearest pair that did
    u, i = space.nearest(np.array([[1.0, 0.0, -1.0, -0.5]]))
    assert (u[0], i[0]) in {(0, 1), (1, 0), (2, 1)} and (u[0], i[0]) != (1, 1)
