"""The remembering embedder: the packaged embedder's own vectors, each text embedded once while
it is remembered, the least recently used forgotten first, and safe across threads."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from core.knowledge.embedding_cache import RememberingEmbedder
from core.ports import Embedder, Vectors

pytestmark = pytest.mark.slow

PASSAGES = [
    "Travel must be booked through the travel desk.",
    "Everyone has 27 days of paid holiday.",
    "Expenses are paid back within ten working days.",
]


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self.embedded: list[str] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return self.inner.embed(texts)


def test_vectors_are_the_embedders_and_each_text_is_embedded_once(embedder: Embedder) -> None:
    counting = Counting(embedder)
    remembering = RememberingEmbedder(counting)
    first = remembering.embed(["Can I book my own travel?", *PASSAGES])
    assert np.allclose(first, embedder.embed(["Can I book my own travel?", *PASSAGES]), atol=1e-5)

    second = remembering.embed(["How many days off do I get?", *PASSAGES, PASSAGES[0]])
    assert counting.embedded == ["Can I book my own travel?", *PASSAGES, "How many days off do I get?"]
    assert np.allclose(second[1:4], first[1:4]) and np.allclose(second[4], first[1])
    assert second.shape == (5, embedder.dimension) and second.dtype == np.float32
    assert remembering.embed([]).shape == (0, embedder.dimension)
    assert remembering.count_tokens(PASSAGES[0]) == embedder.count_tokens(PASSAGES[0])


def test_the_least_recently_used_text_is_forgotten_first(embedder: Embedder) -> None:
    counting = Counting(embedder)
    remembering = RememberingEmbedder(counting, size=2)
    remembering.embed(PASSAGES[:2])
    remembering.embed([PASSAGES[0]])  # used again: the second passage is now the oldest
    remembering.embed([PASSAGES[2]])
    assert len(remembering) == 2
    counting.embedded.clear()
    remembering.embed(PASSAGES)
    assert counting.embedded == [PASSAGES[1]]
    with pytest.raises(ValueError):
        RememberingEmbedder(counting, size=0)


def test_threads_embedding_at_once_all_get_their_vectors(embedder: Embedder) -> None:
    remembering = RememberingEmbedder(embedder, size=4)
    expected = embedder.embed(PASSAGES)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def ask(order: list[int]) -> None:
        try:
            for _ in range(5):
                vectors = remembering.embed([PASSAGES[i] for i in order])
                results.append(vectors)
                assert np.allclose(vectors, expected[order], atol=1e-5)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(order,)) for order in ([0, 1, 2], [2, 1, 0], [1, 1, 2], [0, 2, 0])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 20
    assert len(remembering) <= 4
