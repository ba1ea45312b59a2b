"""Model names as the CLI spells them: build a model by name, load a saved one of any class."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def check_options(name: str, options: Iterable[str] = (), side_features: bool = False) -> type[Recommender]:
    """The model class, once each of `options` is a field of its config and, when `side_features`
    is asked for, it can fuse side vectors: a plan checks this before anything trains."""
    klass = model_class(name)
    unknown = [k for k in options if k not in klass.config_class.__dataclass_fields__]
    if unknown:
        having = [m.name for m in models().values() if unknown[0] in m.config_class.__dataclass_fields__]
        hint = f" ({', '.join(having)} has)" if having else ""
        raise ColrecError(f"model {name!r} has no option {unknown[0]!r}{hint}")
    if side_features and (why := klass.side_features_refusal()):
        raise ColrecError(why)
    return klass


def build(name: str, n_users: int, n_items: int, **overrides: object) -> Recommender:
    """A fresh model with its default config, updated by the non-None overrides."""
    given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}  # names checked below
    klass = check_options(name, given)
    config: ModelConfig = klass.config_class(**given)
    return klass(config, n_users, n_items)


def load(path: Path) -> Recommender:
    """A model saved by `Recommender.save`, of whichever registered class saved it."""
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    return model_class(payload["model"]).from_payload(payload)
