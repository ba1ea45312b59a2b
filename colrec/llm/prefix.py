"""Shared-prefix packing: prompts that start with the same tokens (a user's history before each of
their candidates) are computed once per shared prefix.

Prompts are grouped by a shared token prefix (sorted, so prompts with a common head sit together;
a prompt joins the current group while the tokens it saves outweigh the shorter prefix it forces on
the group). Each group becomes one stretch of a packed row: the prefix once, then every member's
suffix, with positions continuing after the prefix for each suffix. An attention mask lets a
prefix token see the earlier prefix tokens of its group, and a suffix token see its group's whole
prefix and the earlier tokens of its own suffix only, so every suffix's last position computes
exactly what the whole prompt alone would. Several groups share a row up to a token budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass
class Group:
    prefix: list[int]
    members: list[int] = field(default_factory=list)  # prompt indices, in suffix order
    suffixes: list[list[int]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return len(self.prefix) + sum(len(s) for s in self.suffixes)


@dataclass
class PackedRow:
    """One sequence of a packed batch: token ids, RoPE positions (each token's index in its own
    prompt) and each token's reach: the row position its visibility ends at. Token t may attend to
    token u when u <= t < reach[u], so a shared prefix (reach: the end of everything built on it)
    is seen by all that follows it, and a suffix (reach: its own end) by nothing else."""

    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    reach: list[int] = field(default_factory=list)
    ends: list[tuple[int, int]] = field(default_factory=list)  # (prompt index, position of its last token)
    # Spans that a training loss reads: (prompt index, first position, last position + 1) of each suffix.
    spans: list[tuple[int, int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def group_by_prefix(prompts: Sequence[Sequence[int]], max_group_tokens: int = 1024) -> list[Group]:
    """Groups of prompts with a shared prefix, chosen to compute the fewest tokens. In sorted order a
    run of prompts shares the smallest common prefix of its neighbours, and a group of n members
    with a prefix of P tokens saves (n - 1) * P; the runs are cut to save the most (dynamic
    programming over the sorted prompts), each group within `max_group_tokens` (a single prompt
    longer than that is a group of its own). Every suffix keeps at least its last token: that is
    where the answer's logits are read."""
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    seqs = [prompts[i] for i in order]
    n = len(seqs)
    lcps = [min(common_prefix(seqs[k], seqs[k + 1]), len(seqs[k]) - 1, len(seqs[k + 1]) - 1) for k in range(n - 1)]
    total = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    best = [0] * (n + 1)  # tokens saved by the best cut of the first j prompts
    start = list(range(-1, n))  # where the last group of that cut starts
    for j in range(1, n + 1):
        best[j], start[j] = best[j - 1], j - 1  # prompt j - 1 alone
        shared = 1 << 62
        for i in range(j - 2, -1, -1):  # the group [i, j) of two or more prompts
            shared = min(shared, lcps[i])
            if shared <= 0 or total[j] - total[i] - (j - i - 1) * shared > max_group_tokens:
                break  # both only get worse as the group grows to the left
            saved = best[i] + (j - i - 1) * shared
            if saved > best[j]:
                best[j], start[j] = saved, i
    cuts, j = [], n
    while j > 0:
        cuts.append((start[j], j))
        j = start[j]
    groups = []
    for i, j in reversed(cuts):
        shared = min(lcps[i : j - 1]) if j - i > 1 else len(seqs[i]) - 1
        groups.append(_group(prompts, order[i:j], shared))
    return groups


def _group(prompts: Sequence[Sequence[int]], members: list[int], shared: int) -> Group:
    group = Group(prefix=list(prompts[members[0]][:shared]))
    for i in members:
        group.members.append(i)
        group.suffixes.append(list(prompts[i][shared:]))
    return group


def first_fit(items: Sequence[T], size: Callable[[T], int], budget: int,
              lay_out: Callable[[PackedRow, T], None]) -> list[PackedRow]:  # fmt: skip
    """Items laid out in rows of at most `budget` tokens (a larger item gets a row of its own),
    largest first, each into the first row it fits (first-fit decreasing)."""
    rows: list[PackedRow] = []
    for item in sorted(items, key=lambda x: -size(x)):
        row = next((r for r in rows if len(r) + size(item) <= budget), None)
        if row is None:
            row = PackedRow()
            rows.append(row)
        lay_out(row, item)
    return rows


def pack_rows(groups: Sequence[Group], max_row_tokens: int = 1024) -> list[PackedRow]:
    """Groups laid out in rows of at most `max_row_tokens`."""
    return first_fit(groups, lambda g: g.tokens, max_row_tokens, _append)


def _append(row: PackedRow, group: Group) -> None:
    end = len(row.ids) + group.tokens
    row.ids += group.prefix
    row.positions += list(range(len(group.prefix)))
    row.reach += [end] * len(group.prefix)
    for member, suffix in zip(group.members, group.suffixes, strict=True):
        start = len(row.ids)
        row.ids += suffix
        row.positions += list(range(len(group.prefix), len(group.prefix) + len(suffix)))
        row.reach += [start + len(suffix)] * len(suffix)
        row.ends.append((member, len(row.ids) - 1))
        row.spans.append((member, start, len(row.ids)))


def allowed(rows: Sequence[PackedRow], length: int) -> np.ndarray:
    """[len(rows), length, length] bool: may token t (row) attend to token u (column). Padding
    (past a row's end) attends to itself only, so no softmax row is empty."""
    out = np.zeros((len(rows), length, length), dtype=bool)
    t = np.arange(length)[:, None]
    for r, row in enumerate(rows):
        n = len(row)
        reach = np.asarray(row.reach)
        out[r, :n, :n] = (t[:n] >= np.arange(n)[None, :]) & (t[:n] < reach[None, :])
        pad = np.arange(n, length)
        out[r, pad, pad] = True
    return out


def packed_tokens(prompts: Sequence[Sequence[int]], max_tokens: int = 1024) -> int:
    """Token positions a packed pass computes (the figure benchmarks compare against the prompts' sum)."""
    return sum(g.tokens for g in group_by_prefix(prompts, max_tokens))
