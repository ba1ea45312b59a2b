"""CoRAL's retrieval policy: DDPG (stable-baselines3) over `CoralVecEnv`, with the paper's settings.

The state transition of eq. 7, s_{t+1} = MLP(s_t, [u_t, i_t]), is the policy's features extractor:
it folds the retrieved (user, item) embeddings of the observation into the state one step at a
time, starting from s0 = [u, i]. Actor and critic each learn their own copy (SB3's default for
DDPG), so the transition is trained by both losses through the usual DDPG updates.

Settings from coral.txt 5.1.4: replay buffer 1,000, batch 16, Adam lr 1e-3, learning from the 10th
step, Ornstein-Uhlenbeck noise with sigma 0.1 in each action dimension, at most 10 retrievals per
episode in training and 5 at evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import DDPG
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise, VectorizedActionNoise
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from colrec.coral.env import CoralVecEnv, EntitySpace, Episode, Pair, extend, observe_all

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyConfig:
    total_steps: int = 2000  # environment steps, summed over the parallel episodes
    n_envs: int = 8  # parallel episodes: one batched LLM call per step
    max_steps: int = 10  # retrievals per training episode
    eval_steps: int = 5  # retrievals per scored pair
    tolerance: float = 0.1  # early stop once |p - y| is below this
    sigma: float = 0.1  # OU noise per action dimension
    buffer_size: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    learning_starts: int = 10
    gamma: float = 0.99
    hidden: int = 64
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StateEncoder(BaseFeaturesExtractor):
    """Eq. 7 as a features extractor: s <- MLP([s, u_t, i_t]) for each filled retrieval step."""

    def __init__(self, observation_space: spaces.Box, dim: int, max_steps: int, hidden: int = 64) -> None:
        super().__init__(observation_space, features_dim=2 * dim)
        self.dim, self.max_steps = dim, max_steps
        self.transition = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * dim))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        d2, steps = 2 * self.dim, self.max_steps
        state = observations[:, :d2]
        retrieved = observations[:, d2 : d2 + steps * d2].reshape(-1, steps, d2)
        mask = observations[:, d2 + steps * d2 :]
        for t in range(steps):
            moved = self.transition(torch.cat([state, retrieved[:, t]], dim=1))
            state = torch.where(mask[:, t : t + 1] > 0, moved, state)
        return state


def build_policy(env: CoralVecEnv, config: PolicyConfig) -> DDPG:
    width = 2 * env.space.dim
    # SB3's OU noise scales its step by sqrt(dt): dt=1 makes sigma the per-step deviation, as in the paper.
    base = OrnsteinUhlenbeckActionNoise(np.zeros(width), np.full(width, config.sigma), dt=1.0)
    return DDPG(
        "MlpPolicy",
        env,
        learning_rate=config.lr,
        buffer_size=config.buffer_size,
        batch_size=config.batch_size,
        learning_starts=config.learning_starts,
        gamma=config.gamma,
        train_freq=1,
        gradient_steps=env.num_envs,  # one update per transition collected
        action_noise=VectorizedActionNoise(base, env.num_envs),
        policy_kwargs={
            "features_extractor_class": StateEncoder,
            "features_extractor_kwargs": {"dim": env.space.dim, "max_steps": env.max_steps, "hidden": config.hidden},
            "net_arch": [config.hidden, config.hidden],
        },
        seed=config.seed,
        device="cpu",
    )


def train_policy(env: CoralVecEnv, config: PolicyConfig) -> tuple[DDPG, dict[str, Any]]:
    """Train from scratch on the environment; the stats compare early and late episodes."""
    policy = build_policy(env, config)
    policy.learn(total_timesteps=config.total_steps, callback=_Progress(env, config.total_steps))
    return policy, episode_stats(env.finished)


class _Progress(BaseCallback):
    """A log line at every tenth of the run: steps, finished episodes, their recent mean return."""

    def __init__(self, env: CoralVecEnv, total: int) -> None:
        super().__init__()
        self.env, self.every, self.next = env, max(total // 10, 1), max(total // 10, 1)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next:
            self.next += self.every
            recent = self.env.finished[-50:]
            mean = np.mean([r["return"] for r in recent]) if recent else float("nan")
            log.info("policy: %d steps, %d episodes, mean return of the last %d: %.4f",
                     self.num_timesteps, len(self.env.finished), len(recent), mean)  # fmt: skip
        return True


def episode_stats(finished: Sequence[dict[str, float]]) -> dict[str, Any]:
    n = len(finished)
    if n == 0:
        return {"episodes": 0}
    fifth = max(1, n // 5)

    def mean(rows: Sequence[dict[str, float]], key: str) -> float:
        return round(float(np.mean([r[key] for r in rows])), 4)

    return {"episodes": n, "first_return": mean(finished[:fifth], "return"),
            "last_return": mean(finished[-fifth:], "return"), "first_steps": mean(finished[:fifth], "steps"),
            "last_steps": mean(finished[-fifth:], "steps"), "solved_share": mean(finished, "solved")}  # fmt: skip


def load_policy(path: Path) -> DDPG:
    return DDPG.load(path, device="cpu")


def retrieve(policy: DDPG | None, space: EntitySpace, pairs: Sequence[Pair], steps: int, max_steps: int,
             seed: int = 0) -> list[Episode]:  # fmt: skip
    """`steps` retrievals for each pair: by the policy's deterministic actions, or uniformly random
    actions in the same box when `policy` is None (the paper's CoRAL-random)."""
    episodes = [Episode(p) for p in pairs]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        if policy is None:
            actions = rng.uniform(-1.0, 1.0, size=(len(episodes), 2 * space.dim))
        else:
            actions, _ = policy.predict(observe_all(space, episodes, max_steps), deterministic=True)
        extend(space, episodes, actions)
    return episodes
