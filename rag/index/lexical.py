"""BM25 over the same chunks as the vector store, persisted beside the manifest in segments.

A build is a list of segments (rag/index/bm25_segment.py: term counts, memory-mapped) plus, per
segment, a mask of the rows a newer segment or a removal superseded. Publishing after an ingest
writes one small segment holding the papers committed (or removed) since the last build — the
manifest's change log says which (``Manifest.changed_since``) — and masks their older rows; when
the small segments outgrow ``merge_share`` of the base ones or number more than ``max_segments``,
everything is rebuilt from the manifest (:class:`MergePolicy`), into segments of at most
``segment_chunks`` chunks so that a rebuild's memory is bounded whatever the corpus size. So adding one paper to 300 k costs one
tiny segment and a mask, not a rebuild, and the index is always scored with corpus-wide
statistics over the live rows of all segments: idf and average length stay exactly those of a
full rebuild (tests/test_lexical_segments.py).

Only the ingest (the one writer) publishes. Each build goes to its own directory ``bm25/v<manifest
version>/`` (its segment list and masks; segments live in ``bm25/segments/``, shared by builds); a
pointer file ``bm25/CURRENT`` names the published one and is replaced atomically, so readers load a
complete build or the previous one, never a half-written one, and never write anything themselves.
A long-lived reader compares ``CURRENT`` with what it loaded before each query (one small file
read) and reloads when an ingest published a new build. The writer keeps the published build and
the previous one (readers may still be loading it) and deletes what neither uses.

Filters are masks from each segment's filter columns (rag/index/filtering.py), at any corpus size.
Chunks and queries are tokenised by :func:`rag.text.terms` (the stopwords and stemmer refusal,
extractive answers and support checking use too).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IndexDamagedError
from rag.index.bm25_segment import Segment, term_key
from rag.index.filtering import Conditions, FilterFields
from rag.text import terms

if TYPE_CHECKING:
    import numpy as np

    from rag.index.interfaces import Manifest
    from rag.records import Chunk
    from rag.types import Filters

CURRENT = "CURRENT"
SEGMENTS = "segments"
_BUILD = "build.json"
#: BM25 parameters when a caller names none: bm25s's defaults (Lucene's). Retrieval passes the ones
#: fitted on SciFact (settings.retrieval.bm25_k1 / bm25_b); raw term counts are stored, so both are
#: query-time choices and changing them needs no rebuild.
K1, B = 1.5, 0.75


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
    """One build: segments, the rows of each that newer ones superseded, and corpus statistics."""

    def __init__(
        self,
        name: str | None,
        segments: list[tuple[str, Segment]],
        dead: dict[str, np.ndarray],
        base: int = 1,
    ) -> None:
        import numpy as np

        self.name = name  # 'v12' for the build of manifest version 12; None for an empty index
        self.segments = segments  # (segment name, segment), oldest first
        self.base = min(base, len(segments))  # the first ``base`` segments are the last full rebuild's
        self.dead = dead  # segment name -> bool per row (True: superseded); absent: all live
        self._live = [
            None if name_ not in dead else ~np.asarray(dead[name_]) for name_, _ in segments
        ]  # per segment: bool mask of live rows, or None when every row is live
        self.n_live = sum(
            len(s) if live is None else int(live.sum())
            for (_, s), live in zip(segments, self._live, strict=True)
        )
        total = sum(
            float(np.sum(s.lengths, dtype=np.float64))
            if live is None
            else float(np.sum(s.lengths[live], dtype=np.float64))
            for (_, s), live in zip(segments, self._live, strict=True)
        )
        self.avg_length = total / self.n_live if self.n_live else 1.0

    @property
    def version(self) -> int | None:
        return version_of(self.name)

    @property
    def chunk_ids(self) -> list[str]:
        """Every live chunk id."""
        out: list[str] = []
        for (_, segment), live in zip(self.segments, self._live, strict=True):
            out += (
                segment.chunk_ids
                if live is None
                else [c for c, ok in zip(segment.chunk_ids, live, strict=True) if ok]
            )
        return out

    @classmethod
    def empty(cls) -> BM25Index:
        return cls(None, [], {})

    @classmethod
    def build(
        cls, rows: Iterable[tuple[Chunk, FilterFields]], version: int, segment_chunks: int | None = None
    ) -> BM25Index:
        """Index ``rows`` in memory (nothing is written): one segment, or one per ``segment_chunks``
        rows, so that building never holds more than that many chunks' counts at once."""
        stream = iter(rows)
        segments: list[tuple[str, Segment]] = []
        while True:
            part = list(itertools.islice(stream, segment_chunks)) if segment_chunks else list(stream)
            if part or not segments:
                segments.append((_segment_name(version), Segment.build(part)))
            if not part or not segment_chunks or len(part) < segment_chunks:
                break
        segments = [s for s in segments if len(s[1])] or segments[:1]
        return cls(f"v{version}", segments, {}, base=len(segments))

    def extend(
        self, rows: Iterable[tuple[Chunk, FilterFields]], changed: set[str], version: int
    ) -> BM25Index:
        """This build plus one segment of ``rows`` (the current chunks of the ``changed`` papers), with
        every older row of a changed paper superseded (a removed paper simply has no new rows)."""
        import numpy as np

        dead: dict[str, np.ndarray] = {}
        for name, segment in self.segments:
            gone = np.fromiter(
                (p in changed for p in segment.paper_ids), dtype=bool, count=len(segment.paper_ids)
            )
            mask = gone[segment.rows] if len(segment) else np.zeros(0, dtype=bool)
            if name in self.dead:
                mask |= np.asarray(self.dead[name])
            if mask.any():
                dead[name] = mask
        delta = Segment.build(rows)
        segments = [*self.segments, (_segment_name(version), delta)] if len(delta) else list(self.segments)
        return BM25Index(f"v{version}", segments, dead, base=self.base)

    def _allowed(self, conditions: Conditions) -> list[tuple[Segment, np.ndarray]]:
        """Per segment, the bool mask of live rows whose papers pass ``conditions``."""
        out = []
        for (_, segment), live in zip(self.segments, self._live, strict=True):
            mask = segment.columns.mask(conditions)[segment.rows]
            out.append((segment, mask if live is None else mask & live))
        return out

    @property
    def has_vectors(self) -> bool:
        return bool(self.segments) and all(s.vectors is not None for _, s in self.segments)

    def dense(self, vector: Sequence[float], n: int, filters: Filters | None) -> list[tuple[str, float]]:
        """Exact cosine top ``n`` among the live chunks whose papers pass ``filters``, from the
        segments' vectors (float16 precision; needs :attr:`has_vectors`). Its cost is the number of chunks that
        pass, not the corpus size: Chroma's own filtered search grew with the corpus (bench/scale.py)."""
        import numpy as np

        conditions = Conditions.of(filters)
        if conditions is None or not self.has_vectors or n <= 0:
            raise ValueError("dense search here is for filtered queries over segments with vectors")
        query = np.asarray(vector, dtype=np.float32)
        found: list[tuple[float, str]] = []
        for segment, allowed in self._allowed(conditions):
            rows = np.flatnonzero(allowed)
            if not len(rows):
                continue
            assert segment.vectors is not None
            sims = segment.vectors[rows] @ query
            top = np.argpartition(-sims, n - 1)[:n] if len(rows) > n else np.arange(len(rows))
            found += [(float(sims[i]), segment.chunk_ids[int(rows[i])]) for i in top]
        found.sort(key=lambda item: (-item[0], item[1]))
        return [(cid, score) for score, cid in found[:n]]

    def search(
        self, query: str, n: int, filters: Filters | None = None, *, k1: float = K1, b: float = B
    ) -> list[tuple[str, float]]:
        """Top ``n`` (chunk id, BM25 score) pairs with a positive score; filters are a mask."""
        import numpy as np

        if not self.n_live or n <= 0:
            return []
        weights = Counter(term_key(t) for t in terms(query))  # a repeated query term counts again (as bm25s)
        if not weights:
            return []
        conditions = Conditions.of(filters)
        keys = sorted(weights)
        postings = [[segment.postings(key) for key in keys] for _, segment in self.segments]
        live_postings = [
            [(docs, tf) if live is None else (docs[live[docs]], tf[live[docs]]) for docs, tf in per_key]
            for per_key, live in zip(postings, self._live, strict=True)
        ]
        df = [sum(len(per_key[i][0]) for per_key in live_postings) for i in range(len(keys))]
        idf = [math.log(1 + (self.n_live - d + 0.5) / (d + 0.5)) for d in df]
        found: list[tuple[np.ndarray, np.ndarray, int]] = []  # (scores, rows, segment index)
        for at, ((_, segment), per_key) in enumerate(zip(self.segments, live_postings, strict=True)):
            if not any(len(docs) for docs, _ in per_key):
                continue
            scores = np.zeros(len(segment), dtype=np.float32)
            for i, (docs, tf) in enumerate(per_key):
                if len(docs):
                    norm = k1 * ((1 - b) + b * segment.lengths[docs] / self.avg_length)
                    scores += np.bincount(
                        docs, weights=weights[keys[i]] * idf[i] * tf / (norm + tf), minlength=len(segment)
                    ).astype(np.float32)
            if conditions is not None:
                scores *= segment.columns.mask(conditions)[
                    segment.rows
                ]  # each chunk takes its paper's verdict
            rows = np.flatnonzero(scores > 0)
            if len(rows) > n:
                rows = rows[np.argpartition(-scores[rows], n - 1)[:n]]
            found.append((scores[rows], rows, at))
        ranked = sorted(
            (
                (float(score), at, int(row))
                for scores, rows, at in found
                for score, row in zip(scores, rows, strict=True)
            ),
            key=lambda item: (-item[0], item[1], item[2]),
        )[:n]
        return [(self.segments[at][1].chunk_ids[row], score) for score, at, row in ranked]

    def save(self, directory: Path, segments_dir: Path) -> None:
        """Write the build's list and masks to ``directory``, and each segment not yet on disk."""
        import numpy as np

        directory.mkdir(parents=True, exist_ok=True)
        for name, segment in self.segments:
            target = segments_dir / name
            if not target.exists():
                tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=segments_dir))
                try:
                    segment.save(tmp)
                    os.replace(tmp, target)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
        for name, mask in self.dead.items():
            np.save(directory / f"dead-{name}.npy", np.asarray(mask))
        listed = {"segments": [name for name, _ in self.segments], "base": self.base}
        (directory / _BUILD).write_text(json.dumps(listed))

    @classmethod
    def load(cls, directory: Path, name: str) -> BM25Index:
        import numpy as np

        build = json.loads((directory / name / _BUILD).read_text())
        segments = [(s, Segment.load(directory / SEGMENTS / s)) for s in build["segments"]]
        dead = {}
        for s, segment in segments:
            path = directory / name / f"dead-{s}.npy"
            if path.exists():
                dead[s] = np.load(path, mmap_mode="r")
                if len(dead[s]) != len(segment):
                    raise ValueError(f"segment {s} has {len(segment)} rows but its mask {len(dead[s])}")
        return cls(name, segments, dead, base=int(build.get("base", 1)))


