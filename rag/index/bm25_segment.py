"""One segment of the lexical index: the term frequencies of a set of chunks, memory-mapped.

A segment stores raw counts, not BM25 scores: term frequencies per (term, chunk) in a CSC layout
(postings of a term are ``docs[ptr[i]:ptr[i+1]]`` / ``tf[...]``), each chunk's length, and its
papers' filter columns. BM25 needs corpus-wide statistics (document frequency, average length),
and those change whenever papers are added; keeping counts lets several segments be scored
together with one set of statistics (rag/index/lexical.py), so adding a few papers writes one
small segment instead of rebuilding the index.

We step outside bm25s here (it built our index until issue 12): bm25s stores scores with the
corpus's idf and average length baked in, so any addition meant rescoring every chunk — measured
25.8 s at 200 k papers for one new paper. Scoring from counts costs one vectorised pass over
each query term's postings (bench/scale.py), and the formula is bm25s's default (Lucene), so a
fresh one-segment index scores exactly as bm25s did (tests/test_lexical_segments.py).

Terms are stored as 64-bit keys (a BLAKE2b digest of the stemmed term), sorted, so a segment
opens by memory-mapping a few arrays: no vocabulary dictionary is built at load time. Two terms
sharing a key is astronomically unlikely (about n²/2⁶⁵ for n distinct terms).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.index.filtering import FilterColumns, FilterFields
from rag.text import terms

if TYPE_CHECKING:
    import numpy as np

    from rag.records import Chunk

_ARRAYS = ("keys", "ptr", "docs", "tf", "lengths", "rows")
_IDS = "chunk_ids.json"
_PAPERS = "paper_ids.json"
_COLUMNS = "filters.npz"
_VECTORS = "vectors.npy"


def _numbers(values: array[Any], dtype: type) -> np.ndarray:
    import numpy as np

    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


def vector_bytes(vector: Sequence[float]) -> bytes:
    """A chunk's vector as the manifest keeps it: float16, within ~1e-3 of the float32 one."""
    import numpy as np

    return np.asarray(vector, dtype=np.float16).tobytes()


def term_key(term: str) -> int:
    """The 64-bit key a term is stored under."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


class Segment:
    """Term frequencies of some chunks (module docstring); rows are the segment's chunks in order."""

    def __init__(
        self,
        chunk_ids: list[str],
        paper_ids: list[str],
        arrays: dict[str, np.ndarray],
        columns: FilterColumns,
    ) -> None:
        self.chunk_ids = chunk_ids
        self.paper_ids = paper_ids  # the papers of the filter columns, by row
        self.keys, self.ptr, self.docs, self.tf = arrays["keys"], arrays["ptr"], arrays["docs"], arrays["tf"]
        self.lengths = arrays["lengths"]  # tokens per chunk
        self.rows = arrays["rows"]  # per chunk: its paper's row in the filter columns
        self.columns = columns
        self.vectors: np.ndarray | None = arrays.get("vectors")  # float32 [rows, dim], when every row has one

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def build(cls, rows: Iterable[tuple[Chunk, FilterFields]]) -> Segment:
        """Count the terms of ``rows`` (chunks grouped by paper, as the manifest yields them)."""
        import numpy as np

        vocab: dict[str, int] = {}
        term_ids, doc_ids, freqs, lengths, paper_rows = (
            array("i"),
            array("i"),
            array("f"),
            array("i"),
            array("i"),
        )
        chunk_ids: list[str] = []
        paper_ids: list[str] = []
        papers: dict[str, int] = {}
        fields: list[FilterFields] = []
        for chunk, paper_fields in rows:
            if chunk.paper_id not in papers:
                papers[chunk.paper_id] = len(fields)
                paper_ids.append(chunk.paper_id)
                fields.append(paper_fields)
            doc = len(chunk_ids)
            chunk_ids.append(chunk.id)
            paper_rows.append(papers[chunk.paper_id])
            tokens = terms(chunk.text)
            lengths.append(len(tokens))
            counts = Counter(tokens)
            term_ids.extend(vocab.setdefault(t, len(vocab)) for t in counts)
            freqs.extend(counts.values())
            doc_ids.extend([doc] * len(counts))
        keys = np.fromiter((term_key(t) for t in vocab), dtype=np.uint64, count=len(vocab))
        by_key = np.argsort(keys, kind="stable")
        rank = np.empty(len(vocab), dtype=np.int32)
        rank[by_key] = np.arange(len(vocab), dtype=np.int32)
        ranked = rank[_numbers(term_ids, np.int32)]
        order = np.argsort(ranked, kind="stable")  # by term, chunks in order within a term
        ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(ranked, minlength=len(vocab)), out=ptr[1:])
        arrays: dict[str, np.ndarray] = {
            "keys": keys[by_key],
            "ptr": ptr,
            "docs": _numbers(doc_ids, np.int32)[order],
            "tf": _numbers(freqs, np.float32)[order],
            "lengths": _numbers(lengths, np.int32),
            "rows": _numbers(paper_rows, np.int32),
        }
        return cls(chunk_ids, paper_ids, arrays, FilterColumns.build(fields))

    def attach_vectors(self, lookup: Callable[[Sequence[str]], dict[str, bytes]]) -> None:
        """Take each chunk's stored vector (``Manifest.chunk_vectors``); none when any chunk lacks one
        (an index from before vectors were kept: filtered dense search then stays in Chroma)."""
        import numpy as np

        found = lookup(self.chunk_ids)
        if not self.chunk_ids or len(found) < len(self.chunk_ids):
            self.vectors = None
            return
        # float32 on disk (from the manifest's float16): numpy converts float16 at ~0.6 GB/s, which made
        # gathering the rows a filter passes 2.6x slower than reading float32 (34 vs 13 ms for 40 k rows)
        self.vectors = np.stack([np.frombuffer(found[c], dtype=np.float16) for c in self.chunk_ids]).astype(
            np.float32
        )

    def postings(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk rows, term frequencies) of the term with ``key``; empty arrays when absent."""
        import numpy as np

        at = int(np.searchsorted(self.keys, np.uint64(key)))
        if at >= len(self.keys) or int(self.keys[at]) != key:
            return self.docs[:0], self.tf[:0]
        start, end = int(self.ptr[at]), int(self.ptr[at + 1])
        return self.docs[start:end], self.tf[start:end]

    def save(self, directory: Path) -> None:
        import numpy as np

        directory.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(directory / f"{name}.npy", getattr(self, name))
        if self.vectors is not None:
            np.save(directory / _VECTORS, self.vectors)
        (directory / _IDS).write_text(json.dumps(self.chunk_ids))
        (directory / _PAPERS).write_text(json.dumps(self.paper_ids))
        self.columns.save(directory / _COLUMNS)

    @classmethod
    def load(cls, directory: Path) -> Segment:
        """Open a saved segment; its arrays are memory-mapped (read only when a query touches them)."""
        import numpy as np

        arrays: dict[str, np.ndarray] = {
            name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in _ARRAYS
        }
        if (directory / _VECTORS).exists():
            arrays["vectors"] = np.load(directory / _VECTORS, mmap_mode="r")
        chunk_ids = json.loads((directory / _IDS).read_text())
        paper_ids = json.loads((directory / _PAPERS).read_text())
        if len(arrays["lengths"]) != len(chunk_ids) or len(arrays["rows"]) != len(chunk_ids):
            raise ValueError(f"{len(chunk_ids)} chunk ids but {len(arrays['lengths'])} lengths")
        return cls(chunk_ids, paper_ids, arrays, FilterColumns.load(directory / _COLUMNS))
