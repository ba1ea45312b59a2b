"""`COLREC_LLM_BACKEND=auto`: the back end with the least expected time, start-up included, from
what this machine measured (priors until then)."""

from __future__ import annotations

import json
from pathlib import Path

from colrec.llm.backend_choice import PRIORS, EngineRates, choose


def test_a_small_batch_skips_the_compile_and_a_large_one_takes_the_faster_rate(tmp_path: Path) -> None:
    rates = EngineRates(tmp_path / "rates.json", "cpu")
    small = choose("generate", 45, "bfloat16", rates, running=set(), vllm_installed=True, cuda=False)
    assert small.backend == "transformers" and "prior" in small.why
    vllm_start, vllm_rate = PRIORS[("vllm", "generate", "cpu")]
    hf_start, hf_rate = PRIORS[("transformers", "generate", "cpu")]
    even = (vllm_start - hf_start) / (1 / hf_rate - 1 / vllm_rate)  # where both take as long
    large = choose("generate", int(even) + 10, "bfloat16", rates, running=set(), vllm_installed=True, cuda=False)
    assert large.backend == "vllm"
    warm = choose("generate", int(even) - 10, "bfloat16", rates, running={"vllm"}, vllm_installed=True, cuda=False)
    assert warm.backend == "vllm"  # already started: no start-up to pay
    alone = choose("generate", 10**6, "bfloat16", rates, running=set(), vllm_installed=False, cuda=False)
    assert alone.backend == "transformers" and "not installed" in alone.why


def test_measured_rates_replace_the_priors_and_average(tmp_path: Path) -> None:
    path = tmp_path / "models" / "rates.json"
    rates = EngineRates(path, "cpu")
    rates.record("vllm", "yes_no", "bfloat16", startup_s=100.0, prompts=1000, seconds=10.0)  # 100/s
    assert rates.get("vllm", "yes_no", "bfloat16") == (100.0, 100.0, True)
    rates.record("vllm", "yes_no", "bfloat16", startup_s=None, prompts=1000, seconds=5.0)  # 200/s
    startup, rate, measured = rates.get("vllm", "yes_no", "bfloat16")
    assert measured and startup == 100.0 and rate == 0.7 * 100 + 0.3 * 200
    rates.record("vllm", "yes_no", "bfloat16", startup_s=1.0, prompts=3, seconds=0.01)  # too few to count
    assert rates.get("vllm", "yes_no", "bfloat16")[1] == rate
    # measured: vLLM at 130/s after 100 s beats transformers' prior for a big batch only
    cpu = {"running": set(), "vllm_installed": True, "cuda": False}
    assert choose("yes_no", 100_000, "bfloat16", rates, **cpu).backend == "vllm"
    assert choose("yes_no", 300, "bfloat16", rates, **cpu).backend == "transformers"
    other = EngineRates(path, "cuda")  # another device: its own figures
    assert other.get("vllm", "yes_no", "bfloat16")[2] is False


def test_a_torn_rates_file_falls_back_to_the_priors(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text('{"half a fi')
    rates = EngineRates(path, "cpu")
    assert rates.get("transformers", "yes_no", "float32")[2] is False
    rates.record("transformers", "yes_no", "float32", startup_s=2.0, prompts=64, seconds=2.0)
    assert next(iter(json.loads(path.read_text()).values()))["transformers/yes_no/float32"]["prompts_per_s"] == 32.0
