"""BM25 over the same chunks as the vector store (bm25s), persisted beside the manifest.

It is rebuilt from the manifest whenever the manifest's version moved (a stamp file
records which version it was built from), so the two can't drift apart, even after an
interrupted ingest. We use bm25s directly rather than llama-index's BM25Retriever:
it persists only ids (not whole nodes), and its ``weight_mask`` lets filters apply
inside retrieval.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_STAMP = "stamp.json"


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokenize(texts: Sequence[str], *, return_ids: bool = True) -> Any:
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=return_ids
    )


class BM25Index:
    def __init__(self, directory: Path, retriever: Any, chunk_ids: list[str], version: int) -> None:
        self.directory = directory
        self.retriever = retriever
        self.chunk_ids = chunk_ids
        self.version = version

    @staticmethod
    def stamp(directory: Path) -> int | None:
        try:
            return int(json.loads((directory / _STAMP).read_text())["version"])
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def build(cls, directory: Path, chunk_ids: list[str], texts: list[str], version: int) -> BM25Index:
        """Build and atomically replace the index directory."""
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            retriever.index(_tokenize(texts), show_progress=False)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        if texts:
            retriever.save(str(tmp))
        (tmp / "chunk_ids.json").write_text(json.dumps(chunk_ids))
        (tmp / _STAMP).write_text(json.dumps({"version": version, "chunks": len(chunk_ids)}))
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
        return cls(directory, retriever if texts else None, chunk_ids, version)

    def search(self, query: str, n: int, mask: Any = None) -> list[tuple[str, float]]:
        """Top ``n`` (chunk id, BM25 score) pairs with a positive score; ``mask`` zeroes chunks out."""
        if self.retriever is None or not self.chunk_ids:
            return []
        tokens = _tokenize([query], return_ids=False)
        if not tokens or not tokens[0]:
            return []
        n = min(n, len(self.chunk_ids))
        docs, scores = self.retriever.retrieve(
            tokens, k=n, show_progress=False, n_threads=1, weight_mask=mask
        )
        return [
            (self.chunk_ids[int(d)], float(sc)) for d, sc in zip(docs[0], scores[0], strict=True) if sc > 0
        ]

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        import bm25s

        chunk_ids = json.loads((directory / "chunk_ids.json").read_text())
        retriever = bm25s.BM25.load(str(directory), mmap=False) if chunk_ids else None
        return cls(directory, retriever, chunk_ids, cls.stamp(directory) or 0)
