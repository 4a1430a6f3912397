"""Fit how retrieval fuses its dense and BM25 rankings on SciFact's *training* queries.

    python -m evals.calibrate_retrieval [--data ../shared/data/scifact] [--home DIR] [--sample-home DIR] [--write]

SciFact's BEIR corpus goes into its own index (as ``askpapers eval --beir`` builds it, under
``<home>/beir/scifact``; an index already there is reused). For every training query each retriever's
candidates are fetched once (as ``eval --beir`` fetches them: its top 400 chunks; BM25's once per (k1, b) of
a grid, which needs no rebuild: the index keeps raw term counts), then every fusion candidate is scored on them
without searching again: weighted RRF over a (k, dense weight) grid and score-based fusion (min–max or z-scored
cosine and BM25, a dense-weight grid), for each BM25 (k1, b). The training queries are
split by a SHA-1 of their id: two thirds *fit* (the candidate with the best nDCG@10 there wins), one third
is *held out* and only reported. The test split (qrels/test.tsv) is never read.

The sample set (evals/sets/sample.jsonl, the sample index of ``--sample-home``, built from data/sample
if missing) guards against a loss on our own kind of questions: a candidate is eligible only if none of its
hybrid R@1, R@5, MRR and nDCG@10 there is below the value of the fusion in effect now (the sample set is
small, 53 answerable questions, but near its ceiling: one question lost at rank 1 breaks the R@1 floor of
tests/test_eval_gate.py).

Tried and left out (figures in the issue 11 reports): a second stage re-scoring the top 10 or 20 papers
with their best question–sentence cosine (MiniLM) moved fit nDCG@10 by at most +0.006 and cost ~100
sentence embeddings per query; a logistic re-scorer of the top 30 (fused, dense and BM25 standard scores, best
and second-best sentence cosine, title cosine, idf share of query terms in the abstract and title) +0.011 fit /
+0.009 held out, at ~270 sentence embeddings (~0.45 s) per query, which the chat's 100 ms budget can't pay;
summing a paper's chunk scores instead of taking its best chunk lost 0.01–0.05; BM25 over whole abstracts
instead of chunks scored as chunks do with fitted (k1, b); dense pseudo-relevance feedback (Rocchio on the top
1–5 papers) lost up to 0.005 held out; a linear query adapter for MiniLM fitted on the fit part's qrels gained
+0.04 held out only on queries whose relevant abstracts the fit part had seen (memorised documents) and
nothing (−0.01 dense) on the others.

``--write`` records the winner with rag.calibration.write (retrieval.fusion / rrf_k / dense_weight).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evals.beir import beir_settings, load_beir
from evals.metrics import ndcg_at, recall_uncapped, retrieval_scores
from evals.questions import index_sample, load_questions, resolve_gold
from evals.records import RetrievalSummary
from ingest.pipeline import ingest
from rag import calibration
from rag.fusion import FusionMethod, fuse
from rag.index.store import IndexStore
from rag.retrieval import Retriever
from rag.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "scifact"
SAMPLE_SET = REPO / "evals" / "sets" / "sample.jsonl"
BEIR_CHUNKS = 400  # what `eval --beir` fetches: top 100 papers, 4 chunks each
HELD_OUT_SHARE = 3  # one query in three (by hash) is held out
RRF_KS = (1, 2, 3, 5, 10, 20, 30, 60, 100)
RRF_WEIGHTS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0)
SAMPLE_METRICS = ("R@1", "R@5", "MRR", "nDCG@10")  # hybrid, over the answerable questions
SCORE_WEIGHTS = (0.25, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
BM25_K1S = (0.5, 0.7, 0.9, 1.2, 1.5)  # 1.5 and b 0.75: bm25s's (Lucene's) defaults
BM25_BS = (0.3, 0.4, 0.5, 0.75)

Candidates = tuple[dict[str, float], dict[str, float]]  # dense, BM25: paper id -> best chunk score
BM25Params = tuple[float, float]  # k1, b


@dataclass(frozen=True)
class Fusion:
    method: FusionMethod
    dense_weight: float
    rrf_k: float = 60.0
    bm25_weight: float = 1.0  # 0 for the dense-only reference row
    bm25: BM25Params = (1.5, 0.75)

    def rank(self, candidates: Candidates, k: int = 10) -> list[str]:
        dense, sparse = candidates
        fused = fuse(
            dense,
            sparse,
            method=self.method,
            dense_weight=self.dense_weight,
            bm25_weight=self.bm25_weight,
            rrf_k=self.rrf_k,
        )
        return sorted(fused, key=lambda pid: -fused[pid])[:k]

    def values(self) -> dict[str, object]:
        return {
            "retrieval.fusion": self.method,
            "retrieval.rrf_k": self.rrf_k,
            "retrieval.dense_weight": self.dense_weight,
            "retrieval.bm25_k1": self.bm25[0],
            "retrieval.bm25_b": self.bm25[1],
        }

    def __str__(self) -> str:
        bm25 = f"BM25 k1={self.bm25[0]:g} b={self.bm25[1]:g}"
        if not self.bm25_weight or not self.dense_weight:
            return "dense only" if self.dense_weight else bm25
        if self.method == "rrf":
            return f"rrf k={self.rrf_k:g} w={self.dense_weight:g}, {bm25}"
        return f"{self.method} w={self.dense_weight:g}, {bm25}"


@dataclass
class Scores:
    """One fusion's figures: SciFact train (fit and held-out parts) and the sample set."""

    fit: tuple[float, float] = (0.0, 0.0)  # nDCG@10, Recall@10
    held: tuple[float, float] = (0.0, 0.0)
    sample: dict[str, float] = field(default_factory=dict)


