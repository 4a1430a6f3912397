"""Reference-manager exports: BibTeX (Zotero, JabRef), RIS and Zotero's CSV — every field, every kind
of bad input (a Skip naming file:line, the rest still read), detection, and a real ``askpapers ingest``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.parsers.base import Skip
from ingest.parsers.bibtex import plain_text
from ingest.parsers.citation import person_name
from ingest.sources import detect_format, read_inputs
from rag.records import Paper
from tests.test_cli import run
from tests.test_sources import ABSTRACT

FIXTURES = Path(__file__).parent / "fixtures"
ZOTERO_BIB, JABREF_BIB = FIXTURES / "zotero.bib", FIXTURES / "jabref.bib"
ZOTERO_RIS, ZOTERO_CSV = FIXTURES / "zotero.ris", FIXTURES / "zotero.csv"
TRANSFORMER = (
    "The dominant sequence transduction models are based on complex recurrent or convolutional neural "
    "networks. We propose a new simple network architecture, the Transformer, based solely on attention "
    "mechanisms, dispensing with recurrence and convolutions entirely. Experiments on two machine "
    "translation tasks show these models to be superior in quality while being more parallelizable and "
    "requiring significantly less time to train."
)


def _read(*paths: Path, field_map: dict[str, str] | None = None) -> tuple[list[Paper], list[str]]:
    items = list(read_inputs(paths, field_map=field_map))
    return [i for i in items if isinstance(i, Paper)], [str(i) for i in items if isinstance(i, Skip)]


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- every field -------------------------------------------------------------------------------


def test_zotero_bibtex_every_field() -> None:
    papers, skips = _read(ZOTERO_BIB)
    assert skips == []
    attention, sparse = papers
    assert attention == Paper(
        id="1706.03762",  # the arXiv id, as the arXiv parser's ids are: the same paper dedups across them
        title="Attention Is All You Need",  # case-protecting braces gone
        abstract=TRANSFORMER,
        year=2017,
        authors=[
            "Ashish Vaswani",
            "Noam Shazeer",
            "Niki Parmar",
            "Jakob Uszkoreit",
            "Llion Jones",
            "Aidan N. Gomez",
            "Łukasz Kaiser",  # {\L}ukasz
            "Illia Polosukhin",
        ],
        categories=["Computer Science - Computation and Language", "Computer Science - Machine Learning"],
        url="http://arxiv.org/abs/1706.03762",
        doi="10.48550/arXiv.1706.03762",
        source="bibtex",
        origin=f"{ZOTERO_BIB}:1",
        extra={"citekey": "vaswani_attention_2017"},
    )
    assert attention.lookup_keys() == ["doi:10.48550/arxiv.1706.03762", "arxiv:1706.03762"]
    assert sparse == Paper(
        id="doi:10.1234/jrs.2021.0042",  # no arXiv id: the DOI, as a generic record's id
        title="Sparse Mixture-of-Experts Routing for Café Recommendation",
        abstract="We route each request to a sparse subset of experts, so only 5% of the parameters are "
        "active per query. On a café recommendation benchmark the router improves hit rate by 12% over a "
        "dense baseline, and its α-weighted load balancing loss keeps experts evenly used.",
        year=2021,
        authors=["Jörg Müller", "Anna van der Berg", "Sean O'Neil"],
        categories=["mixture of experts", "recommendation", "routing"],  # keywords, split on , and ;
        url="https://example.org/journal/sparse-moe-routing",
        doi="10.1234/jrs.2021.0042",
        source="bibtex",
        origin=f"{ZOTERO_BIB}:16",
        extra={"citekey": "muller_sparse_2021", "venue": "Journal of Recommender Systems"},
    )


def test_jabref_bibtex_strings_eprint_date_and_others() -> None:
    papers, skips = _read(JABREF_BIB)
    assert skips == []  # the "% Encoding" line, @String and @Comment are not papers
    dropout, attention, adam = papers
    assert (dropout.id, dropout.origin) == (Paper(title=dropout.title, abstract="").id, f"{JABREF_BIB}:5")
    assert dropout.title == "Dropout: A Simple Way to Prevent Neural Networks from Overfitting"
    assert dropout.authors[0] == "Nitish Srivastava" and len(dropout.authors) == 5  # "First Last" form
    assert dropout.extra == {"citekey": "Srivastava2014", "venue": "Journal of Machine Learning Research"}
    assert (dropout.year, dropout.categories) == (
        2014,
        ["neural networks", "regularization", "deep learning"],
    )
    assert dropout.url == "http://jmlr.org/papers/v15/srivastava14a.html" and dropout.doi is None

    # eprint + archivePrefix: the arXiv id without its version; primaryClass is the first category
    assert (attention.id, attention.url) == ("1706.03762", "https://arxiv.org/abs/1706.03762")
    assert attention.categories == ["cs.CL"]
    assert attention.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]  # "and others" dropped
    assert attention.origin == f"{JABREF_BIB}:18"

    # BibLaTeX's date field gives the year; Google Scholar's "arXiv preprint arXiv:…" journal the id
    assert (adam.year, adam.id, adam.authors) == (2015, "1412.6980", ["Diederik P. Kingma", "Jimmy Ba"])


def test_ris_every_field() -> None:
    papers, skips = _read(ZOTERO_RIS)
    assert skips == []
    resnet, word2vec, gan = papers
    assert resnet == Paper(
        id="doi:10.1109/cvpr.2016.90",
        title="Deep Residual Learning for Image Recognition",
        abstract="Deeper neural networks are more difficult to train. We present a residual learning "
        "framework to ease the training of networks that are substantially deeper than those used "
        "previously, reformulating the layers as learning residual functions with reference to the "
        "layer inputs.",
        year=2016,
        authors=["Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"],
        categories=["Image recognition", "Residual networks"],
        url="https://ieeexplore.ieee.org/document/7780459",
        doi="10.1109/CVPR.2016.90",
        source="ris",
        origin=f"{ZOTERO_RIS}:1",
    )
    # an arXiv preprint: id from its DOI/URL; an abstract continued over lines is joined
    assert (word2vec.id, word2vec.year, word2vec.origin) == ("1301.3781", 2013, f"{ZOTERO_RIS}:19")
    assert word2vec.abstract.startswith("We propose two novel model architectures for computing continuous")
    assert "representations of words from very large" in word2vec.abstract
    assert word2vec.categories == ["Computer Science - Computation and Language"]
    # the older tags: T1 title, A1 authors, Y1 year, N2 abstract
    assert (gan.title, gan.year, gan.origin) == ("Generative Adversarial Nets", 2014, f"{ZOTERO_RIS}:35")
    assert gan.authors == ["Ian Goodfellow", "Jean Pouget-Abadie", "Yoshua Bengio"]
    assert gan.abstract.startswith("We propose a framework for estimating generative models")
    assert (gan.url, gan.doi) == (None, None)


def test_zotero_csv_preset_is_detected_from_the_header() -> None:
    papers, skips = _read(ZOTERO_CSV)
    bert, review = papers
    assert bert.title == "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    assert bert.abstract.startswith("We introduce BERT") and "one additional output layer" in bert.abstract
    assert bert.authors == ["Jacob Devlin", "Ming-Wei Chang", "Kenton Lee", "Kristina Toutanova"]
    assert (bert.year, bert.doi, bert.id) == (2019, "10.18653/v1/N19-1423", "doi:10.18653/v1/n19-1423")
    assert bert.url == "https://aclanthology.org/N19-1423"
    assert bert.categories == ["language models", "pre-training"]  # Manual Tags, split on ";"
    assert (bert.source, bert.origin) == ("csv", f"{ZOTERO_CSV}:3")
    assert review.authors == ["Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton"]
    assert skips == [f"{ZOTERO_CSV}:5: record has no abstract"]  # the book without an abstract


def test_zotero_csv_field_map_overrides_the_preset() -> None:
    papers, _ = _read(ZOTERO_CSV, field_map={"categories": "Automatic Tags"})
    assert papers[0].categories == ["Computer Science - Computation and Language"]


def test_csv_without_zotero_header_keeps_the_generic_rules(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.csv", f'title,abstract,authors\nT,{ABSTRACT},"Ada Lovelace, Alan Turing"\n')
    papers, _ = _read(path)
    assert papers[0].authors == ["Ada Lovelace", "Alan Turing"]


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (r"{\"U}ber {GPU}s", "Über GPUs"),
        (r"na\"{\i}ve caf\'e \c{c}a", "naïve café ça"),
        (r"\emph{sparse} and \textbf{bold} \textit{it}", "sparse and bold it"),
        (r"50\% of R\&D, a\_b, \$5", "50% of R&D, a_b, $5"),
        (r"$\alpha$-divergence in $O(n \log n)$", "α-divergence in O(n log n)"),
        (r"as shown~\cite{smith2020} in Fig.~\ref{fig:1}", "as shown in Fig."),
        ("spread\n   over\tlines", "spread over lines"),
        ("{Rock 'n Roll} ,, {CPU}s", "Rock 'n Roll ,, CPUs"),  # no LaTeX commands: only braces go
    ],
)
def test_latex_becomes_plain_text(latex: str, text: str) -> None:
    assert plain_text(latex) == text


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Vaswani, Ashish", "Ashish Vaswani"),
        ("van der Berg, Anna", "Anna van der Berg"),
        ("King, Jr., Martin Luther", "Martin Luther King, Jr."),
        ("Ada Lovelace", "Ada Lovelace"),
        ("Plato", "Plato"),
        ("  ", ""),
    ],
)
def test_person_names_read_first_name_first(name: str, shown: str) -> None:
    assert person_name(name) == shown


def test_mendeley_and_better_bibtex_arxiv_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "more.bib",
        "@article{Mendeley2013,\n"
        "archivePrefix = {arXiv},\narxivId = {1301.3781},\nauthor = {Mikolov, Tomas and Chen, Kai},\n"
        "abstract = {Word vectors {\\%} done fast.},\ntitle = {{Efficient Estimation of Word Representations}},\n"
        "year = {2013}\n}\n"
        "@online{bbt, title = {BBT}, abstract = {Better BibTeX.}, eprinttype = {arxiv}, eprint = {2101.00001},\n"
        "  date = {2021-01-01}}\n"
        "@misc{other, title = {Not arXiv}, abstract = {A.}, eprinttype = {pubmed}, eprint = {1234.56789}}\n",
    )
    (mendeley, bbt, other), skips = _read(path)
    assert skips == []
    assert (mendeley.id, mendeley.title, mendeley.abstract) == (
        "1301.3781",
        "Efficient Estimation of Word Representations",
        "Word vectors % done fast.",
    )
    assert (bbt.id, bbt.year, bbt.url) == ("2101.00001", 2021, "https://arxiv.org/abs/2101.00001")
    assert other.id.startswith("t:") and other.url is None  # an eprint from another archive is no arXiv id


# --- bad input -----------------------------------------------------------------------------------

BAD_BIB = b"""@article{good1,
  title = {Good One},
  abstract = {An abstract about graphs.},
  year = {2020},
}

