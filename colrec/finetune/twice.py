"""The `twice` recipe (TWiCE-Rec, stages 2 and 3): multi-task LoRA SFT (item descriptions, next
item in <item> tags, rationale in <think> tags then the item), then GRPO with the
collaborative-guided reward plus the format reward (colrec.finetune.rewards)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from colrec.finetune.grpo import GrpoSettings
from colrec.finetune.rewards import cf_confidence, collaborative_guided, format_reward, generated_item
from colrec.finetune.sft import SftSettings
from colrec.llm.engine import Messages


@dataclass(frozen=True)
class TwiceConfig:
    sft: SftSettings = field(default_factory=SftSettings)
    grpo: GrpoSettings = field(default_factory=GrpoSettings)
    lam: float = 3.0  # λ: amplification of the CF confidence on a hit
    tau: float = 0.3  # τ: the CF confidence that counts as agreement

    def as_dict(self) -> dict[str, Any]:
        return {"sft": self.sft.as_dict(), "grpo": self.grpo.as_dict(), "lam": self.lam, "tau": self.tau}


def sft_dataset(examples: Sequence[tuple[Messages, str]]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [list(messages) for messages, _ in examples],
        "completion": [[{"role": "assistant", "content": answer}] for _, answer in examples],
    })  # fmt: skip


def rl_dataset(prompts: Sequence[Messages], users: Sequence[int], targets: Sequence[str]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [list(p) for p in prompts], "user_id": list(users), "target": list(targets)})


def normal_title(title: str) -> str:
    return " ".join(title.lower().split())


def same_title(a: str, b: str) -> bool:
    return normal_title(a) == normal_title(b)


def reward_function(cf_score: Callable[[int, str], float | None], lam: float, tau: float) -> Callable[..., list[float]]:
    """GRPO's reward: ρ^cg + ρ^fmt per completion. `cf_score(user, title)` is the collaborative
    model's raw score of the generated item for the user (None for a title it does not know)."""

    def twice_reward(prompts: list[Any], completions: list[Any], user_id: list[int], target: list[str],
                     **_: Any) -> list[float]:  # fmt: skip
        out = []
        for completion, user, wanted in zip(completions, user_id, target, strict=True):
            text = completion[-1]["content"] if isinstance(completion, list) else str(completion)
            item = generated_item(text)
            score = cf_score(user, item) if item is not None else None
            rho = cf_confidence(score) if score is not None else 0.0
            match = item is not None and same_title(item, wanted)
            out.append(collaborative_guided(match, rho, lam, tau) + format_reward(text))
        return out

    return twice_reward