def held_out(query_id: str) -> bool:
    """Stable: the SHA-1 of the id decides, so the parts are the same on every machine."""
    return int.from_bytes(hashlib.sha1(query_id.encode()).digest()[:4], "big") % HELD_OUT_SHARE == 0


def grid() -> list[Fusion]:
    out = []
    for bm25 in bm25_grid():
        out += [Fusion("rrf", w, k, bm25=bm25) for k in RRF_KS for w in RRF_WEIGHTS]
        out += [Fusion(m, w, bm25=bm25) for m in ("minmax", "zscore") for w in SCORE_WEIGHTS]
    return out


def bm25_grid() -> list[BM25Params]:
    return [(k1, b) for k1 in BM25_K1S for b in BM25_BS]


class Pool:
    """Each query's dense candidates (fetched once) and BM25 candidates per (k1, b) (fetched on first use)."""

    def __init__(self, retriever: Retriever, queries: Mapping[str, str], n: int) -> None:
        self.retriever, self.queries, self.n = retriever, queries, n
        self.dense = {qid: retriever.dense_candidates(text, n) for qid, text in progress(queries, "dense")}
        self._lexical: dict[BM25Params, dict[str, dict[str, float]]] = {}

    def __call__(self, bm25: BM25Params) -> dict[str, Candidates]:
        if bm25 not in self._lexical:
            k1, b = bm25
            settings = self.retriever.settings.model_copy(update={"bm25_k1": k1, "bm25_b": b})
            lexical = Retriever(self.retriever.store, settings)
            self._lexical[bm25] = {
                qid: lexical.lexical_candidates(t, self.n) for qid, t in self.queries.items()
            }
        sparse = self._lexical[bm25]
        return {qid: (self.dense[qid], sparse[qid]) for qid in self.queries}


def progress(queries: Mapping[str, str], what: str) -> Iterable[tuple[str, str]]:
    from tqdm import tqdm

    return tqdm(queries.items(), desc=what, file=sys.stderr, leave=False, disable=not sys.stderr.isatty())


def beir_figures(
    rank: Callable[[Candidates], list[str]],
    queries: Iterable[str],
    cands: Mapping[str, Candidates],
    qrels: Mapping[str, dict[str, float]],
) -> tuple[float, float]:
    ids = list(queries)
    ndcg = recall = 0.0
    for qid in ids:
        ranked = rank(cands[qid])
        ndcg += ndcg_at(ranked, qrels[qid], 10)
        recall += recall_uncapped(ranked, set(qrels[qid]), 10)
    return (ndcg / len(ids), recall / len(ids)) if ids else (0.0, 0.0)


def sample_figures(
    rank: Callable[[Candidates], list[str]], cands: Mapping[str, Candidates], gold: Mapping[str, set[str]]
) -> dict[str, float]:
    summary = RetrievalSummary.mean([retrieval_scores(rank(cands[qid]), gold[qid]) for qid in gold])
    return {  # the names of SAMPLE_METRICS
        "R@1": summary.recall_at_1,
        "R@5": summary.recall_at_5,
        "MRR": summary.mrr,
        "nDCG@10": summary.ndcg_at_10,
    }


def scifact_pool(settings: Settings, data_dir: Path) -> tuple[Pool, IndexStore, dict[str, dict[str, float]]]:
    """The SciFact train queries' candidate pool; the caller closes the store."""
    data = load_beir(data_dir, "train")
    own = beir_settings(settings, data.root)
    store = IndexStore.open(own)
    ingest(own, [str(data.corpus)], fmt="beir", store=store, progress=False)  # reuses an index there
    queries = {qid: data.queries[qid] for qid in sorted(data.qrels)}
    return Pool(Retriever(store, own.retrieval), queries, BEIR_CHUNKS), store, data.qrels


def sample_pool(sample_home: Path) -> tuple[Pool, IndexStore, dict[str, set[str]]]:
    """The sample set's answerable questions' candidate pool and gold papers; the caller closes the store."""
    settings = Settings(home=sample_home)
    store = IndexStore.open(settings)
    index_sample(settings, store)
    questions = [q for q in load_questions(SAMPLE_SET) if q.answerable]
    resolve_gold(questions, store.manifest)
    n = max(settings.retrieval.candidates, 10 * 4)  # as a search for 10 papers fetches
    pool = Pool(Retriever(store, settings.retrieval), {q.id: q.question for q in questions}, n)
    return pool, store, {q.id: set(q.gold_ids) for q in questions}


