"""What retrieval filters mean, in one place: the normalised fields a paper is filtered on, the
normalised conditions a :class:`~rag.types.Filters` asks for, and the numpy form of both.

Every store translates :class:`Conditions` itself, inside its own query: Chroma as metadata
conditions it evaluates (rag/index/vectors.py), BM25 and the in-memory stores as boolean masks
from :class:`FilterColumns`. No store receives a list of allowed ids, so no filter grows with the
corpus. Normalising both sides here is what makes the stores agree (tests/test_index_contract.py).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rag.records import Paper
    from rag.types import Filters

#: The year stored for a paper without one; no year condition accepts it (nor any year below 0).
NO_YEAR = -1
#: The list-valued fields, in the order conditions on them are applied.
LIST_FIELDS = ("categories", "sources", "author_words")
_WORD = re.compile(r"\w+")


def name_words(text: str) -> list[str]:
    """The words of a name, case- and accent-insensitively: 'Jöns-Åke van der Berg' → jons ake van der berg."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _WORD.findall(folded)


def _value(text: str | None) -> str | None:
    """A category or source as compared: case-insensitive, surrounding blanks ignored."""
    folded = (text or "").strip().casefold()
    return folded or None


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


@dataclass(frozen=True)
class FilterFields:
    """The fields of one paper that filters look at, normalised once (as the stores keep them)."""

    year: int | None
    categories: tuple[str, ...]
    sources: tuple[str, ...]
    author_words: tuple[str, ...]

    @classmethod
    def of(cls, paper: Paper) -> FilterFields:
        return cls(
            year=paper.year,
            categories=_unique(_value(c) for c in paper.categories),
            sources=_unique(_value(s) for s in paper.source.split(",")),
            author_words=_unique(w for author in paper.authors for w in name_words(author)),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FilterFields:
        data = json.loads(text)
        return cls(data["year"], *(tuple(data[name]) for name in LIST_FIELDS))


@dataclass(frozen=True)
class Conditions:
    """A :class:`~rag.types.Filters`, normalised: what a paper's :class:`FilterFields` must satisfy."""

    year_from: int | None = None
    year_to: int | None = None
    category: str | None = None
    source: str | None = None
    author_words: tuple[str, ...] = ()

    @classmethod
    def of(cls, filters: Filters | None) -> Conditions | None:
        """None when nothing is asked for (an author filter without any word asks for nothing)."""
        if filters is None:
            return None
        conditions = cls(
            year_from=filters.year_from,
            year_to=filters.year_to,
            category=_value(filters.category),
            source=_value(filters.source),
            author_words=_unique(name_words(filters.author or "")),
        )
        return None if conditions == cls() else conditions

    @property
    def has_year(self) -> bool:
        return self.year_from is not None or self.year_to is not None

    def terms(self) -> list[tuple[str, str]]:
        """(list field, value) pairs the paper's field must each contain."""
        out = [("categories", self.category)] if self.category else []
        out += [("sources", self.source)] if self.source else []
        return out + [("author_words", word) for word in self.author_words]


class _Postings:
    """For one list field: its distinct values, and the rows holding each (CSR layout: the rows of
    value ``i`` are ``rows[indptr[i]:indptr[i + 1]]``). Values stay a Python list (a numpy string
    array would be as wide as the longest value, for every value)."""

    def __init__(self, values: list[str], indptr: np.ndarray, rows: np.ndarray) -> None:
        self.values, self.indptr, self.rows = values, indptr, rows
        self._ids: dict[str, int] | None = None

    @classmethod
    def build(cls, per_row: Sequence[tuple[str, ...]]) -> _Postings:
        import numpy as np

        ids: dict[str, int] = {}
        flat = np.fromiter(
            (ids.setdefault(value, len(ids)) for values in per_row for value in values), dtype=np.int64
        )
        owners = np.repeat(np.arange(len(per_row), dtype=np.int32), [len(v) for v in per_row])
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(flat, minlength=len(ids)), out=indptr[1:])
        return cls(list(ids), indptr, owners[np.argsort(flat, kind="stable")])

    def rows_of(self, value: str) -> np.ndarray:
        if self._ids is None:  # built once per loaded build; two threads building it is harmless
            self._ids = {v: i for i, v in enumerate(self.values)}
        i = self._ids.get(value)
        return self.rows[:0] if i is None else self.rows[self.indptr[i] : self.indptr[i + 1]]


class FilterColumns:
    """Filter fields of many rows (papers or chunks) as columns: a year array and posting lists.

    A mask is a few numpy operations over them, whatever the corpus size: a year range is two
    comparisons, each category, source or author word one posting list scattered into a mask.
    """

    def __init__(self, years: np.ndarray, postings: dict[str, _Postings]) -> None:
        self.years = years
        self.postings = postings

    def __len__(self) -> int:
        return len(self.years)

    @classmethod
    def build(cls, rows: Sequence[FilterFields]) -> FilterColumns:
        import numpy as np

        years = np.array([NO_YEAR if r.year is None else r.year for r in rows], dtype=np.int32)
        return cls(years, {name: _Postings.build([getattr(r, name) for r in rows]) for name in LIST_FIELDS})

    def mask(self, conditions: Conditions) -> np.ndarray:
        """Boolean array: which rows satisfy every condition."""
        import numpy as np

        keep = np.ones(len(self.years), dtype=bool)
        if conditions.has_year:
            keep &= self.years > NO_YEAR  # as Chroma's year >= 0: no year (or a negative one) never passes
            if conditions.year_from is not None:
                keep &= self.years >= conditions.year_from
            if conditions.year_to is not None:
                keep &= self.years <= conditions.year_to
        for name, value in conditions.terms():
            holds = np.zeros(len(self.years), dtype=bool)
            holds[self.postings[name].rows_of(value)] = True
            keep &= holds
        return keep

    def save(self, path: Path) -> None:
        import numpy as np

        arrays: dict[str, Any] = {"years": self.years}
        for name, p in self.postings.items():
            values = np.frombuffer(json.dumps(p.values).encode(), dtype=np.uint8)
            arrays |= {f"{name}.values": values, f"{name}.indptr": p.indptr, f"{name}.rows": p.rows}
        with path.open("wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> FilterColumns:
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            postings = {
                name: _Postings(
                    json.loads(data[f"{name}.values"].tobytes()), data[f"{name}.indptr"], data[f"{name}.rows"]
                )
                for name in LIST_FIELDS
            }
            return cls(data["years"], postings)
