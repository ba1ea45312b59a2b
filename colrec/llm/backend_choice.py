"""`COLREC_LLM_BACKEND=auto`: the back end that finishes a batch of LLM work soonest, start-up
included, from each back end's start-up seconds and prompts/s as measured on this machine.

vLLM compiles for two minutes or more in every new process on a CPU; the transformers engine
starts in seconds and, for Yes/No scoring, computes each shared prompt prefix once (vLLM cannot on a
first pass). So a night of 45 incremental prompts should not wait on a compile, and a night of
20,000 should take whichever is faster per prompt. Every finished batch records what it measured
(an average over the last runs, per machine, back end, kind of work and dtype); until a figure is
recorded the priors below stand in.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKENDS = ("vllm", "transformers")
KEEP = 0.7  # weight of the previous average when a new measurement is recorded

# (backend, kind, device) -> (start-up seconds, prompts per second) until this machine records its own.
# CPU Yes/No: benchmarks/results/llm_scoring-cpu.json (2-core AVX-512+bf16, SmolLM2-135M, bf16):
# vLLM started in 76-84 s and scored 25 (rerank-shaped) and 14 (score-shaped) prompts/s, the
# transformers prefix-tree pass 34 and 10 in about 1 s; the priors sit below both. CPU generation:
# benchmarks/results/llm_generation-cpu.json (2-core Xeon with AMX, bf16, ML-100K profile and
# rationale prompts): vLLM 1.85 prompts/s after a 134 s start, transformers 1.05 after 8 s. GPU
# figures were not measured here: rough guesses that the first measured batch replaces.
PRIORS: dict[tuple[str, str, str], tuple[float, float]] = {
    ("vllm", "yes_no", "cpu"): (80.0, 18.0),
    ("transformers", "yes_no", "cpu"): (2.0, 18.0),
    ("vllm", "generate", "cpu"): (135.0, 1.8),
    ("transformers", "generate", "cpu"): (8.0, 1.0),
    ("vllm", "yes_no", "cuda"): (60.0, 2000.0),
    ("transformers", "yes_no", "cuda"): (10.0, 400.0),
    ("vllm", "generate", "cuda"): (60.0, 200.0),
    ("transformers", "generate", "cuda"): (10.0, 10.0),
}


@dataclass(frozen=True)
class Choice:
    backend: str
    why: str


def machine_key(device: str) -> str:
    """Rates belong to a machine: its name, processor and the device the model runs on."""
    return f"{platform.node()}|{platform.processor() or platform.machine()}|{device}"


class EngineRates:
    """Measured start-up and rate per back end, in a JSON file under the model dir."""

    def __init__(self, path: Path, device: str) -> None:
        self.path, self.device, self.key = path, device, machine_key(device)

    def _all(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # none recorded yet, or a torn file: the priors stand in

    def get(self, backend: str, kind: str, dtype: str) -> tuple[float, float, bool]:
        """(start-up s, prompts/s, measured here?)"""
        entry = self._all().get(self.key, {}).get(f"{backend}/{kind}/{dtype}")
        if entry:
            return float(entry["startup_s"]), float(entry["prompts_per_s"]), True
        startup, rate = PRIORS[(backend, kind, self.device)]
        return startup, rate, False

    def record(self, backend: str, kind: str, dtype: str, *, startup_s: float | None, prompts: int,
               seconds: float) -> None:  # fmt: skip
        if prompts < 16 or seconds <= 0:
            return  # too few to say anything about a rate
        data = self._all()
        entries = data.setdefault(self.key, {})
        name = f"{backend}/{kind}/{dtype}"
        old = entries.get(name)
        rate = prompts / seconds
        if old:
            rate = KEEP * old["prompts_per_s"] + (1 - KEEP) * rate
            startup_s = old["startup_s"] if startup_s is None else KEEP * old["startup_s"] + (1 - KEEP) * startup_s
        elif startup_s is None:
            startup_s = PRIORS[(backend, kind, self.device)][0]
        entries[name] = {"startup_s": round(startup_s, 2), "prompts_per_s": round(rate, 3),
                         "runs": (old or {}).get("runs", 0) + 1}  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(data, indent=1, sort_keys=True))
        partial.replace(self.path)  # a reader never sees half a file


def choose(kind: str, prompts: int, dtype: str, rates: EngineRates, *, running: set[str], vllm_installed: bool,
           cuda: bool) -> Choice:  # fmt: skip
    """The back end with the least expected seconds for `prompts` prompts of `kind`. A back end
    already running in this process costs no start-up."""
    if not vllm_installed:
        return Choice("transformers", "auto: vLLM is not installed")
    costs = {}
    for backend in BACKENDS:
        startup, rate, measured = rates.get(backend, kind, dtype)
        wait = 0.0 if backend in running else startup
        costs[backend] = (wait + prompts / rate, wait, rate, measured)
    best = min(costs, key=lambda b: costs[b][0])
    parts = [f"{b} {c[0]:.0f} s ({c[1]:.0f} s start + {c[2]:.1f}/s, {'measured' if c[3] else 'prior'})"
             for b, c in costs.items()]  # fmt: skip
    return Choice(best, f"auto on {'cuda' if cuda else 'cpu'}, {prompts} {kind} prompts: " + "; ".join(parts))
