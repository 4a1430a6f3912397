"""The one text module (rag/text/): tokens, stopwords, stems, sentences, numbers, names, citation markers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag.index.bm25_segment import term_key
from rag.index.filtering import FilterFields
from rag.index.lexical import BM25Index
from rag.records import Chunk
from rag.text import (
    QUESTION_WORDS,
    RESEARCH_WORDS,
    STOPWORDS,
    NameIndex,
    cited_numbers,
    content_terms,
    marker_numbers,
    markers_before_stop,
    names_in,
    numbers_in,
    rewrite_markers,
    sentence_ends,
    split_sentences,
    stem,
    strip_markers,
    terms,
    tokens,
    unescape_latex,
    values_in,
)

REPO = Path(__file__).resolve().parent.parent


# --- tokens, stopwords, stems ---------------------------------------------------------------------
def test_tokens_split_on_punctuation_and_fold_acronym_plurals() -> None:
    assert tokens("GPT-4o beat LLM-based agents; LLMs and GPUs.") == [
        "gpt", "4o", "beat", "llm", "based", "agents", "llm", "and", "gpu",
    ]  # fmt: skip
    assert tokens("Jöns_Åke 7.8%") == ["jöns", "åke", "7", "8"]


def test_one_stopword_list_nltk_plus_research_words() -> None:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    from rag.text.stopwords import NLTK_ENGLISH

    assert set(STOPWORDS_EN_PLUS) == NLTK_ENGLISH  # our copy is NLTK's list as bm25s ships it
    stop = STOPWORDS
    assert {"the", "of", "which", "between", "not"} <= stop
    assert stop >= RESEARCH_WORDS and {"model", "models", "paper", "propose"} <= stop
    assert not QUESTION_WORDS & stop  # those are dropped from questions only
    assert "transformer" not in stop and "accuracy" not in stop


def test_snowball_stems() -> None:
    assert {stem(w) for w in ("trained", "training", "trains")} == {"train"}
    assert stem("studies") == stem("study") and stem("modelling") == "model"


def test_terms_are_what_bm25_indexes() -> None:
    assert terms("The models were trained on 35 GPUs by the authors of GPT-4o.") == [
        "train", "35", "gpu", "gpt", "4o",
    ]  # fmt: skip
    assert terms("the of a") == []


def test_content_terms_drop_numbers_and_question_phrasing() -> None:
    assert content_terms("Accuracy rose by 35% on 2 benchmarks") == {"accuraci", "rose", "benchmark"}
    asked = content_terms("How accurately does CloudFormer predict the effect of noise?", question=True)
    assert asked == {"cloudform", "predict", "nois"}
    assert content_terms("What is the accuracy of CloudFormer?") == {"accuraci", "cloudform"}


def test_terms_are_thread_safe() -> None:
    texts = [f"Transformers trained on {i} tasks generalise across domains and languages" for i in range(200)]
    expected = [terms(t) for t in texts]
    results: list[list[list[str]]] = []

    def work() -> None:
        results.append([terms(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_bm25_indexes_and_queries_with_the_same_terms() -> None:
    chunk = Chunk(id="p1#0", paper_id="p1", idx=0, text="Transformers were trained on GPUs for translation.")
    other = Chunk(id="p2#0", paper_id="p2", idx=0, text="A survey of graph colouring heuristics.")
    fields = FilterFields(year=None, categories=(), sources=(), author_words=())
    index = BM25Index.build([(chunk, fields), (other, fields)], version=1)
    segment = index.segments[0][1]
    assert all(len(segment.postings(term_key(t))[0]) == 1 for t in terms(chunk.text))
    assert [cid for cid, _ in index.search("training a transformer on a GPU", 5)] == ["p1#0"]
    assert index.search("the of which", 5) == []  # only stopwords: no query at all


# --- sentences -----------------------------------------------------------------------------------
def test_sentences_end_at_stops_not_abbreviations() -> None:
    text = 'We compare X (see Fig. 2), e.g. Y. Then Z vs. W. "Quoted." It ends (as shown.) Here. 3 more.'
    assert split_sentences(text) == [
        "We compare X (see Fig. 2), e.g. Y. ",
        "Then Z vs. W. ",
        '"Quoted." ',
        "It ends (as shown.) ",
        "Here. ",
        "3 more.",
    ]
    assert "".join(split_sentences(text)).rstrip() == text
    assert sentence_ends(text) == 5 and sentence_ends("One sentence, e.g. this one.") == 0


# --- numbers -------------------------------------------------------------------------------------
def test_numbers_with_units_compare_by_value() -> None:
    assert [t for t, _ in numbers_in("Speed-ups of 1.75-2.39x (N=252), 8,000+ users and $20; p<0.01.")] == [
        "1.75", "2.39x", "252", "8,000", "20", "0.01",
    ]  # fmt: skip
    assert numbers_in("8k users") == [("8k", {8.0, 8000.0})]
    assert numbers_in("GPT-3.5 and Llama-2-7b-chat on CIFAR-10") == []  # digits inside names are names
    assert numbers_in("two papers agree that three runs differ") == [("three", {3.0})]
    assert {8000.0, 88.0, 4.0, 2.0} <= values_in(unescape_latex("8 thousand users, 88\\% on GPT-4, two runs"))


# --- names ---------------------------------------------------------------------------------------
def test_names_as_written() -> None:
    assert names_in("Notably, LogicGuide beats GPT-4o and Llama-3-8B on SQuAD, unlike LLM-based agents.") == [
        "LogicGuide", "GPT-4o", "Llama-3-8B", "SQuAD", "LLM",
    ]  # fmt: skip
    # capitalised words count where they don't start a sentence or clause; inner capitals always
    assert names_in("What Elo rating does it reach in Avalon? Energy: Many kWh per run.") == [
        "Elo", "Avalon", "kWh",
    ]  # fmt: skip
    assert names_in("However, the results show that However is not a name") == []


def test_a_text_mentions_a_name_in_any_spelling() -> None:
    text = NameIndex.of("Large language models (LLMs) such as GPT4o and Llama 3 solve CIFAR-10.")
    assert text.mentions("GPT-4o") and text.mentions("LLM") and text.mentions("LLMs")
    assert text.mentions("Llama-3") and text.mentions("CIFAR10")
    assert not text.mentions("GPT-4") and not text.mentions("Elo") and not text.mentions("CIFAR-100")
    assert not NameIndex.of("We develop a model.").mentions("Elo")  # a name is a word, not a substring


# --- citation markers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("A [1].", [1]),
        ("A [1, 3].", [1, 3]),
        ("A [1; 2 and 4].", [1, 2, 4]),
        ("A [1-3].", [1, 2, 3]),
        ("A [2–4].", [2, 3, 4]),
        ("A [1][2] b [ 5 ].", [1, 2, 5]),
        ("A [1-500] and [3-1].", []),  # too wide, or backwards: garbage
        ("A [a] [1.5] [x1].", []),
    ],
)
def test_one_marker_parser(text: str, numbers: list[int]) -> None:
    assert cited_numbers(text) == numbers


def test_markers_stripped_rewritten_and_moved() -> None:
    assert strip_markers("We find that X [1] and Y [2, 3] hold [4].") == "We find that X and Y hold."
    assert marker_numbers("1, 3-4") == [1, 3, 4]
    assert rewrite_markers("A [1, 9] b [9].", lambda ns: "".join(f"[{n}]" for n in ns if n < 5)) == "A [1] b."
    assert markers_before_stop("It is 7.8%. [1][2] Next.") == "It is 7.8% [1][2]. Next."


def test_no_other_module_keeps_its_own_text_kit() -> None:
    """Stopword lists, stemmers and marker patterns live in rag/text only."""
    owners = {REPO / "rag" / "text"}
    for path in [*REPO.glob("rag/**/*.py"), *REPO.glob("ingest/**/*.py"), *REPO.glob("ui/**/*.py")]:
        if any(owner in path.parents for owner in owners):
            continue
        source = path.read_text(encoding="utf-8")
        for sign in ("STOPWORDS =", "import Stemmer", "bm25s.tokenize", r"\[\d+", r"\[\s*(\d+", "def _stem"):
            assert sign not in source, (path, sign)
