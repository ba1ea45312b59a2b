"""TWiCE-Rec's rewards (twice-rec.txt, eq. 2-5) as plain functions, separate from any trainer."""

from __future__ import annotations

import math
import re

TAGS = ("<item>", "</item>", "<think>", "</think>")
_ITEM = re.compile(r"<item>(.*?)</item>", re.DOTALL)
_THINK = re.compile(r"<think>(.+?)</think>", re.DOTALL)


def cf_confidence(score: float) -> float:
    """ρ^cf: the sigmoid of the collaborative model's score of (user history, generated item)."""
    return 1.0 / (1.0 + math.exp(-score))


def collaborative_guided(match: bool, rho_cf: float, lam: float = 3.0, tau: float = 0.3) -> float:
    """ρ^cg (eq. 2): amplify the CF model's confidence only on a hit it agrees with."""
    if match:
        return 1.0 + lam * rho_cf if rho_cf >= tau else 1.0
    return rho_cf if rho_cf >= tau else 0.0


def tag_presence(text: str) -> float:
    """ρ^tag (eq. 4): 0.25 for each of the four tags present."""
    return 0.25 * sum(tag in text for tag in TAGS)


def structural(text: str) -> float:
    """ρ^struct (eq. 3): 1 when both a non-empty <think>...</think> and an <item>...</item> appear."""
    item = _ITEM.search(text)
    return float(bool(_THINK.search(text)) and item is not None and bool(item.group(1).strip()))


def format_reward(text: str) -> float:
    """ρ^fmt (eq. 5)."""
    return structural(text) + tag_presence(text)


def generated_item(text: str) -> str | None:
    """The first item inside <item> tags, stripped; None when there is none."""
    found = _ITEM.search(text)
    return found.group(1).strip() if found and found.group(1).strip() else None
