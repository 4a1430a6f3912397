"""Checking a draft: sentences with their citations, references resolved by DOI, arXiv id, title or
search (never guessed), and a verdict per cited sentence — on in-memory index parts."""

from __future__ import annotations

from collections.abc import Sequence

from rag.draft_check import check_draft, split_draft
from rag.index.memory import MemoryManifest
from rag.records import Paper
from rag.types import Hit
from rag.verify import Statement, Verdict
from tests.index_fixtures import chunks_of

PAPERS = [
    Paper(
        title="CloudFormer: Attention-based Performance Prediction",
        abstract="CloudFormer reaches 7.8% MAE.",
        id="t:cloud",
    ),
    Paper(
        title="Sparse Retrieval Revisited",
        abstract="Sparse retrieval is strong.",
        id="2101.00001",
        source="arxiv",
    ),
    Paper(
        title="Graph Kernels at Scale",
        abstract="Graph kernels scale.",
        id="g1",
        doi="10.1145/3292500.3330701",
    ),
]

DRAFT = """# Related work

CloudFormer predicts VM performance with 7.8% error [1]. Sparse retrieval
remains competitive [2], and graph kernels scale [3, 4].
This sentence cites nothing. Another cites a missing reference [9].

## References
1. A. Author. CloudFormer: Attention-based performance prediction. In Proc. 2024.
2. B. Author (2021). arXiv:2101.00001v2
[3] https://doi.org/10.1145/3292500.3330701
4. C. Nobody. A paper that is not indexed. 2020.
"""


class EchoVerifier:
    """Supported when the statement shares a word with a cited abstract (enough to tell wiring apart)."""

    name = "echo"

    def __init__(self) -> None:
        self.seen: list[Statement] = []

    def verify(self, statements: Sequence[Statement]) -> list[Verdict]:
        self.seen += statements
        out = []
        for st in statements:
            words = set(st.text.lower().split())
            ok = any(words & set(s.abstract.lower().split()) for s in st.sources)
            out.append(Verdict("supported" if ok else "not_enough_info", 0.9 if ok else 0.1))
        return out


def manifest() -> MemoryManifest:
    m = MemoryManifest()
    m.commit_papers(PAPERS, [c for p in PAPERS for c in chunks_of(p)])
    return m


def test_split_finds_paragraphs_and_numbered_references() -> None:
    paragraphs, refs = split_draft(DRAFT)
    assert [line for line, _ in paragraphs] == [3]
    assert sorted(refs) == [1, 2, 3, 4]
    assert refs[3] == "https://doi.org/10.1145/3292500.3330701"
    # without a heading: the numbered lines that end the text
    _, bare = split_draft("X holds [1].\n\n1. Sparse Retrieval Revisited. 2021.\n")
    assert bare == {1: "Sparse Retrieval Revisited. 2021."}


def test_references_resolve_by_title_arxiv_doi_and_never_by_guess() -> None:
    verifier = EchoVerifier()
    report = check_draft(DRAFT, manifest(), verifier)
    how = {r.n: (r.paper_id, r.how) for r in report.references}
    assert how == {1: ("t:cloud", "title"), 2: ("2101.00001", "arxiv"), 3: ("g1", "doi"), 4: (None, "")}
    assert [r.n for r in report.unresolved_references] == [4]

    by_text = {c.sentence.text: c for c in report.sentences}
    assert "This sentence cites nothing." not in by_text  # only cited sentences are checked
    first = by_text["CloudFormer predicts VM performance with 7.8% error."]
    assert first.sentence.cites == (1,) and first.verdict and first.verdict.supported
    both = by_text["Sparse retrieval remains competitive, and graph kernels scale."]
    assert both.sentence.cites == (2, 3, 4) and both.unresolved == (4,)
    assert both.verdict is not None  # checked against [2] and [3], the references that resolved
    assert [s.paper_id for s in verifier.seen[1].sources] == ["2101.00001", "g1"]
    missing = next(c for c in report.sentences if c.sentence.cites == (9,))
    assert missing.verdict is None and missing.unresolved == (9,)
    assert all(s.sources for s in verifier.seen)  # nothing was checked against no source


def test_search_is_accepted_only_when_the_reference_holds_the_title() -> None:
    m = manifest()

    def search(text: str) -> list[Hit]:
        return [Hit("g1", "Graph Kernels at Scale", None, [], None, 1.0, "")]

    refs = {
        1: "Smith J. Graph kernels at scale (extended version), KDD",
        2: "Jones K. Something else entirely",
    }
    from rag.draft_check import resolve

    got = {r.n: (r.paper_id, r.how) for r in resolve(refs, m, search)}
    assert got == {1: ("g1", "search"), 2: (None, "")}


def test_long_wrapped_tails_and_year_lines_do_not_break_the_reference_list() -> None:
    tail = "C [1].\n\n1. Invariant Graph Transformer\n" + "    x\n" * 3000  # was a RecursionError
    paragraphs, references = split_draft(tail)
    assert paragraphs == [(1, "C [1].")] and list(references) == [1]
    draft = (
        "Claim [1]. Other [2].\n\nReferences\n1. A. Author. A title.\n"
        "    2019. Some Journal 12(3).\n2. B. Other title.\n"
    )
    assert list(split_draft(draft)[1]) == [1, 2]  # "2019." is a wrapped line, not reference 2019
