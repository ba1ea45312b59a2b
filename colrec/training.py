"""What the trainers (CAR, SARE, fine-tuning recipes) share: arguments, and their progress on the logger
(transformers' trainer would print loss dicts on stdout, where `--json` output goes)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, ProgressCallback, TrainerCallback

log = logging.getLogger(__name__)


class LogProgress(TrainerCallback):
    def __init__(self, name: str) -> None:
        self.name = name

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
        if logs:
            log.info("%s step %d/%d: %s", self.name, state.global_step, state.max_steps, logs)


def arguments(out: Path, epochs: int, batch_size: int, lr: float, seed: int) -> dict[str, Any]:
    return {
        "output_dir": str(out.with_name(out.name + ".checkpoints")), "num_train_epochs": epochs,
        "per_device_train_batch_size": batch_size, "learning_rate": lr, "seed": seed, "data_seed": seed,
        "save_strategy": "no", "report_to": [], "logging_steps": 10, "disable_tqdm": True,
        "use_cpu": not torch.cuda.is_available(),
    }  # fmt: skip


def quiet_loading() -> None:
    """ "Loading weights" bars are noise in cron logs."""
    import sys

    from transformers.utils import logging as hf_logging

    if not sys.stderr.isatty():
        hf_logging.disable_progress_bar()
        import datasets

        datasets.disable_progress_bars()  # "Tokenizing train dataset" bars too


def quiet(trainer: Any, name: str) -> Any:
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(LogProgress(name))
    return trainer
