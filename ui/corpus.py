"""What the index holds that the page's filters and examples depend on, read once when the page starts.

The filters are only honest if the page knows what they can match: how many papers have no year (a
year filter excludes them), whether any paper has authors or categories (else those filters could
never match and are hidden), and how many papers a set of filters leaves (fewer than k is the
filters' doing, not the question's). Counting uses :mod:`rag.index.filtering`, the same rules the
stores apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.errors import AskpapersError, ConfigError
from rag.escape import html_text
from rag.index.filtering import Conditions, FilterColumns, FilterFields
from rag.types import Filters

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.records import Paper

__all__ = ["CorpusFacts", "filters_html", "parse_filters"]

CLOUDFORMER_QUESTION = "What mean absolute error does CloudFormer reach?"


@dataclass
class CorpusFacts:
    """Counts over the indexed papers, and the columns to count filter matches with."""

    papers: int = 0
    without_year: int = 0
    with_authors: int = 0
    categories: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=lambda: [CLOUDFORMER_QUESTION])
    columns: Any = None  # FilterColumns over the papers (numpy), None for an empty or unreadable index

    @classmethod
    def of(cls, papers: list[Paper], max_examples: int = 4) -> CorpusFacts:
        facts = cls(
            papers=len(papers),
            without_year=sum(p.year is None for p in papers),
            with_authors=sum(bool(p.authors) for p in papers),
            categories=sorted({c for p in papers for c in p.categories}),
        )
        names = []
        for paper in papers:
            name = paper.title.split(":")[0].strip() if ":" in paper.title else paper.title
            if 3 <= len(name) <= 50 and "CloudFormer" not in name:
                names.append(name)
        step = max(1, len(names) // max_examples)
        facts.examples += [f"What is {name} about?" for name in names[::step][: max_examples - 1]]
        if papers:
            facts.columns = FilterColumns.build([FilterFields.of(p) for p in papers])
        return facts

    @classmethod
    def read(cls, engine: Engine) -> CorpusFacts:
        try:
            return cls.of(list(engine.store.manifest.papers()))
        except AskpapersError:
            return cls()

    def matching(self, filters: Filters | None) -> int:
        """How many indexed papers pass ``filters`` (all of them when there are none)."""
        conditions = Conditions.of(filters)
        if conditions is None or self.columns is None:
            return self.papers
        return int(self.columns.mask(conditions).sum())

    def year_note(self) -> str:
        """What a year filter leaves out, for the filter's help text ('' when every paper has a year)."""
        if not self.without_year:
            return ""
        n = self.without_year
        return f"year filter: {n} of {self.papers} papers have no year and are excluded by it"

    def missing_fields_note(self) -> str:
        """Why the author and category filters are not offered ('' when both are)."""
        missing = [
            name for name, has in (("authors", self.with_authors), ("categories", self.categories)) if not has
        ]
        if not missing:
            return ""
        what = " or ".join(missing)
        return (
            f"No {what} filter: none of the {self.papers} indexed papers has {what} "
            "(their sources, e.g. Daily Papers captures, don't carry them)."
        )


def _year(value: Any, label: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1000 <= int(text) <= 2999:
        raise ConfigError(f"{label} must be a year like 2023, not {text!r}: fix it under Options.")
    return int(text)


def parse_filters(year_from: Any, year_to: Any, author: str | None, category: str | None) -> Filters | None:
    """The page's filter fields as :class:`~rag.types.Filters` (None when none is set); a bad year
    raises :class:`~rag.errors.ConfigError` saying how to fix it."""
    f = Filters(
        year_from=_year(year_from, "Year from"),
        year_to=_year(year_to, "Year to"),
        author=(author or "").strip() or None,
        category=(category or "").strip() or None,
    )
    return None if f.is_empty() else f


def describe(filters: Filters) -> list[str]:
    """Each active filter in words: "year ≥ 2024", "author: Vaswani", "category: cs.CL"."""
    parts = []
    if filters.year_from is not None and filters.year_to is not None:
        parts.append(f"year {filters.year_from}–{filters.year_to}")
    elif filters.year_from is not None:
        parts.append(f"year ≥ {filters.year_from}")
    elif filters.year_to is not None:
        parts.append(f"year ≤ {filters.year_to}")
    if filters.author:
        parts.append(f"author: {filters.author}")
    if filters.category:
        parts.append(f"category: {filters.category}")
    if filters.source:
        parts.append(f"source: {filters.source}")
    return parts


def filters_html(
    facts: CorpusFacts, filters: Filters | None, k: int | None = None, found: int | None = None
) -> str:
    """The active filters as a line (empty without filters): what they are, how many papers pass, and,
    given ``k`` and the number of sources ``found``, that fewer than k sources is the filters' doing."""
    if filters is None or filters.is_empty():
        return ""
    passing = facts.matching(filters)
    text = f"Filters: {html_text(', '.join(describe(filters)))} — {passing} of {facts.papers} papers pass"
    if (filters.year_from is not None or filters.year_to is not None) and facts.without_year:
        text += f" ({facts.without_year} without a year are excluded)"
    text += "."
    if passing == 0:
        text += " No paper passes them: widen or clear them under Options."
    elif k is not None and passing < k and (found is None or found < k):
        text += f" Only {passing} can be sources (k = {k}): the filters limit the answer, not the question."
    return f"<div class='active-filters' role='status'>{text}</div>"
