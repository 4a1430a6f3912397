"""The ingest job: parse → dedup → diff against the manifest → chunk → embed → store → BM25.

Work is done in batches of papers; each batch's vectors go to Chroma first and the
manifest commit comes last (rag/index/store.py), so Ctrl-C, kill -9, a full disk or a failing
store at any point leave an index that answers queries from what was committed, and the
next run deletes the uncommitted vectors and picks up exactly the papers that are missing.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.chunking import Chunker
from ingest.dedup import PaperStage
from ingest.parsers.base import Skip
from ingest.ray_ingest import embed_on_ray
from ingest.sources import read_inputs
from rag.errors import AskpapersError, IndexBusyError, IndexWriteError, InputError
from rag.index.store import EmbeddedBatch, IndexStore
from rag.records import Paper

if TYPE_CHECKING:
    from rag.embedders import Embedder
    from rag.settings import Settings


@dataclass
class IngestSummary:
    papers_seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    skipped: list[Skip] = field(default_factory=list)
    duplicates_merged: int = 0
    collection: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "papers_seen": self.papers_seen,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": len(self.skipped),
            "skipped_reasons": [str(s) for s in self.skipped],
            "duplicates_merged": self.duplicates_merged,
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
            "collection": self.collection,
        }

    def as_text(self) -> str:
        lines = [
            f"papers seen {self.papers_seen} (duplicates merged: {self.duplicates_merged}) · new {self.new} · "
            f"updated {self.updated} · unchanged {self.unchanged} · removed {self.removed} · "
            f"skipped {len(self.skipped)}",
            f"chunks embedded {self.chunks_embedded} in {self.seconds:.1f} s → collection {self.collection}",
        ]
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {s}" for s in self.skipped[:50]]
            if len(self.skipped) > 50:
                lines.append(f"  … and {len(self.skipped) - 50} more (see --json)")
        return "\n".join(lines)


@contextmanager
def _ingest_lock(directory: Path) -> Iterator[None]:
    """One ingest per index at a time (the lock dies with its process, even on kill -9)."""
    import fcntl

    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = (directory / "ingest.lock").open("a")
    except OSError as exc:
        raise IndexWriteError(
            f"can't write the index at {directory} ({exc.strerror}); check that you may write there, or set "
            "ASKPAPERS_HOME to a directory you can write"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"another ingest is writing to {directory}; wait for it to finish and run this one again"
            ) from None
        yield


def _clean(scratch: Path) -> Path:
    """Scratch space for this run, emptied first (a killed run may have left its files)."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return scratch


