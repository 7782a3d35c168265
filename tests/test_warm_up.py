"""`tidings run` loads the embedding model while it starts, so the first question after a
start does not wait for sentence-transformers to import and load; a model that cannot load is
reported in one line and the bot starts anyway (the question path reports it to the user)."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from bots.runner import warm_up
from core.knowledge.embedding import SentenceTransformerEmbedder

pytestmark = pytest.mark.slow


def test_warm_up_loads_the_embedder_before_any_question(embedder: SentenceTransformerEmbedder) -> None:
    fresh = SentenceTransformerEmbedder(model_path=embedder.model_path, threads=1)
    assert fresh._model is None  # loaded lazily: nothing has asked it anything yet
    warm_up(SimpleNamespace(embedder=fresh))  # type: ignore[arg-type]
    assert fresh._model is not None


def test_an_embedder_that_cannot_load_is_reported_and_start_goes_on(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    broken = SentenceTransformerEmbedder(model_path=str(tmp_path / "no-model-here"), threads=1)
    with caplog.at_level(logging.WARNING, logger="bots.runner"):
        warm_up(SimpleNamespace(embedder=broken))  # type: ignore[arg-type]
    (record,) = [r for r in caplog.records if r.name == "bots.runner"]
    assert "did not load at start" in record.getMessage() and "no-model-here" in record.getMessage()
