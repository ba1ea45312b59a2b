"""Model names as the CLI spells them."""

from __future__ import annotations

from colrec.cf.base import ModelConfig, Recommender
from colrec.errors import ColrecError


def models() -> dict[str, type[Recommender]]:
    from colrec.cf.deepfm import DeepFM
    from colrec.cf.lightgcn import LightGCN
    from colrec.cf.mf import MF
    from colrec.cf.sasrec import SASRec

    return {m.name: m for m in (MF, LightGCN, SASRec, DeepFM)}


def model_class(name: str) -> type[Recommender]:
    known = models()
    if name not in known:
        raise ColrecError(f"unknown model {name!r}; known: {', '.join(known)}")
    return known[name]


def build(name: str, n_users: int, n_items: int, **overrides: object) -> Recommender:
    """A fresh model with its default config, updated by the non-None overrides."""
    klass = model_class(name)
    fields = klass.config_class.__dataclass_fields__
    unknown = [k for k, v in overrides.items() if v is not None and k not in fields]
    if unknown:
        raise ColrecError(f"model {name!r} has no option {unknown[0]!r}")
    config: ModelConfig = klass.config_class(**{k: v for k, v in overrides.items() if v is not None})
    return klass(config, n_users, n_items)