def _progress(total: int | None, desc: str, enabled: bool) -> Any:
    """A progress bar on stderr: papers done, their rate and (with a total) the time left."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="paper", file=sys.stderr, disable=not enabled, leave=False)


def ingest(
    settings: Settings,
    inputs: Iterable[str],
    *,
    fmt: str | None = None,
    field_map: Mapping[str, str] | None = None,
    prune: bool = False,
    progress: bool = True,
    store: IndexStore | None = None,
    ray_address: str | None = None,
) -> IngestSummary:
    """Bring the index for ``settings`` in line with ``inputs``; see module docstring.

    The whole job — parse, write, BM25 — runs under the ingest lock, so a second ingest of the
    same index stops at once with a clear message instead of writing beside this one. Papers go
    through a staging table on disk and are embedded ``ingest.papers_per_batch`` at a time, so
    memory stays flat whatever the input's size. ``ray_address``: chunk and embed on a Ray cluster
    (ingest/ray_ingest.py; '' for ``ray.init()``'s default), storing from this process as usual.
    """
    inputs = [str(i) for i in inputs]
    started = time.perf_counter()
    summary = IngestSummary(collection=settings.collection_name)
    scratch = settings.index_dir / "tmp"
    batch = settings.ingest.papers_per_batch
    with _ingest_lock(settings.index_dir):
        store = store or IndexStore.open(settings)
        store.clean_orphans()  # vectors an interrupted or failed run wrote but never committed
        with PaperStage(_clean(scratch)) as stage:
            with store.writing(settings.index_dir, "stage the input papers"):
                with _progress(None, "reading", progress) as bar:
                    for item in read_inputs(
                        inputs,
                        fmt=fmt,
                        field_map=field_map,
                        max_abstract_chars=settings.ingest.max_abstract_chars,
                    ):
                        if isinstance(item, Skip):
                            summary.skipped.append(item)
                        else:
                            stage.add(item)
                            bar.update(1)
                summary.papers_seen = len(stage)
                summary.duplicates_merged = stage.duplicates
                if summary.papers_seen == 0:
                    reasons = "; ".join(str(s) for s in summary.skipped[:5]) or "no input files"
                    raise InputError(f"no valid papers found ({reasons})", path=", ".join(inputs))
                seen = _diff(store, stage, summary, batch, keep_seen=prune)
            try:
                changed = ([paper for _, paper in rows] for rows in stage.batches(batch, changed_only=True))
                embedded = (
                    embed_on_ray(settings, changed, ray_address or None)
                    if ray_address is not None
                    else _embed_locally(store, changed)
                )
                summary.chunks_embedded = _write(store, embedded, summary.new + summary.updated, progress)
                if prune:
                    gone = sorted(set(store.manifest.hashes()) - seen)
                    store.remove_papers(gone)
                    summary.removed = len(gone)
            except BaseException:
                _after_failure(store)
                raise
        store.publish_bm25()
    summary.seconds = time.perf_counter() - started
    return summary


def _diff(
    store: IndexStore, stage: PaperStage, summary: IngestSummary, batch: int, keep_seen: bool
) -> set[str]:
    """Mark the staged papers that are new or changed against the manifest (a batch of ids looked up at
    a time); count them into ``summary``; with ``keep_seen``, the ids of every staged paper."""
    seen: set[str] = set()
    for rows in stage.batches(batch):
        known = store.manifest.hashes([paper.id for _, paper in rows])
        for rowid, paper in rows:
            if paper.id not in known:  # the same title under another id counts as the same paper,
                indexed = store.manifest.id_for_title(paper.norm_title)  # unless that id came too
                if indexed and not stage.has_id(indexed):
                    paper.id = indexed
                    known.update(store.manifest.hashes([indexed]))
            if keep_seen:
                seen.add(paper.id)
            previous = known.get(paper.id)
            if previous == paper.content_hash():
                summary.unchanged += 1
                continue
            if previous is None:
                summary.new += 1
            else:
                summary.updated += 1
            stage.mark_changed(rowid, paper)
    return seen


def _embed_locally(store: IndexStore, batches: Iterable[Sequence[Paper]]) -> Iterator[EmbeddedBatch]:
    """Chunks and vectors of each batch, made in this process (the model loads only if there is work)."""
    chunker: Chunker | None = None
    for papers in batches:
        chunker = chunker or Chunker.for_index(store.settings, store.embedder)
        yield embed_papers(chunker, store.embedder, papers)


def embed_papers(chunker: Chunker, embedder: Embedder, papers: Sequence[Paper]) -> EmbeddedBatch:
    """The CPU-heavy half of a write: chunking and embedding (touches no store)."""
    chunks = chunker.chunk_many(papers)
    return EmbeddedBatch(list(papers), chunks, embedder.embed_batch([c.text for c in chunks]))


def _write(store: IndexStore, embedded: Iterable[EmbeddedBatch], total: int, progress: bool) -> int:
    """Store the ``embedded`` batches (``total`` papers); returns chunks stored.

    Embedding batch N+1 (the iterator's work) overlaps with storing batch N: one writer thread
    keeps the pending → Chroma → manifest order per batch, so interruption safety is unchanged.
    """
    stored = 0
    with (
        _progress(total, "embedding", progress and bool(total)) as bar,
        ThreadPoolExecutor(1, thread_name_prefix="store") as writer,
    ):
        pending: Future[int] | None = None
        for batch in embedded:
            if pending is not None:
                stored += pending.result()
            pending = writer.submit(store.store_embedded, batch)
            bar.update(len(batch.papers))
        if pending is not None:
            stored += pending.result()
    return stored  # (on an error, leaving the executor waits for the batch in flight)


def _after_failure(store: IndexStore) -> None:
    """Leave the index as its last commit: delete vectors nobody lists, publish BM25 for what was
    committed. Best effort — whatever this can't do, the next run's start does."""
    try:
        store.clean_orphans()
        store.publish_bm25()
    except (AskpapersError, OSError):
        pass