def eligible(scores: Scores, now: Scores) -> bool:
    """No loss on the sample set: every figure at least the value of the fusion in effect now."""
    return all(scores.sample[m] >= now.sample[m] - 1e-9 for m in SAMPLE_METRICS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SciFact in BEIR's layout")
    parser.add_argument(
        "--home", type=Path, help="askpapers home holding beir/scifact (default: ASKPAPERS_HOME)"
    )
    parser.add_argument(
        "--sample-home",
        type=Path,
        default=Path("/tmp/askpapers-calibrate-retrieval-sample"),
        help="home of the sample index (built from data/sample if empty)",
    )
    parser.add_argument("--write", action="store_true", help="record the winner in rag/calibration.json")
    args = parser.parse_args(argv)

    settings = load_settings(home=args.home)
    scifact, scifact_store, qrels = scifact_pool(settings, args.data)
    sample, sample_store, gold = sample_pool(args.sample_home)
    try:
        return report(settings, scifact, qrels, sample, gold, write=args.write)
    finally:
        scifact_store.close()
        sample_store.close()


def report(
    settings: Settings,
    scifact: Pool,
    qrels: Mapping[str, dict[str, float]],
    sample: Pool,
    gold: Mapping[str, set[str]],
    *,
    write: bool,
) -> int:
    held = [q for q in scifact.queries if held_out(q)]
    fit = [q for q in scifact.queries if not held_out(q)]

    def score(f: Fusion) -> Scores:
        cands = scifact(f.bm25)
        return Scores(
            fit=beir_figures(f.rank, fit, cands, qrels),
            held=beir_figures(f.rank, held, cands, qrels),
            sample=sample_figures(f.rank, sample(f.bm25), gold),
        )

    r = settings.retrieval
    now = Fusion(r.fusion, r.dense_weight, r.rrf_k, bm25=(r.bm25_k1, r.bm25_b))
    results = {f: score(f) for f in dict.fromkeys([now, *grid()])}
    base = results[now]
    best = max((f for f in results if eligible(results[f], base)), key=lambda f: results[f].fit[0])
    families: dict[str, Fusion] = {}
    for f in results:
        if f.method not in families or results[f].fit[0] > results[families[f.method]].fit[0]:
            families[f.method] = f
    rows = {
        "BM25 only (bm25s defaults)": Fusion("rrf", 0.0, 60),
        "BM25 only (chosen k1, b)": Fusion("rrf", 0.0, 60, bm25=best.bm25),
        "dense only": Fusion("rrf", 1.0, 60, bm25_weight=0.0),
        "in effect now": now,
        "plain RRF(60)": Fusion("rrf", 1.0, 60),
        **{f"best {method}": f for method, f in families.items()},
        "chosen": best,
    }
    print(
        f"SciFact train: fit n={len(fit)}, held-out n={len(held)}; "
        f"sample set n={len(gold)} (eligible: no sample figure below the fusion in effect now)\n"
    )
    print(
        "| fusion | fit nDCG@10 | fit R@10 | held-out nDCG@10 | held-out R@10 | sample R@1 | R@5 | MRR | nDCG@10 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, f in rows.items():
        s = results.get(f) or score(f)
        sample_cells = " | ".join(f"{s.sample[m]:.3f}" for m in SAMPLE_METRICS)
        print(
            f"| {label}: {f} | {s.fit[0]:.4f} | {s.fit[1]:.4f} | {s.held[0]:.4f} | {s.held[1]:.4f} | {sample_cells} |"
        )
    if write:
        s = results[best]
        how = (
            f"python -m evals.calibrate_retrieval --write: best nDCG@10 on the fit part (2/3 by SHA-1 of the query id, "
            f"n={len(fit)}) of SciFact's train queries (BEIR corpus, qrels/train.tsv; the test split never read) over "
            f"a grid of BM25 (k1, b) x (RRF (k, dense weight) and min-max / z-score convex fusion), among candidates "
            f"whose sample-set hybrid R@1, R@5, MRR and nDCG@10 on the {len(gold)} answerable questions of evals/sets/sample.jsonl are "
            f"none below the previous fusion's ({now}); {best}: fit nDCG@10 "
            f"{s.fit[0]:.4f} R@10 {s.fit[1]:.4f}; held-out part (n={len(held)}) nDCG@10 {s.held[0]:.4f} "
            f"R@10 {s.held[1]:.4f}; sample set " + ", ".join(f"{m} {s.sample[m]:.3f}" for m in SAMPLE_METRICS)
        )
        calibration.write(best.values(), how)
        print(f"\nwrote {calibration.FILE}: {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
