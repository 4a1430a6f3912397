"""The paper record every parser produces, the chunks it is indexed as, and the identity rules dedup relies on."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_title(title: str) -> str:
    """Case-, accent-, punctuation- and whitespace-insensitive form of a title."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", text).strip()


#: A DOI as written anywhere (a bare one, doi:…, or a doi.org link).
DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>\]\[]+[^\s\"'<>\]\[.,;:)])", re.IGNORECASE)
#: An arXiv identifier: new style (2101.00001, optional version) or old style (hep-th/9901001).
ARXIV = re.compile(
    r"(?:arxiv[:/ ]\s*|arxiv\.org/(?:abs|pdf)/|10\.48550/arxiv\.|(?<![\w.]))"
    r"((?:\d{4}\.\d{4,5})|(?:[a-z\-]+(?:\.[A-Z]{2})?/\d{7}))(?:v\d+)?(?![\w])",
    re.IGNORECASE,
)


def external_keys(text: str) -> list[str]:
    """Lookup keys (``doi:…``, ``arxiv:…``) of the identifiers written in ``text`` — a reference entry,
    a URL, a DOI field — in the form :meth:`Paper.lookup_keys` indexes them."""
    keys = [f"doi:{m.group(1).lower()}" for m in DOI.finditer(text)]
    keys += [
        f"arxiv:{m.group(1).lower()}"
        for m in ARXIV.finditer(text)
        if "arxiv" in text.lower() or "." in m.group(1)
    ]
    return list(dict.fromkeys(keys))


def title_hash_id(title: str) -> str:
    """Stable id for a paper whose source gives none."""
    return "t:" + hashlib.sha1(normalise_title(title).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A piece of one paper's text as indexed: its id (rag/index/chunk_ids.py), position and text."""

    id: str
    paper_id: str
    idx: int
    text: str


@dataclass
class Paper:
    """One paper as parsed from a source; ``id`` is the source's own id when it has one."""

    title: str
    abstract: str
    id: str = ""
    year: int | None = None
    date: str | None = None
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    url: str | None = None
    doi: str | None = None
    source: str = ""
    #: where it was read, e.g. "data/sample/000.txt:12" (for messages, not identity)
    origin: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.title = " ".join(self.title.split())
        self.abstract = " ".join(self.abstract.split())
        if not self.id:
            self.id = title_hash_id(self.title)

    @property
    def norm_title(self) -> str:
        return normalise_title(self.title)

    def lookup_keys(self) -> list[str]:
        """Keys a reference can name this paper by: its DOI and arXiv id (from its id, DOI or URL)."""
        text = " ".join(filter(None, [self.doi or "", self.url or ""]))
        keys = external_keys(text)
        if self.source.split(",")[0] == "arxiv" or "arxiv" in self.source:
            keys += external_keys(f"arXiv:{self.id}")
        return list(dict.fromkeys(keys))

    def content_hash(self) -> str:
        """Hash of everything stored per paper: a change re-embeds or rewrites it."""
        data = asdict(self)
        data.pop("origin", None)
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def merge(self, other: Paper) -> None:
        """Fill what this record lacks from a duplicate of the same paper."""
        if len(other.abstract) > len(self.abstract) and not self.abstract:
            self.abstract = other.abstract
        for name in ("year", "date", "url", "doi"):
            if getattr(self, name) in (None, "") and getattr(other, name) not in (None, ""):
                setattr(self, name, getattr(other, name))
        if not self.authors and other.authors:
            self.authors = list(other.authors)
        for cat in other.categories:
            if cat not in self.categories:
                self.categories.append(cat)
        sources = set(filter(None, self.source.split(","))) | set(filter(None, other.source.split(",")))
        self.source = ",".join(sorted(sources))
        if self.id.startswith("t:") and not other.id.startswith("t:"):
            self.id = other.id
        for key, value in other.extra.items():
            self.extra.setdefault(key, value)