@dataclass(frozen=True)
class MergePolicy:
    """When an ingest's changes become a new segment and when everything is rebuilt (settings
    ``ingest.lexical_*``, where each value's provenance is written)."""

    max_segments: int = 8  # segments after the base ones; one more means a rebuild
    merge_share: float = 0.25  # later segments' chunks, as a share of the base segments', before a rebuild
    segment_chunks: int = 500_000  # most chunks one segment of a rebuild holds (bounds its memory)


class BM25Builds:
    """Builds published under ``directory`` (see the module docstring); implements LexicalBuilds."""

    def __init__(self, directory: Path, policy: MergePolicy | None = None) -> None:
        self.directory = directory
        self.policy = policy or MergePolicy()
        self._loaded: BM25Index | None = None
        self._lock = threading.Lock()

    def published_version(self) -> int | None:
        """The published build's manifest version; None when none is, or it predates segments."""
        name = published(self.directory)
        return version_of(name) if name and (self.directory / name / _BUILD).exists() else None

    def current(self) -> BM25Index:
        """The published build; reloaded when an ingest published a newer one since the last call."""
        name = published(self.directory)
        loaded = self._loaded
        if loaded is not None and loaded.name == name:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.name != published(self.directory):
                self._loaded = self._load()
            return self._loaded

    def publish(self, manifest: Manifest, version: int) -> BM25Index:
        """Publish the build of manifest ``version``: the previous one plus a segment of what changed
        since it, or a full rebuild (module docstring); then delete what no kept build uses."""
        built = plan_build(self._previous(), manifest, version, self.policy)
        directory = self.directory
        (directory / SEGMENTS).mkdir(parents=True, exist_ok=True)
        name = f"v{version}"
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=directory))
        try:
            built.save(tmp, directory / SEGMENTS)
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
        self._collect(keep=[name, previous])
        with self._lock:
            self._loaded = built
        return built

    def _previous(self) -> BM25Index | None:
        """The published build, when it is in this format and readable (else the next is a full rebuild)."""
        if self.published_version() is None:
            return None
        try:
            return self.current()
        except IndexDamagedError:
            return None

    def _collect(self, keep: Sequence[str | None]) -> None:
        """Delete builds other than ``keep`` and the segments none of those lists."""
        used: set[str] = set()
        for name in keep:
            try:
                used.update(json.loads((self.directory / str(name) / _BUILD).read_text())["segments"])
            except (OSError, ValueError, KeyError):
                continue
        for old in self.directory.iterdir():
            if old.name not in (*(k for k in keep if k), CURRENT, SEGMENTS) and (
                old.name.startswith("v") or old.name.startswith(".build-")
            ):
                shutil.rmtree(old, ignore_errors=True)
        for segment in (self.directory / SEGMENTS).iterdir():
            if segment.name not in used:
                shutil.rmtree(segment, ignore_errors=True)

    def _load(self) -> BM25Index:
        """The published build; an empty index when nothing was published yet."""
        tried: str | None = None
        while True:  # the writer may replace CURRENT and delete a build while we read
            name = published(self.directory)
            if name is None:
                return BM25Index.empty()
            try:
                return BM25Index.load(self.directory, name)
            except FileNotFoundError as exc:
                if name != tried:  # CURRENT moved on while we read: load the newer build
                    tried = name
                    continue
                problem: Exception = exc  # the published build itself is missing files
            except (OSError, ValueError, KeyError) as exc:
                problem = exc
            raise IndexDamagedError(
                f"the lexical index {self.directory / name} is damaged or from an older askpapers ({problem}); "
                "run 'askpapers ingest' on your inputs to rebuild it (nothing is re-embedded)"
            ) from None