@article{noabstract,
  title = {No Abstract Here},
  year = {2020},
}

@article{broken,
  title = {Unclosed brace,
  abstract = {text},
  year = 2020
}

@article{badyear,
  title = {Bad Year},
  abstract = {Something.},
  year = {forthcoming},
}

@article{undefined, title = {Undefined macro}, abstract = {Something.}, journal = nosuchstring}
@article{latin1, title = {Caf\xe9}, abstract = {Latin-1 bytes.}}
@article{good2, title = "Quoted Title", abstract = "Quoted abstract with {braces}.", year = 2019}
@article{notitle, abstract = {Only abstract.}}
@article{good3,
  title = {Last}, abstract = {Last abstract.}}
"""


def test_bad_bibtex_entries_are_skipped_by_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.bib", BAD_BIB)
    papers, skips = _read(path)
    assert [(p.title, p.origin) for p in papers] == [
        ("Good One", f"{path}:1"),
        ("Quoted Title", f"{path}:26"),
        ("Last", f"{path}:28"),
    ]
    assert papers[1].abstract == "Quoted abstract with braces."
    assert skips == [
        f"{path}:7: record has no abstract",
        f"{path}:12: malformed BibTeX @article entry (bibtexparser could not read it): "
        "check its key, braces, quotes and commas",
        f"{path}:18: year 'forthcoming' has no year in it (expected e.g. 2017 or 2017-06-12); "
        "fix or remove the year field",
        f"{path}:24: BibTeX entry uses @string name 'nosuchstring', which is not defined above it; "
        "define it or put the value in braces",
        f"{path}:25: record is not valid UTF-8 (invalid continuation byte on line 25); "
        "export the file as UTF-8 or fix that character",
        f"{path}:27: record has no title",
    ]


BAD_RIS = b"""TY  - JOUR
TI  - Good
AB  - Fine abstract.
PY  - 2020
ER  -

TY  - JOUR
TI  - No end line
AB  - Lost.

TY  - JOUR
TI  - Bad year
AB  - Something.
PY  - n.d.
ER  -
TY  - JOUR
TI  - Caf\xe9
AB  - Latin-1 bytes.
ER  -
TY  - JOUR
AB  - No title.
ER  -
TY  - JOUR
TI  - No abstract
ER  -
TY  - JOUR\r
TI  - Windows line ends\r
AB  - Read all the same.\r
Y1  - 2001/02/03/\r
ER  - \r
"""


def test_bad_ris_records_are_skipped_by_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.ris", BAD_RIS)
    papers, skips = _read(path)
    assert [(p.title, p.year, p.origin) for p in papers] == [
        ("Good", 2020, f"{path}:1"),
        ("Windows line ends", 2001, f"{path}:26"),
    ]
    assert skips == [
        f"{path}:7: RIS record has no 'ER  -' line ending it; add one after its last tag",
        f"{path}:11: PY 'n.d.' has no year in it (expected e.g. 2017 or 2017-06-12); fix or remove the PY field",
        f"{path}:16: record is not valid UTF-8 (invalid continuation byte on line 17); "
        "export the file as UTF-8 or fix that character",
        f"{path}:20: record has no title",
        f"{path}:23: record has no abstract",
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.bib", b"", "file is empty"),
        ("blank.ris", b"\n  \n", "file has only whitespace"),
        ("comments.bib", b"% just a comment\n@comment{nothing here}\n", None),
        ("notes.bib", b"just some notes\n", "no BibTeX entries found (expected lines like '@article{key,')"),
        ("notes.ris", b"just some notes\n", "no RIS records found (expected lines like 'TY  - JOUR')"),
    ],
)
def test_files_without_records(tmp_path: Path, name: str, content: bytes, reason: str | None) -> None:
    path = _write(tmp_path / name, content)
    papers, skips = _read(path)
    assert papers == []
    assert skips == ([f"{path}: {reason}"] if reason else [])


def test_bibtex_in_any_case_with_byte_order_mark_and_parentheses(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "odd.bib",
        "\ufeff@ARTICLE(upper, TITLE = {Upper Case}, ABSTRACT = {Fields in capitals.}, YEAR = 1999)\n"
        "@Online{web, title = {A Web Page}, abstract = {BibLaTeX types are kept.}, date = {2024-03}}\n",
    )
    papers, skips = _read(path)
    assert skips == []
    assert [(p.title, p.year, p.origin) for p in papers] == [
        ("Upper Case", 1999, f"{path}:1"),
        ("A Web Page", 2024, f"{path}:2"),
    ]


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [
        ("refs.bib", b"anything", "bibtex"),
        ("refs.BIB", b"", "bibtex"),
        ("refs.ris", b"anything", "ris"),
        ("export.txt", ZOTERO_BIB.read_bytes(), "bibtex"),
        ("export.txt", JABREF_BIB.read_bytes(), "bibtex"),  # "% Encoding" and @String come first
        ("export.txt", b"\xef\xbb\xbf\n" + ZOTERO_RIS.read_bytes(), "ris"),
        ("export", b"@article{key,\n title={x}}\n", "bibtex"),
        ("mendeley.txt", b"Automatically generated by Mendeley Desktop.\n\n@article{Key2013,\n", "bibtex"),
        ("notes.txt", b"Contact me @home{ever,\nor not}\n", None),  # "@" later on a line: not BibTeX
        ("notes.txt", b"@channel{no key here}\n", None),
        ("notes.txt", b"Some text\nTY  - JOUR\n", None),  # RIS starts with its TY line
        ("zotero.csv", ZOTERO_CSV.read_bytes(), "csv"),
    ],
)
def test_detect_format(name: str, head: bytes, fmt: str | None) -> None:
    assert detect_format(Path(name), head) == fmt


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_ingest_exports_and_search_them_with_filters(tmp_path: Path) -> None:
    home = tmp_path / "home"
    broken = _write(tmp_path / "broken.bib", BAD_BIB)
    files = [ZOTERO_BIB, JABREF_BIB, ZOTERO_RIS, ZOTERO_CSV, broken]
    result = run("ingest", *map(str, files), "--json", home=home)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    # 2 + 3 + 3 + 2 + 3 papers read, 12 of them distinct: "Attention Is All You Need" is in both .bib
    # files (one with its arXiv URL and DOI, one with eprint = {1706.03762v5}) and is merged
    assert (summary["papers_seen"], summary["new"], summary["duplicates_merged"]) == (12, 12, 1)
    assert f"{ZOTERO_CSV}:5: record has no abstract" in summary["skipped_reasons"]
    assert f"{broken}:12: malformed BibTeX @article entry" in " ".join(summary["skipped_reasons"])
    assert summary["skipped"] == 7

    def search(query: str, *filters: str) -> list[dict[str, Any]]:
        done = run("search", query, "--k", "20", "--json", *filters, home=home)
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    hits = search("attention-based sequence transduction", "--author", "vaswani", "--year-from", "2017")
    assert [h["title"] for h in hits] == ["Attention Is All You Need"]
    assert hits[0]["authors"][:2] == ["Ashish Vaswani", "Noam Shazeer"]
    assert set(hits[0]["categories"]) >= {"cs.CL", "Computer Science - Machine Learning"}

    hinton = search("neural networks", "--author", "hinton")
    assert {h["title"] for h in hinton} == {
        "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
        "Deep learning",
    }
    early = search("neural networks", "--year-to", "2014")
    assert {h["year"] for h in early} <= {2013, 2014} and len(early) == 3  # word2vec, GAN, dropout
    assert [h["title"] for h in search("café recommendation", "--author", "müller")] == [
        "Sparse Mixture-of-Experts Routing for Café Recommendation"
    ]
    assert {h["title"] for h in search("image recognition", "--source", "ris", "--year-from", "2015")} == {
        "Deep Residual Learning for Image Recognition"
    }
