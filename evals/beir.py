"""Score hybrid retrieval on a BEIR-format dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

The split is ``test`` unless asked otherwise (``askpapers eval --split train``: a dataset whose test
split is held out, like the SciFact copy in ../shared/data, is scored on its train split).

The corpus goes into its own index: a settings copy whose home is ``<home>/beir/<dirname>`` and
whose Chroma namespace is ``beir-<dirname>``, so it never mixes with the main index, even on a
shared Chroma server or an explicit ``chroma.path``. Scores are the standard BEIR ones:
nDCG@10 with graded gains from the qrels, and uncapped Recall@10/@100 (|relevant ∩ top k| / |relevant|).
Every ``_id`` is its own paper: ingest's dedup never merges records with distinct source ids by title
(SciFact holds distinct ``_id``s with one title; all 5,183 of its documents are indexed). An index
already under that home is reused (ingest only embeds what changed), so a second run costs the queries.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.metrics import ndcg_at, recall_uncapped
from ingest.pipeline import ingest
from rag.errors import InputError
from rag.index.store import IndexStore
from rag.retrieval import Retriever

if TYPE_CHECKING:
    from rag.embedders import Embedder
    from rag.settings import Settings

QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass
class BeirSet:
    root: Path
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]  # query id -> corpus id -> graded relevance (> 0 only)


DEFAULT_SPLIT = "test"


def _need(path: Path, split: str = DEFAULT_SPLIT) -> Path:
    if not path.is_file():
        raise InputError(
            f"missing BEIR file (expected corpus.jsonl, queries.jsonl, qrels/{split}.tsv)", path=str(path)
        )
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines, streamed: a BEIR corpus can run to millions of lines."""
    number = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
    except UnicodeDecodeError as exc:
        raise InputError(f"file is not valid UTF-8 ({exc.reason})", path=str(path), line=number + 1) from None
    except OSError as exc:
        raise InputError(f"can't read file ({exc.strerror})", path=str(path)) from None


def _records(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) for each line: a JSON object with a non-empty '_id', else an InputError."""
    for number, line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", path=str(path), line=number) from None
        if not isinstance(record, dict) or not str(record.get("_id", "")).strip():
            raise InputError(f"{kind} record has no '_id'", path=str(path), line=number)
        yield number, record


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for number, record in _records(path, "query"):
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputError("query record has no 'text'", path=str(path), line=number)
        queries[str(record["_id"])] = text
    return queries


def check_corpus(path: Path) -> set[str]:
    """The corpus ids; a line that isn't a JSON object with an '_id' is an InputError."""
    ids = {str(record["_id"]) for _, record in _records(path, "corpus")}
    if not ids:
        raise InputError("the corpus is empty", path=str(path))
    return ids


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    qrels: dict[str, dict[str, float]] = {}
    lines = list(_lines(path))  # qrels are small
    if not lines:
        raise InputError("qrels file is empty", path=str(path))
    first_number, first = lines[0]
    if tuple(c.strip() for c in first.split("\t")) != QRELS_HEADER:
        raise InputError(
            f"expected the header 'query-id<TAB>corpus-id<TAB>score', got {first.strip()[:80]!r}",
            path=str(path),
            line=first_number,
        )
    for number, line in lines[1:]:
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != 3 or not cells[0] or not cells[1]:
            raise InputError(
                f"expected 3 tab-separated columns (query-id, corpus-id, score), got {line.strip()[:80]!r}",
                path=str(path),
                line=number,
            )
        try:
            score = float(cells[2])
        except ValueError:
            raise InputError(f"score {cells[2]!r} is not a number", path=str(path), line=number) from None
        if score > 0:
            qrels.setdefault(cells[0], {})[cells[1]] = score
    return qrels


def load_beir(root: str | Path, split: str = DEFAULT_SPLIT) -> BeirSet:
    """The dataset at ``root``, with the qrels of ``split`` (``qrels/<split>.tsv``)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a BEIR directory", path=str(root))
    if not re.fullmatch(r"[A-Za-z0-9_-]+", split):
        raise InputError(f"split {split!r} is not a name like 'test', 'dev' or 'train'", path=str(root))
    corpus = _need(root / "corpus.jsonl", split)
    check_corpus(corpus)
    queries = read_queries(_need(root / "queries.jsonl", split))
    qrels_path = _need(root / "qrels" / f"{split}.tsv", split)
    qrels = read_qrels(qrels_path)
    unknown = sorted(q for q in qrels if q not in queries)
    if unknown:
        raise InputError(
            f"qrels name queries missing from queries.jsonl: {', '.join(unknown[:5])}", path=str(qrels_path)
        )
    return BeirSet(root=root, corpus=corpus, queries=queries, qrels=qrels)


def beir_settings(settings: Settings, root: Path) -> Settings:
    """A copy of ``settings`` whose index lives apart from the main one."""
    name = re.sub(r"[^a-zA-Z0-9_-]+", "-", root.resolve().name).strip("-_") or "set"
    chroma = settings.chroma.model_copy(update={"namespace": f"beir-{name}"[:31].rstrip("-_")})
    update: dict[str, Any] = {"home": settings.home / "beir" / name, "chroma": chroma}
    if settings.chroma.path is not None:
        chroma.path = settings.home / "beir" / name / "chroma"
    return settings.model_copy(update=update)


def run_beir(
    settings: Settings,
    root: str | Path,
    *,
    k: int = 100,
    progress: bool = True,
    embedder: Embedder | None = None,
    split: str = DEFAULT_SPLIT,
) -> dict[str, Any]:
    """Ingest the corpus into its own index, run the queries of ``split`` (hybrid, top ``k``), score them."""
    from tqdm import tqdm

    data = load_beir(root, split)
    own = beir_settings(settings, data.root)
    store = IndexStore.open(own, embedder=embedder)
    try:
        summary = ingest(own, [str(data.corpus)], fmt="beir", store=store, progress=progress)
        retriever = Retriever(store, own.retrieval)
        per_query: dict[str, dict[str, Any]] = {}
        for qid in tqdm(
            sorted(data.qrels), desc="beir", unit="q", file=sys.stderr, disable=not progress, leave=False
        ):
            gains = data.qrels[qid]
            ranked = [h.paper_id for h in retriever.search(data.queries[qid], k, method="hybrid")]
            relevant = set(gains)
            per_query[qid] = {
                "ndcg@10": ndcg_at(ranked, gains, 10),
                "recall@10": recall_uncapped(ranked, relevant, 10),
                "recall@100": recall_uncapped(ranked, relevant, 100),
                "ranked": ranked[:10],
            }
        docs = store.manifest.counts()[0]
    finally:
        store.close()
    n = len(per_query)
    return {
        "dataset": data.root.name,
        "split": split,
        "home": str(own.home),
        "queries": n,
        "docs": docs,
        "skipped": len(summary.skipped),
        **{
            m: (sum(q[m] for q in per_query.values()) / n if n else 0.0)
            for m in ("ndcg@10", "recall@10", "recall@100")
        },
        "per_query": per_query,
    }
