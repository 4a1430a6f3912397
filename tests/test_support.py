"""The support checker, with the real embedder: what a reader of a checked answer would notice."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from evals.calibrate_support import evaluate_scorer, load_abstracts, load_labels
from rag.records import normalise_title
from rag.support import SupportScorer
from rag.text import names_in, numbers_in, strip_markers

CLOUDFORMER = "CloudFormer: An Attention-based Performance Prediction for Public Clouds with Unknown Workload"
LOGICGUIDE = "Certified Reasoning with Language Models"
FACTUAL_RECALL = "Characterizing Mechanisms for Factual Recall in Language Models"
TUTOR = "Tutor CoPilot: A Human-AI Approach for Scaling Real-Time Expertise"
COOPERATION = "Cultural Evolution of Cooperation among LLM Agents"


class CountingEmbedder:
    """Wraps the real embedder and records every embed_batch call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_tokens = inner.max_tokens
        self.calls: list[list[str]] = []

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return list(self.inner.embed_batch(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return list(self.inner.count_tokens(texts))


@pytest.fixture(scope="module")
def abstracts() -> dict[str, str]:
    return load_abstracts()


@pytest.fixture(scope="module")
def scorer(embedder: Any) -> SupportScorer:
    return SupportScorer(embedder)


def abstract(abstracts: dict[str, str], title: str) -> str:
    return abstracts[normalise_title(title)]


def test_verbatim_sentence_takes_the_fast_path(embedder: Any, abstracts: dict[str, str]) -> None:
    counting = CountingEmbedder(embedder)
    sentence = "Notably, CloudFormer attains a mean absolute error (MAE) of just 7.8%, representing a substantial improvement in predictive accuracy and outperforming existing methods at least by 28%. [1]"
    started = time.perf_counter()
    result = SupportScorer(counting).check(
        sentence, [abstract(abstracts, LOGICGUIDE), abstract(abstracts, CLOUDFORMER)]
    )
    assert time.perf_counter() - started < 0.1  # milliseconds in practice
    assert (result.score, result.supported, result.reason, result.evidence_index) == (1.0, True, "", 1)
    assert result.evidence.startswith("Notably, CloudFormer attains")
    assert counting.calls == []  # no embedding at all


def test_faithful_paraphrases_are_supported(scorer: SupportScorer, abstracts: dict[str, str]) -> None:
    cases = [
        ("Tutor CoPilot costs about $20 per tutor each year [1].", TUTOR),
        (
            "Students of lower-rated tutors benefited most, their mastery rising by 9 percentage points [1].",
            TUTOR,
        ),
        (
            "LogicGuide lets a model formalise its assumptions so that its reasoning steps are guaranteed sound [1].",
            LOGICGUIDE,
        ),
        ("CloudFormer predicts VM performance degradation in black-box cloud environments [1].", CLOUDFORMER),
        ("As Smith et al. (2023) report, Tutor CoPilot costs about $20 per tutor each year [1].", TUTOR),
    ]
    for sentence, title in cases:
        result = scorer.check(sentence, [abstract(abstracts, title)])
        assert result.supported, (sentence, result)
        assert result.reason == "" and result.evidence and result.evidence_index == 0


@pytest.mark.parametrize(
    ("sentence", "number"),
    [
        ("CloudFormer attains a mean absolute error of 12.4%.", "12.4%"),
        ("CloudFormer reaches an MAE of 78% [1].", "78%"),  # a small model's made-up figure
        ("CloudFormer outperforms existing methods by at least 45% [1].", "45%"),
    ],
)
def test_altered_number_is_flagged_and_named(
    scorer: SupportScorer, abstracts: dict[str, str], sentence: str, number: str
) -> None:
    result = scorer.check(sentence, [abstract(abstracts, CLOUDFORMER)])
    assert not result.supported
    assert result.score < scorer.threshold
    assert number in result.reason and "not in the cited abstract" in result.reason
    assert "7.8%" in result.evidence  # shows what the abstract does say


def test_swapped_entity_is_flagged(scorer: SupportScorer, abstracts: dict[str, str]) -> None:
    sentence = "In experiments with the GSM8K and ProofWriter datasets, LogicGuide improves GPT-3, GPT-3.5 Turbo and LLaMA [1]."
    result = scorer.check(sentence, [abstract(abstracts, LOGICGUIDE)])
    assert not result.supported and "'GSM8K'" in result.reason
    # a near-miss model name is a different model: GPT-4 is not GPT-4o
    cooperation = abstract(abstracts, COOPERATION)
    result = scorer.check("Gemini 1.5 Flash outperforms GPT-4 in the Donor Game [1].", [cooperation])
    assert not result.supported and "'GPT-4'" in result.reason


def test_reversed_comparison_is_flagged_but_passive_voice_is_not(
    scorer: SupportScorer, abstracts: dict[str, str]
) -> None:
    cooperation = [abstract(abstracts, COOPERATION)]
    wrong = scorer.check(
        "Gemini 1.5 Flash agents achieve higher average scores than Claude 3.5 Sonnet [1].", cooperation
    )
    assert not wrong.supported and "the other way round" in wrong.reason
    right = scorer.check(
        "Claude 3.5 Sonnet agents achieve higher average scores than Gemini 1.5 Flash [1].", cooperation
    )
    assert right.supported, right
    passive = scorer.check("GPT-4o is outperformed by Gemini 1.5 Flash in the Donor Game [1].", cooperation)
    assert passive.supported, passive


def test_sentence_from_another_paper_is_flagged(scorer: SupportScorer, abstracts: dict[str, str]) -> None:
    sentence = "Notably, CloudFormer attains a mean absolute error (MAE) of just 7.8%, outperforming existing methods at least by 28% [1]."
    result = scorer.check(sentence, [abstract(abstracts, LOGICGUIDE)])
    assert not result.supported and "CloudFormer" in result.reason
    # the same claim without any name or number still doesn't match the wrong abstract
    vague = "The proposed model predicts performance degradation of virtual machines that share physical servers [1]."
    result = scorer.check(vague, [abstract(abstracts, LOGICGUIDE)])
    assert not result.supported and result.reason == "little overlap with the cited abstract"
    assert scorer.check(vague, [abstract(abstracts, CLOUDFORMER)]).supported


def test_percent_matches_latex_escaped_percent(scorer: SupportScorer, abstracts: dict[str, str]) -> None:
    text = abstract(abstracts, FACTUAL_RECALL)
    assert "88\\%" in text  # the corpus keeps arXiv's LaTeX escape
    result = scorer.check(
        "Scaling a single attention head makes the model give the in-context answer 88% of the time [1].",
        [text],
    )
    assert result.supported, result
    verbatim = "This method can increase the rate of generating the in-context answer to 88% of the time simply by scaling a single head at runtime."
    assert scorer.check(verbatim, [text]).score == 1.0


def test_citation_markers_are_ignored(scorer: SupportScorer, abstracts: dict[str, str]) -> None:
    tutor = [abstract(abstracts, TUTOR)]
    assert strip_markers("We find that X [1] and Y [2, 3] hold [4].") == "We find that X and Y hold."
    assert (
        scorer.check("We find that Tutor CoPilot costs only $20 per-tutor annually [1].", tutor).score == 1.0
    )
    marked = scorer.check("Tutor CoPilot costs roughly $20 [2, 3] per tutor every year [1].", tutor)
    plain = scorer.check("Tutor CoPilot costs roughly $20 per tutor every year.", tutor)
    assert marked.score == plain.score and marked.supported
    # "[1]" is not the number 1
    assert numbers_in(strip_markers("Accuracy rose by 35% [1].")) == [("35%", {35.0})]


def test_no_abstracts_means_unsupported(scorer: SupportScorer) -> None:
    for abstracts in ([], [""], ["   "]):
        result = scorer.check("CloudFormer attains an MAE of 7.8%.", abstracts)
        assert (result.score, result.supported, result.reason) == (0.0, False, "cites no source")
        assert (result.evidence, result.evidence_index) == ("", -1)


def test_check_many_batches_and_caches(embedder: Any, abstracts: dict[str, str]) -> None:
    counting = CountingEmbedder(embedder)
    scorer = SupportScorer(counting)
    cloud, tutor = abstract(abstracts, CLOUDFORMER), abstract(abstracts, TUTOR)
    items = [
        ("CloudFormer attains an MAE of 78% [1].", [cloud]),
        ("Tutor CoPilot costs about $20 per tutor each year [1].", [tutor]),
        ("CloudFormer predicts VM performance degradation in black-box environments [1].", [cloud, tutor]),
        ("We find that Tutor CoPilot costs only $20 per-tutor annually.", [tutor]),
        ("Tutor CoPilot is cheap.", []),
    ]
    results = scorer.check_many(items)
    assert [r.supported for r in results] == [False, True, True, True, False]
    assert len(counting.calls) <= 2  # sentences + abstract sentences, then pairs for borderline ones
    assert len(counting.calls[0]) > 20  # the first call carried every sentence of both abstracts
    counting.calls.clear()
    assert scorer.check_many(items) == results  # all cached now
    assert counting.calls == []
    assert [scorer.check(s, a) for s, a in items] == results  # same verdicts one at a time
    new = scorer.check("Tutor CoPilot helps tutors use high-quality strategies [1].", [tutor, cloud])
    assert new.supported
    assert counting.calls == [["Tutor CoPilot helps tutors use high-quality strategies."]]  # abstracts cached


def test_number_and_name_extraction() -> None:
    assert [t for t, _ in numbers_in("Speed-ups of 1.75-2.39x (N=252), 8,000+ users and $20; p<0.01.")] == [
        "1.75",
        "2.39x",
        "252",
        "8,000",
        "20",
        "0.01",
    ]
    assert numbers_in("GPT-3.5 and Llama-2-7b-chat on CIFAR-10") == []  # digits inside names are names
    assert names_in("Notably, LogicGuide beats GPT-4o and Llama-3-8B on SQuAD, unlike LLM-based agents.") == [
        "LogicGuide",
        "GPT-4o",
        "Llama-3-8B",
        "SQuAD",
        "LLM",
    ]


def test_labelled_set_precision_and_recall(embedder: Any, abstracts: dict[str, str]) -> None:
    """Flagging unsupported sentences on evals/sets/support_labels.jsonl (measured 1.00 / 1.00)."""
    report = evaluate_scorer(SupportScorer(embedder), load_labels(), abstracts)
    assert report["n"] == 130
    assert report["precision"] >= 0.95, report
    assert report["recall"] >= 0.95, report
    for kind, stats in report["per_kind"].items():
        assert stats["accuracy"] >= 0.9, (kind, stats)
