"""The loss summary a finetune run records: first/last step and the means of the first and last quarter."""

from __future__ import annotations

from colrec.finetune.sft import loss_summary


def test_loss_summary_means_a_quarter_of_the_steps() -> None:
    summary = loss_summary([4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    assert summary == {"loss_first": 4.0, "loss_last": 0.5, "loss_start_mean": 3.5, "loss_end_mean": 0.75}


def test_loss_summary_caps_the_window_and_handles_short_runs() -> None:
    long = loss_summary([float(k) for k in range(100, 0, -1)])
    assert (long["loss_start_mean"], long["loss_end_mean"]) == (95.5, 5.5)  # 10 steps each end
    assert loss_summary([2.0]) == {"loss_first": 2.0, "loss_last": 2.0, "loss_start_mean": 2.0, "loss_end_mean": 2.0}
    assert set(loss_summary([]).values()) == {None}
