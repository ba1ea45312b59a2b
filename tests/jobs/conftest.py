from __future__ import annotations

from pathlib import Path

import pytest

from colrec_store.config import Settings
from jobs.common.context import JobContext
from tests.tiny_llm import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llm-jobs") / "tiny", fluent=True)


@pytest.fixture
def llm_ctx(settings: Settings, tiny_model: Path) -> JobContext:
    """A job context whose LLM is the tiny random model on the transformers back end."""
    return JobContext(settings.model_copy(update={"llm_backend": "transformers", "llm_model": str(tiny_model)}))
