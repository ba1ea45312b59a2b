"""What the trainers (CAR, SARE, fine-tuning recipes) share: arguments, and their progress on the logger
(transformers' trainer would print loss dicts on stdout, where `--json` output goes)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, ProgressCallback, TrainerCallback

log = logging.getLogger(__name__)


class LogProgress(TrainerCallback):
    """Each logged step with its loss, and the time left at the rate of the steps this process ran
    (a resumed run counts from where it resumed)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started: tuple[float, int] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.started = None  # the first step's begin, after a resume has moved global_step

    def on_step_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self.started is None:
            self.started = (time.monotonic(), state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
        if logs:
            log.info("%s step %d/%d%s: %s", self.name, state.global_step, state.max_steps, self.eta(state), logs)

    def eta(self, state: Any) -> str:
        if self.started is None or state.global_step <= self.started[1]:
            return ""
        per_step = (time.monotonic() - self.started[0]) / (state.global_step - self.started[1])
        left = max(0, state.max_steps - state.global_step) * per_step
        return f" ({per_step:.1f} s/step, {left / 3600:.1f} h left)" if left >= 3600 else (
            f" ({per_step:.1f} s/step, {left / 60:.0f} min left)")  # fmt: skip


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
