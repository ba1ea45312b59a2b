"""CoRAL's retrieval MDP (coral.txt, sections 3 and 4.2) as a vectorised environment.

An episode is one (user, item, label) pair. The state starts as s0 = [u, i], the pair's embeddings
in the CF model's space; each action is a query in the joint user/item space whose nearest user and
nearest item (Euclidean, exact) join the pair's evidence; the reward is the drop in the LLM's error,
|p_{t-1} - y| - |p_t - y|; the episode ends early once |p_t - y| < tolerance, and is cut (not
terminated) after `max_steps`.

The environment is an SB3 `VecEnv` rather than N gymnasium envs, because the LLM is the expensive
part: each step asks the `judge` once for all parallel episodes, so the engine sees one batch.
The observation carries s0, the embeddings of everything retrieved so far and a mask; the state
transition MLP of eq. 7 runs inside the policy (`colrec.coral.policy.StateEncoder`), so it is
learned with the actor and critic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from colrec.errors import ColrecError


@dataclass(frozen=True)
class Pair:
    user: int  # row in EntitySpace.users
    item: int  # row in EntitySpace.items
    label: int  # 1 liked, 0 not


@dataclass
class Episode:
    pair: Pair
    users: list[int] = field(default_factory=list)  # retrieved user rows, in order (repeats kept)
    items: list[int] = field(default_factory=list)
    p: float = 0.5  # the judge's last Yes probability


# Each episode's current evidence -> the LLM's Yes probability for its pair.
Judge = Callable[[Sequence[Episode]], np.ndarray]


def reward(previous_p: float, p: float, label: int) -> float:
    """Eq. 3: the marginal information gain of the step."""
    return abs(previous_p - label) - abs(p - label)


def solved(p: float, label: int, tolerance: float) -> bool:
    """The early stop of the paper: the prediction is within `tolerance` of the label."""
    return abs(p - label) < tolerance


class EntitySpace:
    """User and item embeddings of one CF model; actions in [-1, 1]^{2d} scale to queries in it.

    With `links` (the training interactions as user and item rows) an action retrieves the nearest
    rated pair in the joint space, argmin ||u - a_u||^2 + ||i - a_i||^2 over the interactions,
    instead of the nearest user and the nearest item each on its own (eq. 6 read literally). A
    user and an item found independently have rarely met (Gift Cards' 5-core is 4% dense), so most
    steps would add nothing to the prompt and the reward would be 0 almost everywhere; the paper
    speaks of retrieving "the next user-item pair", and a rated pair always adds one line of
    evidence.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray,
                 links: tuple[np.ndarray, np.ndarray] | None = None) -> None:  # fmt: skip
        if users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]:
            raise ColrecError(f"user and item embeddings must share a width: {users.shape} vs {items.shape}")
        if len(users) == 0 or len(items) == 0:
            raise ColrecError("an entity space needs at least one user and one item")
        self.users = users.astype(np.float32)
        self.items = items.astype(np.float32)
        self.dim = users.shape[1]
        # Per dimension, the largest magnitude any entity reaches: the action box covers them all.
        both = np.abs(np.concatenate([self.users, self.items]))
        self.scale = np.maximum(both.max(0), 1e-6).astype(np.float32)
        self.links = None
        if links is not None:
            link_users, link_items = (np.asarray(x, dtype=np.int64) for x in links)
            if len(link_users) == 0:
                raise ColrecError("no rated pairs to retrieve from")
            self.links = (link_users, link_items)

    def query(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n, 2d] actions -> the user-half and item-half queries in embedding units."""
        actions = np.asarray(actions, dtype=np.float32).reshape(-1, 2 * self.dim)
        return actions[:, : self.dim] * self.scale, actions[:, self.dim :] * self.scale

    def nearest(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the user and item each action retrieves (Euclidean, exact)."""
        user_q, item_q = self.query(actions)
        if self.links is None:  # eq. 6: each half on its own
            return _distances(user_q, self.users).argmin(1), _distances(item_q, self.items).argmin(1)
        link_users, link_items = self.links
        joint = _distances(user_q, self.users)[:, link_users] + _distances(item_q, self.items)[:, link_items]
        best = joint.argmin(1)
        return link_users[best], link_items[best]

    def start(self, pair: Pair) -> np.ndarray:
        return np.concatenate([self.users[pair.user], self.items[pair.item]])


