"""Where a reader can find a paper, and when it appeared, as every output shows it.

Sources often carry neither a link nor a full date (a Daily Papers capture gives a title, an
abstract and "Oct 7" or "Aug 2, 2024"), so a link falls back in order: the record's own http(s)
URL, its DOI (https://doi.org/…), its arXiv id (https://arxiv.org/abs/…), and last a title search
on arXiv that is labelled as a search — never a guess presented as the paper's page. Dates keep
what the source said and say plainly when the year is not known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from rag.escape import safe_url
from rag.records import ARXIV, DOI

__all__ = ["PaperLink", "paper_date", "paper_link"]

#: an id that is itself an arXiv id, new style ("2401.01234", "2401.01234v2") or old style ("hep-th/9901001")
_ARXIV_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$", re.IGNORECASE)
_HAS_YEAR = re.compile(r"\b(1[89]|2\d)\d\d\b")


@dataclass(frozen=True)
class PaperLink:
    """A link to a paper: ``kind`` is 'url', 'doi', 'arxiv' or 'search' (a title search, not the paper)."""

    url: str
    kind: str

    @property
    def label(self) -> str:
        """What to call the link next to the title."""
        return {"doi": "DOI", "arxiv": "arXiv", "search": "search arXiv"}.get(self.kind, "link")


def _arxiv_id(paper_id: str, source: str, url: str) -> str | None:
    if match := _ARXIV_ID.match(paper_id.strip()):
        return match.group(1)
    if "arxiv" in source.lower() and (match := ARXIV.search(f"arXiv:{paper_id}")):
        return match.group(1)
    if "arxiv" in url.lower() and (match := ARXIV.search(url)):
        return match.group(1)
    return None


def paper_link(
    title: str, *, url: str | None = None, doi: str | None = None, paper_id: str = "", source: str = ""
) -> PaperLink:
    """The best link to a paper: its URL, DOI, arXiv id, else an arXiv title search (always http(s))."""
    if own := safe_url(url):
        return PaperLink(own, "url")
    found = DOI.search(doi or "") or DOI.search(paper_id)
    if found and (link := safe_url(f"https://doi.org/{quote(found.group(1), safe='/;:()._-')}")):
        return PaperLink(link, "doi")
    if arxiv := _arxiv_id(paper_id, source, url or ""):
        return PaperLink(f"https://arxiv.org/abs/{quote(arxiv, safe='/.-')}", "arxiv")
    query = urlencode({"query": " ".join(title.split())[:300], "searchtype": "title"})
    return PaperLink(f"https://arxiv.org/search/?{query}", "search")


def paper_date(year: int | None, date: str | None = None) -> str:
    """The date as the source gave it, with its year: "Aug 2, 2024"; "Oct 7, 2024" when only the
    record's year is separate; "Oct 7 (year not given)"; "2024"; or "no date"."""
    date = " ".join((date or "").split())
    if date and _HAS_YEAR.search(date):
        return date
    if date and year:
        return f"{date}, {year}"
    if date:
        return f"{date} (year not given)"
    return str(year) if year else "no date"
