"""Sentence vectors kept in memory and shared by concurrent requests (a thread-safe LRU).

Abstract sentences come back question after question (the same papers are retrieved again, a chat's
follow-ups cite the same abstracts), so each is embedded once and kept until it is the least recently
used of ``size``. The lock guards only the dictionary: texts not cached are embedded outside it, so
requests don't wait on each other's embedding.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.embedders import Embedder

if TYPE_CHECKING:
    import numpy as np


class VectorCache:
    def __init__(self, embedder: Embedder, size: int) -> None:
        self.embedder = embedder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Every text's vector (float32, as the embedder normalised it), embedding only the ones not
        cached, in one call."""
        texts = list(dict.fromkeys(texts))
        with self._lock:
            found = {t: v for t in texts if (v := self._vectors.get(t)) is not None}
        fresh = [t for t in texts if t not in found]
        if fresh:
            import numpy as np  # on first use: importing the engine stays cheap

            embedded = np.asarray(self.embedder.embed_batch(fresh), dtype=np.float32)
            found.update(zip(fresh, embedded, strict=True))
        with self._lock:
            for text in texts:
                self._vectors[text] = found[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return found

    def similarity(self, question: str, texts: Sequence[str]) -> list[float]:
        """The cosine of ``question`` with each of ``texts`` (the embedder's vectors are unit length)."""
        found = self.vectors([question, *texts])
        asked = found[question]
        return [float(asked @ found[text]) for text in texts]