def _distances(queries: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances up to a per-row constant: ||q - x||^2 - ||q||^2 = ||x||^2 - 2 q.x
    (the dropped ||q||^2 changes no argmin, and is the same for both halves' sum)."""
    return (table**2).sum(1)[None, :] - 2.0 * queries @ table.T


def observation_size(dim: int, max_steps: int) -> int:
    return 2 * dim + max_steps * 2 * dim + max_steps


def observe(space: EntitySpace, episode: Episode, max_steps: int) -> np.ndarray:
    """[s0 | retrieved (user, item) embeddings, zero-padded to max_steps | mask of filled steps]."""
    d2 = 2 * space.dim
    obs = np.zeros(observation_size(space.dim, max_steps), dtype=np.float32)
    obs[:d2] = space.start(episode.pair)
    for t, (u, i) in enumerate(zip(episode.users[:max_steps], episode.items[:max_steps], strict=True)):
        obs[d2 + t * d2 : d2 + (t + 1) * d2] = np.concatenate([space.users[u], space.items[i]])
        obs[d2 + max_steps * d2 + t] = 1.0
    return obs


def observe_all(space: EntitySpace, episodes: Sequence[Episode], max_steps: int) -> np.ndarray:
    return np.stack([observe(space, e, max_steps) for e in episodes])


def extend(space: EntitySpace, episodes: Sequence[Episode], actions: np.ndarray) -> None:
    """One retrieval for each episode: the user and item its action reaches join its evidence."""
    users, items = space.nearest(actions)
    for episode, u, i in zip(episodes, users, items, strict=True):
        episode.users.append(int(u))
        episode.items.append(int(i))


class CoralVecEnv(VecEnv):
    """`n_envs` episodes stepped together; finished ones restart on a new pair drawn from `pairs`."""

    render_mode: str | None = None

    def __init__(self, space: EntitySpace, pairs: Sequence[Pair], judge: Judge, *, n_envs: int = 8,
                 max_steps: int = 10, tolerance: float = 0.1, seed: int = 0) -> None:  # fmt: skip
        if not pairs:
            raise ColrecError("no training pairs for the retrieval policy")
        self.space, self.pairs, self.judge = space, list(pairs), judge
        self.max_steps, self.tolerance = max_steps, tolerance
        self.rng = np.random.default_rng(seed)
        size = observation_size(space.dim, max_steps)
        super().__init__(
            n_envs,
            spaces.Box(-np.inf, np.inf, (size,), np.float32),
            spaces.Box(-1.0, 1.0, (2 * space.dim,), np.float32),
        )
        self.episodes: list[Episode] = []
        self.returns = np.zeros(n_envs)
        self.finished: list[dict[str, float]] = []  # per finished episode: return, steps, solved
        self._actions: np.ndarray | None = None

    def _fresh(self, n: int) -> list[Episode]:
        """New episodes on random pairs, with p_0 from the evidence-free prompt (one judge call)."""
        episodes = [Episode(self.pairs[k]) for k in self.rng.integers(len(self.pairs), size=n)]
        for episode, p in zip(episodes, self.judge(episodes), strict=True):
            episode.p = float(p)
        return episodes

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self.rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self.episodes = self._fresh(self.num_envs)
        self.returns[:] = 0.0
        return observe_all(self.space, self.episodes, self.max_steps)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_wait without step_async"
        extend(self.space, self.episodes, self._actions)
        probabilities = self.judge(self.episodes)
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for k, (episode, p) in enumerate(zip(self.episodes, probabilities, strict=True)):
            rewards[k] = reward(episode.p, float(p), episode.pair.label)
            episode.p = float(p)
            self.returns[k] += rewards[k]
            stop = solved(episode.p, episode.pair.label, self.tolerance)
            cut = len(episode.users) >= self.max_steps
            if stop or cut:
                dones[k] = True
                infos[k] = {"terminal_observation": observe(self.space, episode, self.max_steps),
                            "TimeLimit.truncated": cut and not stop}  # fmt: skip
                self.finished.append({"return": float(self.returns[k]), "steps": len(episode.users),
                                      "solved": float(stop)})  # fmt: skip
        restart = np.flatnonzero(dones)
        if len(restart):
            for k, episode in zip(restart, self._fresh(len(restart)), strict=True):
                self.episodes[k] = episode
                self.returns[k] = 0.0
        return observe_all(self.space, self.episodes, self.max_steps), rewards, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        return [getattr(self, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))