def _segment_name(version: int) -> str:
    """A new segment's name: unique, so a run that stopped after writing one never has it reused."""
    return f"s{version}-{os.urandom(4).hex()}"


def plan_build(
    previous: BM25Index | None, manifest: Manifest, version: int, policy: MergePolicy
) -> BM25Index:
    """The build of manifest ``version`` (in memory): ``previous`` extended by what changed since it,
    or a rebuild of everything when there is no usable previous build or the later segments outgrew
    the merge policy."""
    if previous is not None and previous.version is not None and previous.segments:
        changed = manifest.changed_since(previous.version)
        if changed is not None:
            base = sum(len(s) for _, s in previous.segments[: previous.base])
            later = sum(len(s) for _, s in previous.segments[previous.base :])
            small = later + manifest.count_chunks(changed) <= policy.merge_share * base
            if small and len(previous.segments) - previous.base < policy.max_segments:
                built = previous.extend(manifest.lexical_rows(sorted(changed)), changed, version)
                if built.segments[-1][1] is not previous.segments[-1][1]:  # a new segment was added
                    built.segments[-1][1].attach_vectors(manifest.chunk_vectors)
                return built
    built = BM25Index.build(manifest.lexical_rows(), version, policy.segment_chunks)
    for _, segment in built.segments:
        segment.attach_vectors(manifest.chunk_vectors)
    return built
