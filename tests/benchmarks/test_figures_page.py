"""docs/figures.md is what benchmarks/figures_page.py makes of benchmarks/results/*.json."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import figures_page


def test_the_checked_in_page_is_generated_from_the_results() -> None:
    assert figures_page.PAGE.read_text() == figures_page.render(), "run `python -m benchmarks.figures_page`"


def test_a_results_file_becomes_tables(tmp_path: Path) -> None:
    payload = {"machine": {"cpus": 2}, "model": "mf", "goal": None,
               "rows": [{"size": 10, "seconds": 1.23456}, {"size": 20, "seconds": 2.5, "note": "a|b"}]}  # fmt: skip
    (tmp_path / "cf_scale-tiny.json").write_text(json.dumps(payload))
    page = figures_page.render(tmp_path)
    assert "## cf_scale-tiny" in page and "`benchmarks/cf_scale.py`: How big a window" in page
    assert "| machine.cpus | 2 |" in page and "| goal | – |" in page
    assert "| size | seconds | note |" in page and "| 10 | 1.235 |  |" in page and "| 20 | 2.5 | a/b |" in page
