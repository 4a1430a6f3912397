"""BM25 over the same chunks as the vector store (bm25s), persisted beside the manifest.

Only the ingest (the one writer) builds it, from the manifest, once per ingest. Each build
goes to its own directory ``bm25/v<manifest version>/``; a pointer file ``bm25/CURRENT``
names the published one and is replaced atomically, so readers load a complete index or
the previous one, never a half-written one, and never write anything themselves. A long-
lived reader compares ``CURRENT`` with what it loaded before each query (one small file
read) and reloads when an ingest published a new build. Older builds are deleted by the
writer, keeping the previous one for readers that are still loading it.

We use bm25s directly rather than llama-index's BM25Retriever: it persists only ids (not
whole nodes), and its ``weight_mask`` lets filters apply inside retrieval.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.errors import IndexDamagedError

CURRENT = "CURRENT"


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _tokenize(texts: Sequence[str], *, return_ids: bool = True) -> Any:
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=return_ids
    )


def published(directory: Path) -> str | None:
    """Name of the published build (e.g. 'v12'), or None when nothing was published yet."""
    try:
        name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def version_of(name: str | None) -> int | None:
    return int(name[1:]) if name and name[1:].isdigit() else None


class BM25Index:
    def __init__(self, directory: Path, name: str | None, retriever: Any, chunk_ids: list[str]) -> None:
        self.directory = directory
        self.name = name  # the build this was loaded from ('v12'); None for an empty index
        self.retriever = retriever
        self.chunk_ids = chunk_ids

    @property
    def version(self) -> int | None:
        return version_of(self.name)

    @classmethod
    def build(cls, directory: Path, chunk_ids: list[str], texts: list[str], version: int) -> BM25Index:
        """Build the index of manifest ``version``, publish it, and delete builds nobody needs."""
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            retriever.index(_tokenize(texts), show_progress=False)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=directory))
        try:
            if texts:
                retriever.save(str(tmp))
            (tmp / "chunk_ids.json").write_text(json.dumps(chunk_ids))
            name = f"v{version}"
            target = directory / name
            if target.exists():  # an earlier build of the same version (a run that stopped before CURRENT)
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        pointer = directory / f".{CURRENT}.{os.getpid()}"
        pointer.write_text(name, encoding="utf-8")
        previous = published(directory)
        os.replace(pointer, directory / CURRENT)
        for old in directory.iterdir():  # keep this build and the previous one (readers may be loading it)
            if old.name not in (name, previous, CURRENT) and (
                old.name.startswith("v") or old.name.startswith(".build-")
            ):
                shutil.rmtree(old, ignore_errors=True)
        return cls(directory, name, retriever if texts else None, chunk_ids)

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        """The published build; an empty index when nothing was published yet."""
        import bm25s

        tried: str | None = None
        while True:  # the writer may replace CURRENT and delete a build while we read
            name = published(directory)
            if name is None:
                return cls(directory, None, None, [])
            try:
                chunk_ids = json.loads((directory / name / "chunk_ids.json").read_text())
                retriever = bm25s.BM25.load(str(directory / name), mmap=False) if chunk_ids else None
                return cls(directory, name, retriever, chunk_ids)
            except FileNotFoundError as exc:
                if name != tried:  # CURRENT moved on while we read: load the newer build
                    tried = name
                    continue
                problem: Exception = exc  # the published build itself is missing files
            except (OSError, ValueError, KeyError) as exc:
                problem = exc
            raise IndexDamagedError(
                f"the lexical index {directory / name} is damaged ({problem}); run 'askpapers ingest' "
                "on your inputs to rebuild it (nothing is re-embedded)"
            ) from None

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
