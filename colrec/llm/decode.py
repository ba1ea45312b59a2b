"""Batched generation for the transformers back end, written for a CPU's two limits: the weights
are read once per step for the whole batch, and each step reads the batch's key/value cache.

- Prompts are sorted by length and run in batches of up to `batch_size` rows, left-padded (little
  padding, since neighbours in the order have about the same length).
- The key/value cache of a batch is allocated once, for the longest prompt plus `max_tokens`, and
  written in place (`GrowingLayer`): transformers' dynamic cache concatenates, copying the whole
  cache every step, and its static cache attends over the whole allocation from the first step.
- A row that has finished (end of turn, a stop string, or `max_tokens`) leaves the batch once a
  quarter of the rows have: its cache rows are dropped, so the steps after it cost less.
- Greedy decoding and the repetition penalty follow transformers' `generate`
  (`RepetitionPenaltyLogitsProcessor`: every token of the prompt and of the output so far), so
  both back ends mean the same thing by `repetition_penalty`; tested token for token.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

from colrec.llm.engine import GenerationParams


class GrowingLayer(CacheLayerMixin):
    """One layer's cache, preallocated to `capacity` positions and returned up to its fill."""

    is_compileable = False

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        rows, heads, _, dim = key_states.shape
        self.keys = key_states.new_zeros((rows, heads, self.capacity, dim))
        self.values = value_states.new_zeros((rows, heads, self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        assert self.keys is not None and self.values is not None
        end = self.length + key_states.shape[-2]
        self.keys[:, :, self.length : end] = key_states
        self.values[:, :, self.length : end] = value_states
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def fill(self, rows: slice, keys: torch.Tensor, values: torch.Tensor, batch: int) -> None:
        """The prefill's keys and values of `rows` of a batch of `batch` rows."""
        if not self.is_initialized:
            shape = (batch, keys.shape[1], self.capacity, keys.shape[-1])
            self.keys, self.values = keys.new_zeros(shape), values.new_zeros((*shape[:-1], values.shape[-1]))
            self.is_initialized = True
        assert self.keys is not None and self.values is not None
        self.keys[rows, :, : keys.shape[-2]] = keys
        self.values[rows, :, : values.shape[-2]] = values
        self.length = keys.shape[-2]

    def keep_rows(self, rows: torch.Tensor) -> None:
        if self.keys is not None and self.values is not None:
            self.keys, self.values = self.keys[rows], self.values[rows]

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return self.capacity


@dataclass
class DecodeStats:
    """What the passes did, for benchmarks (seconds split into prompt prefill and decode steps)."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    steps: int = 0  # decode forward passes
    row_steps: int = 0  # rows summed over decode steps (the batch each step carried)
    cached_reads: int = 0  # key/value positions read, summed over rows and decode steps
    per_batch: list[int] = field(default_factory=list)


class BatchDecoder:
    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64, prefill_tokens: int = 8192,
                 device: str = "cpu") -> None:  # fmt: skip
        self.model, self.tokenizer, self.batch_size, self.device = model, tokenizer, batch_size, device
        self.prefill_tokens = prefill_tokens
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.end_ids = _end_ids(model, tokenizer)
        self.stats = DecodeStats()

    def generate(self, prompts: Sequence[Sequence[int]], params: GenerationParams) -> list[list[int]]:
        """The new token ids of each prompt, in order, cut before any stop string's tokens are
        decoded (the caller cuts the text at the stop string itself)."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[list[int]] = [[] for _ in prompts]
        sampler = torch.Generator(device="cpu").manual_seed(params.seed)
        for start in range(0, len(order), self.batch_size):
            group = order[start : start + self.batch_size]
            for i, tokens in zip(group, self._batch([prompts[i] for i in group], params, sampler), strict=True):
                out[i] = tokens
            self.stats.per_batch.append(len(group))
        return out

    @torch.no_grad()
    def _batch(self, prompts: list[Sequence[int]], params: GenerationParams, sampler: torch.Generator) -> list[
            list[int]]:  # fmt: skip
        rows, width = len(prompts), max(len(p) for p in prompts)
        lengths = torch.tensor([len(p) for p in prompts])
        # Right padding: a prompt's real tokens come first, so the prefill is plain causal attention
        # (no mask: the fused kernel skips the masked half), and pad positions are only masked out
        # of the decode steps.
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, : len(p)] = torch.tensor(list(p), dtype=torch.long)
        valid = torch.zeros((rows, width + params.max_tokens), dtype=torch.bool)
        valid[:, :width] = torch.arange(width)[None] < lengths[:, None]
        depth = self.model.config.num_hidden_layers
        layers = [GrowingLayer(width + params.max_tokens) for _ in range(depth)]
        cache = Cache(layers=list(layers))
        begun = time.perf_counter()
        logits = self._prefill(ids, lengths, layers)
        self.stats.prefill_s += time.perf_counter() - begun
        self.stats.prompt_tokens += int(lengths.sum())
        seen = _seen_tokens(ids, valid[:, :width], logits.shape[-1]) if params.repetition_penalty != 1 else None

        begun = time.perf_counter()
        live = list(range(rows))  # original row of each row still in the batch
        made: list[list[int]] = [[] for _ in prompts]
        finished = [False] * rows
        position = lengths.clone()  # of the token about to be fed
        for step in range(params.max_tokens):
            token = self._choose(logits, seen, params, sampler)
            for k, r in enumerate(live):
                if finished[r]:
                    continue  # still in the batch until it is compacted; its tokens are not kept
                made[r].append(int(token[k]))
                if int(token[k]) in self.end_ids or _stopped(self.tokenizer, made[r], params.stop):
                    finished[r] = True
            if step == params.max_tokens - 1 or all(finished[r] for r in live):
                break
            if seen is not None:
                seen[torch.arange(len(live)), token] = True
            done = sum(finished[r] for r in live)
            if done and done * 4 >= len(live):
                keep = torch.tensor([k for k, r in enumerate(live) if not finished[r]])
                live = [r for r in live if not finished[r]]
                for layer in layers:
                    layer.keep_rows(keep)
                token, position, valid = token[keep], position[keep], valid[keep]
                seen = seen[keep] if seen is not None else None
            filled = width + step + 1
            valid[:, filled - 1] = True
            logits = self._forward(token[:, None], position[:, None], valid[:, None, None, :filled], cache)
            position = position + 1
            self.stats.steps += 1
            self.stats.row_steps += len(live)
            self.stats.cached_reads += int(valid[:, :filled].sum())
        self.stats.decode_s += time.perf_counter() - begun
        self.stats.output_tokens += sum(len(m) for m in made)
        return [[t for t in m if t not in self.end_ids] for m in made]

    def _prefill(self, ids: torch.Tensor, lengths: torch.Tensor, layers: list[GrowingLayer]) -> torch.Tensor:
        """Next-token logits at each prompt's last token; the prompts' keys and values go into
        `layers`. Run in slices of about `prefill_tokens`: one pass over a whole batch of long
        prompts is slower (its activations leave the cache: 1,001 against 1,552 tokens/s measured
        for 64 against 16 prompts of 464 tokens)."""
        from transformers.cache_utils import DynamicCache

        rows, width = ids.shape
        step = max(1, self.prefill_tokens // width)
        decoder, found = self.model.get_decoder(), []
        for start in range(0, rows, step):
            part = slice(start, min(start + step, rows))
            piece = DynamicCache()
            out = decoder(input_ids=ids[part].to(self.device), past_key_values=piece, use_cache=True)
            hidden = out.last_hidden_state
            for layer, filled in zip(layers, piece.layers, strict=True):
                if not isinstance(filled, CacheLayerMixin) or filled.keys is None or filled.values is None:
                    raise TypeError(f"a decoder layer filled no key/value cache ({type(filled).__name__})")
                layer.fill(part, filled.keys, filled.values, rows)
            found.append(hidden[torch.arange(hidden.shape[0]), (lengths[part] - 1).to(self.device)])
        return next_token_logits(self.model, torch.cat(found))

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, cache: Cache) -> torch.Tensor:
        out = self.model(input_ids=ids.to(self.device), position_ids=positions.to(self.device),
                         attention_mask=mask.to(self.device), past_key_values=cache, use_cache=True,
                         logits_to_keep=1)  # fmt: skip
        return out.logits[:, -1, :].float().cpu()

    @staticmethod
    def _choose(logits: torch.Tensor, seen: torch.Tensor | None, params: GenerationParams,
                sampler: torch.Generator) -> torch.Tensor:  # fmt: skip
        if seen is not None:
            penalty = params.repetition_penalty
            logits = torch.where(seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits)
        if params.temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1:
            ranked, index = probs.sort(dim=-1, descending=True)
            outside = ranked.cumsum(-1) - ranked > params.top_p  # keep the smallest set reaching top_p
            probs = torch.zeros_like(probs).scatter(-1, index, ranked.masked_fill(outside, 0))
        return torch.multinomial(probs, 1, generator=sampler)[:, 0]


def next_token_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """The LM head on final hidden states, as the model's own forward applies it (float32)."""
    head = model.get_output_embeddings()
    logits = head(hidden).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.cpu()


def _seen_tokens(ids: torch.Tensor, valid: torch.Tensor, vocab: int) -> torch.Tensor:
    seen = torch.zeros((ids.shape[0], vocab), dtype=torch.bool)
    rows, _ = valid.nonzero(as_tuple=True)
    seen[rows, ids[valid]] = True
    return seen


def _end_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokens that end a turn: the generation config's end ids (SmolLM2: <|im_end|>) and the
    tokenizer's end of text."""
    found = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(found if isinstance(found, list) else [found] if found is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _stopped(tokenizer: Any, tokens: list[int], stops: tuple[str, ...]) -> bool:
    if not stops:
        return False
    tail = tokenizer.decode(tokens[-16:], skip_special_tokens=True)  # a stop string ends in the last tokens
    return any(s in tail for s in stops)
