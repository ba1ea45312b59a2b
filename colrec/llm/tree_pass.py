"""One pass over a batch of prompts' prefix tree (colrec.llm.prefix_tree) with the key/value cache:
every distinct token position computed once, and attention paid only where it is needed.

A node shared by larger subtrees runs once on top of the cache of the nodes above it (causal, as
one prompt would), and its cache is reused by everything under it. Small subtrees (a user's
candidates under their history) are packed side by side in rows that attend to that cache and,
under the reach mask, to their own earlier tokens only. Packing every prompt into rows alone would
also attend across the whole row and recompute a path for each row; here a row's attention is its
own tokens times the cache above it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from colrec.llm.prefix import PackedRow, allowed, first_fit
from colrec.llm.prefix_tree import Node, build_tree, lay_out_subtree


class TreePass:
    def __init__(self, decoder: Any, device: str, dtype: torch.dtype, row_tokens: int = 512,
                 leaf_tokens: int = 64) -> None:  # fmt: skip
        self.decoder, self.device, self.dtype = decoder, device, dtype
        self.row_tokens = row_tokens  # small subtrees packed per row
        self.leaf_tokens = leaf_tokens  # a subtree at most this large is packed, not opened
        self.tokens_computed = 0

    def last_hidden(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """[len(prompts), hidden]: each prompt's final hidden state at its last token."""
        found: dict[int, torch.Tensor] = {}
        self._children(build_tree(prompts).children, None, found)
        return torch.stack([found[i] for i in range(len(prompts))])

    def _visit(self, node: Node, cache: Any, found: dict[int, torch.Tensor]) -> None:
        ids = torch.tensor([node.tokens], device=self.device)
        positions = torch.arange(node.start, node.end, device=self.device)[None]
        out = self.decoder(input_ids=ids, position_ids=positions, past_key_values=cache, use_cache=True)
        self.tokens_computed += len(node.tokens)
        for prompt, depth in node.ends:
            found[prompt] = out.last_hidden_state[0, depth - node.start]
        self._children(node.children, out.past_key_values, found)

    def _children(self, children: list[Node], cache: Any, found: dict[int, torch.Tensor]) -> None:
        packed = [c.size <= self.leaf_tokens or not c.children for c in children]
        small = [c for c, p in zip(children, packed, strict=True) if p]
        for row in first_fit(small, lambda t: t.size, self.row_tokens, lay_out_subtree):
            self._row(row, cache, found)
        opened = [c for c, p in zip(children, packed, strict=True) if not p]
        for k, child in enumerate(opened):
            last = k == len(opened) - 1
            self._visit(child, cache if last or cache is None else copy.deepcopy(cache), found)

    def _row(self, row: PackedRow, cache: Any, found: dict[int, torch.Tensor]) -> None:
        above = cache.get_seq_length() if cache is not None else 0
        n = len(row)
        sees = np.ones((1, n, above + n), dtype=bool)
        sees[:, :, above:] = allowed([row], n)
        blocked = torch.from_numpy(~sees).unsqueeze(1).to(self.device)
        mask = torch.zeros(blocked.shape, dtype=self.dtype, device=self.device)
        mask = mask.masked_fill(blocked, torch.finfo(self.dtype).min)
        out = self.decoder(input_ids=torch.tensor([row.ids], device=self.device),
                           position_ids=torch.tensor([row.positions], device=self.device), attention_mask=mask,
                           past_key_values=copy.deepcopy(cache) if cache is not None else None,
                           use_cache=cache is not None)  # fmt: skip
        self.tokens_computed += n
        for prompt, position in row.ends:
            found[prompt] = out.last_hidden_state[0, position]
