"""Synthetic papers for the scale bench (bench/scale.py): real SciFact sentences, realistic metadata.

Abstracts are real abstract sentences recombined (SciFact's corpus, read from ``../shared/data``, never
copied), titles a real title's head joined to another's tail ("Microstructural development" + "of
alveolar macrophages in asthma"). Metadata is drawn so filters select realistic shares:

- year: 1991–2025 growing 12 % a year (arXiv's submissions grew 10–15 %/year), 20 % without a year;
- authors: 1 + Exp(mean 3.2) per paper (3 % none) from a pool of 3,000 names with Zipf(0.9) frequencies;
- categories: 60 arXiv categories with Zipf(1.1) frequencies, 1 + Geometric extra cross-lists;
  60 % of non-arXiv papers have none;
- source: arxiv 72 %, jsonl 15 %, hf_daily 7 %, s2 4 %, pubmed 2 %.

One seeded ``random.Random`` stream: paper ``i`` is the same whatever the size, so a 10 k set is the
prefix of the 100 k one (its chunks, and so its real vectors, are the same).
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.index.filtering import FilterFields, name_words
from rag.records import Paper, normalise_title
from rag.text import split_sentences
from rag.types import Filters

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "scifact"

YEARS = range(1991, 2026)
YEAR_GROWTH = 1.12
NO_YEAR_SHARE = 0.20
SOURCES = {"arxiv": 0.72, "jsonl": 0.15, "hf_daily": 0.07, "s2": 0.04, "pubmed": 0.02}
CATEGORIES = (  # noqa: SIM905 - a word list reads better as words
    "cs.LG cs.CV cs.CL cs.AI stat.ML quant-ph hep-th cond-mat.mtrl-sci math.OC cs.RO astro-ph.GA hep-ph "
    "cs.CR eess.IV math.PR cond-mat.stat-mech cs.NE eess.SP physics.optics gr-qc cs.IR math.AP cs.DS "
    "astro-ph.SR cs.SY cond-mat.str-el math.NA cs.SE q-bio.NC physics.flu-dyn econ.EM cs.HC math.CO "
    "nucl-th cs.DC q-fin.ST cs.GT physics.bio-ph math.ST cs.SD cs.MA q-bio.QM cs.DB cs.PL cs.LO "
    "physics.soc-ph cs.CY math.DG astro-ph.CO cond-mat.soft eess.AS cs.NI math.AG hep-ex "
    "physics.chem-ph q-bio.GN cs.FL math.GT physics.hist-ph q-fin.TR"
).split()
GIVEN = (  # noqa: SIM905 - a word list reads better as words
    "Wei Li Jing Yan Hao Xin Yu Min Jun Hiroshi Yuki Kenji Akira Sakura Ji-woon Seo-yeon Arjun Priya Rahul "
    "Ananya Vikram Deepa Mohammed Fatima Omar Leila Ahmet Elif John Mary David Sarah Michael Emily James "
    "Laura Robert Anna Thomas Julia Pierre Camille Luc Sophie Hans Greta Jöns Lukas Marta Giulia Marco "
    "Alessandro Carlos Lucía José Mariana Ivan Olga Dmitri Natalia Piotr Agnieszka Kwame Amara Chinedu "
    "Nkechi Erik Ingrid Lars Astrid Sean Aoife Pedro Ana Tomás Zoë Noah Ava Mateo Isla Ren Mei"
).split()
FAMILY = (  # noqa: SIM905 - a word list reads better as words
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Kim Lee Park Choi Tanaka Suzuki Sato "
    "Watanabe Nguyen Tran Singh Kumar Sharma Patel Gupta Reddy Khan Ahmed Hassan Yilmaz Smith Johnson "
    "Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernández Lopez Gonzalez Wilson Anderson "
    "Müller Schmidt Schneider Fischer Weber Martin Bernard Dubois Rossi Russo Ferrari Ivanov Petrov "
    "Kowalski Nowak Okafor Mensah Johansson Nielsen O'Brien Silva Santos Costa Cohen Levi Novak Horváth"
).split() + ["van der Berg", "de Jong", "van Dijk", "García Márquez", "Da Silva"]
AUTHOR_POOL = 3_000
AUTHOR_ZIPF = 0.9
CATEGORY_ZIPF = 1.1
AUTHORS_MEAN_EXTRA = 3.2
EXTRA_CATEGORY_P = 0.45
_CONNECTORS = {"of", "in", "for", "with", "by", "on", "and", "from", "during", "after", "among", "via", "to"}


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _zipf(n: int, s: float) -> list[float]:
    return _cumulative([1 / (rank**s) for rank in range(1, n + 1)])


def year_shares() -> dict[int | None, float]:
    """Share of all papers per year (None: no year)."""
    weights = {y: YEAR_GROWTH ** (y - YEARS[0]) for y in YEARS}
    total = sum(weights.values())
    return {None: NO_YEAR_SHARE} | {y: (1 - NO_YEAR_SHARE) * w / total for y, w in weights.items()}


def author_names(seed: int) -> list[str]:
    """The author pool, most frequent first."""
    combos = [f"{g} {f}" for g in GIVEN for f in FAMILY]
    random.Random(seed).shuffle(combos)
    return combos[:AUTHOR_POOL]


def filter_kinds(seed: int) -> dict[str, Filters]:
    """One filter of each kind, chosen from the distributions (the same at every size)."""
    shares = year_shares()
    from_share = {y: sum(s for z, s in shares.items() if z is not None and z >= y) for y in YEARS}
    recent = min((y for y in YEARS if 0.08 <= from_share[y] <= 0.25), key=lambda y: abs(from_share[y] - 0.15))
    return {
        "none": Filters(),
        "year_from": Filters(year_from=recent),
        "year_range": Filters(year_from=2015, year_to=2019),
        "category": Filters(category=CATEGORIES[2]),
        "source": Filters(source="hf_daily"),
        "author": Filters(author=author_names(seed)[19]),  # the 20th most frequent name
    }


def passes(fields: FilterFields, filters: Filters) -> bool:
    """Whether a paper with ``fields`` meets ``filters`` (rag.types.Filters' rules; for shares and checks)."""
    if filters.year_from is not None and (fields.year is None or fields.year < filters.year_from):
        return False
    if filters.year_to is not None and (fields.year is None or fields.year > filters.year_to):
        return False
    if filters.category and filters.category.casefold() not in fields.categories:
        return False
    if filters.source and filters.source.casefold() not in fields.sources:
        return False
    return not filters.author or set(name_words(filters.author)) <= set(fields.author_words)


def load_queries(n: int, seed: int, scifact: Path = SCIFACT) -> list[str]:
    """``n`` SciFact training claims (seeded sample), used as search questions."""
    lines = (scifact / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    return random.Random(seed).sample(texts, min(n, len(texts)))


@dataclass
class SciFactParts:
    heads: list[str]
    tails: list[str]
    sentences: list[str]


def load_parts(scifact: Path = SCIFACT, cache: Path | None = None) -> SciFactParts:
    """Title heads and tails and abstract sentences of SciFact; ``cache`` keeps them as JSON (splitting
    5 k abstracts into sentences takes seconds, and every stage process needs them)."""
    if cache is not None and cache.exists():
        return SciFactParts(**json.loads(cache.read_text(encoding="utf-8")))
    heads, tails, sentences = [], [], []
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            words = record["title"].rstrip(".").split()
            cut = next((i for i, w in enumerate(words) if i >= 2 and w.lower() in _CONNECTORS), None)
            if cut is None:
                heads.append(" ".join(words))
            else:
                heads.append(" ".join(words[:cut]))
                tails.append(" ".join(words[cut:]))
            sentences += [s.strip() for s in split_sentences(record["text"]) if 5 <= len(s.split()) <= 80]
    parts = SciFactParts(heads, tails, sentences)
    if cache is not None:
        cache.write_text(json.dumps(asdict(parts)), encoding="utf-8")
    return parts


class PaperStream:
    """Synthetic papers 0, 1, 2, … — deterministic for a seed."""

    def __init__(self, seed: int, parts: SciFactParts) -> None:
        self.rng = random.Random(seed)
        self.parts = parts
        self.authors = author_names(seed)
        self._author_cum = _zipf(len(self.authors), AUTHOR_ZIPF)
        self._category_cum = _zipf(len(CATEGORIES), CATEGORY_ZIPF)
        shares = year_shares()
        self._years = list(shares)
        self._year_cum = _cumulative(list(shares.values()))
        self._sources = list(SOURCES)
        self._source_cum = _cumulative(list(SOURCES.values()))
        self._titles: set[str] = set()
        self.count = 0

    def _pick(self, cum: list[float]) -> int:
        return min(bisect.bisect(cum, self.rng.random() * cum[-1]), len(cum) - 1)

    def _title(self) -> str:
        rng, parts = self.rng, self.parts
        while True:
            title = f"{rng.choice(parts.heads)} {rng.choice(parts.tails)}"
            if rng.random() < 0.2:  # some titles are longer: "…, and <tail>"
                title += f" and {rng.choice(parts.tails)}"
            norm = normalise_title(title)
            if norm not in self._titles:
                self._titles.add(norm)
                return title

    def _abstract(self) -> str:
        target = min(max(int(self.rng.lognormvariate(math.log(165), 0.35)), 40), 450)
        chosen: list[str] = []
        words = 0
        while words < target:
            sentence = self.rng.choice(self.parts.sentences)
            chosen.append(sentence)
            words += len(sentence.split())
        return " ".join(chosen)

    def _draw_distinct(self, names: list[str], cum: list[float], n: int) -> list[str]:
        out: list[str] = []
        for _ in range(n * 3):
            if len(out) == n:
                break
            name = names[self._pick(cum)]
            if name not in out:
                out.append(name)
        return out

    def next(self) -> Paper:
        rng = self.rng
        i = self.count
        self.count += 1
        source = self._sources[self._pick(self._source_cum)]
        year = self._years[self._pick(self._year_cum)]
        n_authors = 0 if rng.random() < 0.03 else 1 + min(int(rng.expovariate(1 / AUTHORS_MEAN_EXTRA)), 40)
        n_categories = 0
        if source == "arxiv" or rng.random() >= 0.6:
            n_categories = 1
            while n_categories < 5 and rng.random() < EXTRA_CATEGORY_P:
                n_categories += 1
        return Paper(
            id=f"syn{i:07d}",
            title=self._title(),
            abstract=self._abstract(),
            year=year if isinstance(year, int) else None,
            authors=self._draw_distinct(self.authors, self._author_cum, n_authors),
            categories=self._draw_distinct(CATEGORIES, self._category_cum, n_categories),
            source=source,
        )

    def take(self, n: int) -> Iterator[Paper]:
        for _ in range(n):
            yield self.next()


def record(paper: Paper) -> str:
    """One JSON line the generic JSONL parser reads back as ``paper`` (its source is the file's suffix)."""
    fields = {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "year": paper.year,
        "authors": paper.authors,
        "categories": paper.categories,
    }
    return json.dumps(fields, ensure_ascii=False) + "\n"
