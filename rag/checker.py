"""Check claims and drafts against papers the user names: ``rag.check``, ``askpapers check`` and the
chat page's "Check a draft" tab.

A paper is named by its id as indexed (a BEIR corpus keeps its ``_id``; ``askpapers search`` shows
the ids) or by an identifier the manifest holds an alias for — a DOI or an arXiv id, bare, as
``doi:…``/``arXiv:…`` or as a doi.org/arxiv.org link (:func:`rag.records.external_keys`). Names that
resolve to no indexed paper are reported, never guessed; a single claim with none that resolves is
an :class:`~rag.errors.UnknownPaperError`. Checking goes through the engine's configured verifier
(``Engine.claim_verifier``: ``settings.verify.method``), the one that checks answer sentences, many
claims per call. A draft is read and resolved by :mod:`rag.draft_check`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from rag.draft_check import DraftReport, check_draft
from rag.errors import InputError, UnknownPaperError
from rag.records import Paper, external_keys
from rag.types import Hit
from rag.verify import Evidence, Source, Statement, Verdict

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.index.interfaces import Manifest

__all__ = ["CheckResult", "Checker", "ClaimItem", "NamedPaper", "paper_ids_of", "resolve_papers"]

#: The reason a claim none of whose papers is indexed gets, with label not_enough_info.
NO_PAPER = "none of the papers it names is in the index"


@dataclass(frozen=True)
class ClaimItem:
    """A claim to check and the papers it names (one line of ``askpapers check --batch``)."""

    id: str | int  # the caller's, returned with the result (a batch line's "id", the line number by default)
    claim: str
    paper_ids: tuple[str, ...]


@dataclass(frozen=True)
class NamedPaper:
    """A paper a claim names: as the user named it, and the indexed paper that is."""

    given: str
    paper_id: str
    title: str


@dataclass(frozen=True)
class CheckResult:
    """A claim's verdict against the indexed papers it names; names that resolved to none are listed."""

    claim: str
    verdict: Verdict
    papers: tuple[NamedPaper, ...]
    unknown_ids: tuple[str, ...]
    id: str | int = ""

    @property
    def top_evidence(self) -> Evidence | None:
        return self.verdict.evidence[0] if self.verdict.evidence else None

    def title_of(self, paper_id: str) -> str:
        return next((p.title for p in self.papers if p.paper_id == paper_id), "")


def paper_ids_of(value: str | Sequence[str]) -> tuple[str, ...]:
    """Paper names as given — a sequence, or one string of names separated by commas or whitespace —
    stripped, without blanks or repeats, in order."""
    names = value.replace(",", " ").split() if isinstance(value, str) else [str(v).strip() for v in value]
    return tuple(dict.fromkeys(n for n in names if n))


def resolve_papers(manifest: Manifest, names: Iterable[str]) -> dict[str, Paper | None]:
    """Each name → the indexed paper it names (its id, else a DOI or arXiv alias), or None."""
    wanted = list(dict.fromkeys(names))
    direct = {p.id: p for p in manifest.papers(wanted)}
    aliased: dict[str, str | None] = {}
    for name in wanted:
        if name not in direct:
            aliased[name] = next((pid for key in external_keys(name) if (pid := manifest.find(key))), None)
    by_alias = {p.id: p for p in manifest.papers(sorted({pid for pid in aliased.values() if pid}))}
    return {name: direct[name] if name in direct else by_alias.get(aliased[name] or "") for name in wanted}


def _batches(items: Iterable[ClaimItem], size: int) -> Iterator[list[ClaimItem]]:
    it = iter(items)
    while group := list(islice(it, size)):
        yield group


class Checker:
    """Claims and drafts checked against an engine's index by its configured verifier. Holds only the
    engine (whose parts are shared and thread-safe): one per request costs nothing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def manifest(self) -> Manifest:
        return self.engine.store.manifest

    def check(self, claim: str, paper_ids: str | Sequence[str]) -> CheckResult:
        """``claim`` against the papers ``paper_ids`` names; UnknownPaperError when none is indexed."""
        names = paper_ids_of(paper_ids)
        if not claim.strip():
            raise InputError("the claim is empty: give the sentence to check")
        if not names:
            raise InputError("name the paper(s) to check the claim against (an id, a DOI or an arXiv id)")
        result = next(self.check_batch([ClaimItem("", claim, names)]))
        if not result.papers:
            listed = ", ".join(repr(n) for n in result.unknown_ids)
            raise UnknownPaperError(
                f"no indexed paper is named {listed}: give a paper id as indexed ('askpapers search' "
                "shows them), a DOI or an arXiv id of an indexed paper",
                ids=result.unknown_ids,
            )
        return result

    def check_batch(self, items: Iterable[ClaimItem], batch_size: int | None = None) -> Iterator[CheckResult]:
        """One result per item, in order, verified ``batch_size`` claims per verifier call (default
        ``settings.verify.batch_size``). An item none of whose papers is indexed is not_enough_info
        with its names in ``unknown_ids``; nothing here raises for one item."""
        size = batch_size or self.engine.settings.verify.batch_size
        for group in _batches(items, size):
            resolved = resolve_papers(self.manifest, (n for item in group for n in item.paper_ids))
            named = [_named(item, resolved) for item in group]
            statements = [
                Statement(item.claim, tuple(Source(p.id, p.title, p.abstract) for p in papers.values()))
                for item, (papers, _) in zip(group, named, strict=True)
            ]
            checkable = [i for i, s in enumerate(statements) if s.sources]
            verified = self.engine.claim_verifier.verify([statements[i] for i in checkable])
            verdicts = dict(zip(checkable, verified, strict=True))
            for i, (item, (papers, unknown)) in enumerate(zip(group, named, strict=True)):
                yield CheckResult(
                    item.claim,
                    verdicts.get(i) or Verdict("not_enough_info", 0.0, reason=NO_PAPER),
                    tuple(NamedPaper(given, p.id, p.title) for given, p in papers.items()),
                    unknown,
                    item.id,
                )

    def check_draft_text(self, text: str) -> DraftReport:
        """Every cited sentence of a draft checked against the indexed papers its references name
        (by DOI, arXiv id, title, or the index's top search hit when it carries that paper's title)."""
        return check_draft(text, self.manifest, self.engine.claim_verifier, search=self._top_hit)

    def _top_hit(self, text: str) -> list[Hit]:
        return self.engine.search(text, k=1)


def _named(item: ClaimItem, resolved: dict[str, Paper | None]) -> tuple[dict[str, Paper], tuple[str, ...]]:
    """The item's indexed papers (name → paper, each paper once) and the names that resolved to none."""
    papers: dict[str, Paper] = {}
    for name in item.paper_ids:
        paper = resolved.get(name)
        if paper is not None and all(p.id != paper.id for p in papers.values()):
            papers[name] = paper
    unknown = tuple(n for n in item.paper_ids if resolved.get(n) is None)
    return papers, unknown
