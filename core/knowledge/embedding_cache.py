"""An embedder that remembers the vectors of the texts it embedded last.

An answer embeds the passages of the chunks it might quote, and the same chunks come back for
question after question (the handbook's holiday section, the FAQ's top entries): each passage
is embedded once while it stays among the most recently used, not once per question.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from core.ports import Embedder, Vectors

DEFAULT_REMEMBERED = 20_000
"""Texts whose vectors are kept: about 30 MB of all-MiniLM-L6-v2 vectors."""


class RememberingEmbedder:
    """An :class:`core.ports.Embedder` that embeds only the texts it does not remember, in one
    batch, and forgets the least recently used beyond ``size``. Thread safe."""

    def __init__(self, inner: Embedder, *, size: int = DEFAULT_REMEMBERED) -> None:
        if size < 1:
            raise ValueError("A remembering embedder needs room for at least one text.")
        self.inner = inner
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            known = {text: self._vectors[text] for text in texts if text in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        # Embedding runs outside the lock: two threads may embed one text, never wait on each other.
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            fresh = np.asarray(self.inner.embed(missing), dtype=np.float32)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._vectors[text] = vector
                    self._vectors.move_to_end(text)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
            known.update(zip(missing, fresh, strict=True))
        return np.stack([known[text] for text in texts])
