from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_llm import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llm-jobs") / "tiny", fluent=True)
