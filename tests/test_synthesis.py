"""Answers shaped to the question (one line per paper, no background sentences) and follow-ups that
resolve their references: fast tests on in-memory hits, then one end-to-end run on the sample index."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag import prompt
from rag.answerers import ExtractiveAnswerer
from rag.evidence import Evidence
from rag.followup import find_papers, previous_papers, resolve
from rag.question_shape import read_shape
from rag.settings import AnswerSettings
from rag.types import Answer, Draft, Hit, SentenceCheck
from tests.test_pipeline import FakeSearcher, FakeVerifier, FixedGate, pipeline

ANSWER = AnswerSettings()
STEER = (
    "In recent years, hallucination in large language models has drawn attention from researchers. "
    "We propose SteerFix, which reduces hallucination by 30% by steering internal activations. "
    "It needs no retraining."
)
ABSTAIN = (
    "Hallucination remains challenging for deployed language models. "
    "Our method makes models abstain, reducing hallucination on unfamiliar questions by 12 points."
)
OFF = "We study crop yields from satellite images in East Africa. Yields rose by 4% after irrigation."


def hit(pid: str, title: str, abstract: str, dense: float = 0.8) -> Hit:
    return Hit(pid, title, 2024, [], None, 1.0, abstract, abstract=abstract, dense_score=dense)


HITS = [
    hit("s", "SteerFix: Steering Away Hallucination", STEER),
    hit("a", "Abstain: Knowing When Not to Answer", ABSTAIN, 0.75),
    hit("o", "Crops From Space", OFF, 0.3),
]


@pytest.mark.parametrize(
    ("question", "shape"),
    [
        ("Which papers propose methods to reduce hallucination in large language models?", "which"),
        ("What approaches make LLMs abstain?", "which"),
        ("How do LoFiT and GrAInS compare with inference-time intervention baselines?", "compare"),
        ("What do papers find about superposition of features in neural networks?", "compare"),
        ("What is CausaLM?", "about"),
        ("What does the LinEAS paper propose?", "about"),
        ("What mean absolute error does CloudFormer reach?", "fact"),
        ("How many tasks does BIG-bench contain, and how many authors contributed them?", "fact"),
    ],
)
def test_the_shape_of_a_question(question: str, shape: str) -> None:
    assert read_shape(question).shape == shape


def test_a_which_papers_answer_gives_each_relevant_paper_one_line_with_its_answering_sentence() -> None:
    question = "Which papers propose methods to reduce hallucination in large language models?"
    (draft,) = ExtractiveAnswerer(ANSWER).answer(question, HITS)
    assert isinstance(draft, Draft) and not draft.refused and "paper by paper" in draft.intro
    assert [c.cites for c in draft.claims] == [(1,), (2,)]  # one line a paper; the off-topic one has none
    assert [c.heading for c in draft.claims] == [HITS[0].title, HITS[1].title]
    assert draft.claims[0].text.startswith("We propose SteerFix")  # not its background sentence
    assert draft.claims[1].text.startswith("Our method makes models abstain")
    assert all(c.quoted and c.text in HITS[c.cites[0] - 1].abstract for c in draft.claims)  # verbatim


def test_a_comparison_answers_for_each_paper_it_names_and_a_fact_keeps_one_papers_sentences() -> None:
    low = hit("g", "GrAInS: Gradient Attribution", "GrAInS steers models. It gains 13% on TruthfulQA.", 0.5)
    hits = [
        hit("l", "LoFiT: Localized Fine-tuning", "LoFiT beats inference-time intervention on truthfulness."),
        low,
    ]
    (draft,) = ExtractiveAnswerer(ANSWER).answer("How do LoFiT and GrAInS compare on truthfulness?", hits)
    assert isinstance(draft, Draft) and {c.cites for c in draft.claims} == {(1,), (2,)}  # named: both
    (fact,) = ExtractiveAnswerer(ANSWER).answer("By how much does SteerFix reduce hallucination?", HITS)
    assert isinstance(fact, Draft) and fact.intro.startswith("From the indexed abstracts (quoted")
    assert not any(c.heading for c in fact.claims) and any("30%" in c.text for c in fact.claims)


def _previous(hits: list[Hit], cited: list[int]) -> Answer:
    sentences = [SentenceCheck(hits[n - 1].abstract, [n], 0.9, True, quoted=True) for n in cited]
    return Answer("Which papers reduce hallucination?", "…", {}, hits, sentences, False, "extractive")


def test_follow_up_references_resolve_to_the_previous_answers_papers_and_names() -> None:
    history = [_previous(HITS, [2, 1])]  # cited order: Abstain, then SteerFix
    second = resolve("What does the second paper report?", history)
    assert second.question == f"What does “{HITS[0].title}” report?" and [
        p.paper_id for p in second.papers
    ] == ["s"]
    they = resolve("What datasets do they evaluate on?", history)
    assert they.question == "What datasets do “Abstain” and “SteerFix” evaluate on?"
    assert [p.paper_id for p in they.papers] == ["a", "s"]
    it = resolve("How much does it reduce hallucination?", [("What is SteerFix?", "…")])
    assert it.question == "How much does SteerFix reduce hallucination?" and not it.papers
    generic = resolve("How much does it reduce hallucination?", [("What is SteerFix for LLMs?", "…")])
    assert generic.question == "How much does SteerFix reduce hallucination?"  # "it" is never "LLMs"
    assert (
        resolve("What does the second paper report?", None).question == "What does the second paper report?"
    )
    # a history of messages only: the titles heading a paper-by-paper answer's lines
    text = "From the indexed abstracts, paper by paper:\nSteerFix: Steering Away Hallucination: “We…” [1]\nCrops From Space: “We…” [3]"
    messages = [{"role": "user", "content": "Which papers?"}, {"role": "assistant", "content": text}]
    assert [p.title for p in previous_papers(messages)] == [
        "SteerFix: Steering Away Hallucination",
        "Crops From Space",
    ]
    last = resolve("What does the last paper find?", messages)
    assert [h.paper_id for h in find_papers(last.papers, HITS)] == [
        "o"
    ]  # found among retrieved hits by title


def test_a_follow_up_about_the_second_paper_is_answered_from_that_paper_alone() -> None:
    searcher = FakeSearcher(HITS)
    run = pipeline(ExtractiveAnswerer(ANSWER))
    run = type(run)("fake", run.rewriter, searcher, FixedGate(False), run.answerer, FakeVerifier())
    *_, answer = run.run(
        "By how much does the second paper reduce hallucination?", k=5, history=[_previous(HITS, [1, 2])]
    )
    assert isinstance(answer, Answer) and not answer.refused
    assert answer.standalone_question == f"By how much does “{HITS[1].title}” reduce hallucination?"
    assert [h.paper_id for h in answer.sources] == ["a"] and answer.citations[1].paper_id == "a"
    assert searcher.asked == [answer.standalone_question]  # searched as resolved


def test_an_ordinal_after_a_follow_up_about_one_paper_counts_in_the_earlier_list() -> None:
    listing = _previous(HITS, [1, 2, 3])
    one = Answer(
        "What does the second paper find?", "…", {}, [HITS[1]],
        [SentenceCheck(ABSTAIN, [1], 0.9, True, quoted=True)], False, "extractive",
        standalone_question=f"What does “{HITS[1].title}” find?",
    )  # fmt: skip
    both = resolve("How does it compare with the first one?", [listing, one])
    assert both.question == f"How does “Abstain” compare with “{HITS[0].title}”?"  # "it": the one paper
    assert [p.paper_id for p in both.papers] == ["a", "s"] and read_shape(both.question).shape == "compare"
    assert [p.paper_id for p in resolve("What does the third paper find?", [listing, one]).papers] == ["o"]
    assert [p.paper_id for p in resolve("What does the first one find?", [listing]).papers] == ["s"]
    assert [p.paper_id for p in resolve("What does the first one find?", [one]).papers] == ["a"]
    assert resolve("What does the fourth paper find?", [listing, one]).papers == ()  # no fourth: as asked


def test_what_about_asks_the_previous_question_of_another_thing() -> None:
    mdpe = [("How many participants were in the MDPE dataset?", "…")]
    assert resolve("What about BAH?", mdpe).question == "How many participants were in the BAH dataset?"
    assert resolve("And the BAH dataset?", mdpe).question == "How many participants were in the BAH dataset?"
    assert resolve("and how many authors?", mdpe).question == "and how many authors?"  # its own question
    assert resolve("And?", mdpe).question == "And?"  # nothing to ask of
    assert resolve("What about the second paper?", mdpe).question == "What about the second paper?"
    two = [("What ROUGE score does LoFiT get?", "…")]
    assert resolve("What about BLEU?", two).question == "What about BLEU?"  # which of two? the rewriter's
    # the previous question as it was searched: a chain of follow-ups keeps its subject
    chained = Answer(
        "How many tasks does it contain?", "…", {}, [], [], False, "extractive",
        standalone_question="How many tasks does BIG-bench contain?",
    )  # fmt: skip
    assert resolve("What about MMLU?", [chained]).question == "How many tasks does MMLU contain?"


class _AskedGate(FixedGate):
    def __init__(self) -> None:
        super().__init__(False)
        self.asked: list[str] = []

    def assess(self, question: str, hits: Sequence[Hit]) -> Evidence:
        self.asked.append(question)
        return super().assess(question, hits)


def test_the_gate_weighs_what_a_follow_up_asks_of_its_papers_not_their_titles() -> None:
    run = pipeline(ExtractiveAnswerer(ANSWER))
    gate = _AskedGate()
    run = type(run)("fake", run.rewriter, FakeSearcher(HITS), gate, run.answerer, FakeVerifier())
    history = [_previous(HITS, [1, 2])]
    *_, answer = run.run("Which of them use math benchmarks?", k=5, history=history)
    assert isinstance(answer, Answer) and "SteerFix" in (answer.standalone_question or "")
    assert "SteerFix" not in gate.asked[-1] and "math benchmarks" in gate.asked[-1]
    *_, found = run.run("What does the second paper find?", k=5, history=history)  # nothing else asked
    assert isinstance(found, Answer) and gate.asked[-1] == found.standalone_question


def test_a_resolved_follow_up_scores_without_the_quoted_titles() -> None:
    # "What does the second paper find?" resolved: no content word is left but the title, and the
    # pipeline gave that paper alone: its contribution sentences are quoted, not its background
    (draft,) = ExtractiveAnswerer(ANSWER).answer(f"What does “{HITS[0].title}” find?", HITS[:1])
    assert isinstance(draft, Draft) and not draft.refused
    assert [c.text for c in draft.claims][0].startswith("We propose SteerFix")
    they = f"What do “{HITS[0].title}” and “{HITS[2].title}” report?"
    (both,) = ExtractiveAnswerer(ANSWER).answer(they, [HITS[0], HITS[2]])
    assert isinstance(both, Draft) and {c.cites for c in both.claims} == {(1,), (2,)}  # every given paper
    (nothing,) = ExtractiveAnswerer(ANSWER).answer("What?", HITS)  # unresolved and empty: nothing to quote
    assert isinstance(nothing, Draft) and nothing.refused


def test_an_llm_prompt_for_a_which_papers_question_carries_the_per_paper_evidence() -> None:
    question = "Which papers propose methods to reduce hallucination in large language models?"
    messages, used = prompt.build_messages(question, HITS, lambda t: len(t.split()), 4096, 256, ANSWER)
    user = messages[1]["content"]
    assert prompt.PER_PAPER in user and used == HITS
    assert "Relevant: We propose SteerFix" in user and "Relevant: Our method makes models abstain" in user
    plain, _ = prompt.build_messages(
        "By how much does SteerFix cut hallucination?", HITS, len, 4096, 256, ANSWER
    )
    assert prompt.PER_PAPER not in plain[1]["content"] and "Relevant:" not in plain[1]["content"]


def test_on_the_sample_index_a_which_papers_answer_and_its_follow_ups(sample_engine) -> None:  # type: ignore[no-untyped-def]
    question = "Which papers propose methods to reduce hallucination in large language models?"
    answer = sample_engine.ask(question, mode="extractive", k=5)
    assert not answer.refused and "paper by paper" in answer.intro
    papers = list(dict.fromkeys(s.cites[0] for s in answer.sentences))
    assert len(papers) >= 2  # several papers, each under its title once, its lines together
    assert [s.cites[0] for s in answer.sentences] == sorted(s.cites[0] for s in answer.sentences)
    headings = [s.heading for s in answer.sentences if s.heading]
    assert headings == [answer.sources[n - 1].title for n in papers]
    for s in answer.sentences:
        assert s.quoted and s.text in answer.sources[s.cites[0] - 1].abstract and s.text in answer.text
    follow = sample_engine.ask("What does the second paper report?", mode="extractive", k=5, history=[answer])
    second = answer.sources[papers[1] - 1]
    assert follow.standalone_question and second.title in follow.standalone_question
    assert [h.paper_id for h in follow.sources] == [second.paper_id]
    assert all(s.cites == [1] for s in follow.sentences)


RESULT = (
    "Hallucination in language models is a hallucination problem of language models. "
    "We train a linear probe on the hidden states of the model. "
    "The probe cuts hallucination by 41% on three benchmarks."
)


def test_with_cosines_a_papers_sentences_are_ordered_by_the_fitted_model() -> None:
    """The opening restates the topic (most overlap); the model, given cosines, prefers the finding."""
    question = "Which papers reduce hallucination in language models?"
    hits = [hit("r", "Probing Hallucination", RESULT)]
    calls: list[tuple[str, list[str]]] = []

    def cosines(q: str, texts: list[str]) -> list[float]:
        calls.append((q, list(texts)))
        return [0.5] * len(texts)

    one = AnswerSettings(synthesis_sentences_per_paper=1, sentence_model={"number": 2.0, "first": -2.0})
    (before,) = ExtractiveAnswerer(one).answer(question, hits)  # no cosines: the overlap score decides
    (after,) = ExtractiveAnswerer(one, cosines).answer(question, hits)
    assert isinstance(before, Draft) and isinstance(after, Draft)
    assert [c.text for c in before.claims] == [RESULT.split(". ")[0] + "."]
    assert [c.text for c in after.claims] == ["The probe cuts hallucination by 41% on three benchmarks."]
    assert calls and calls[0][0] == question and len(calls[0][1]) == 3  # the paper's quotable sentences
    (unfitted,) = ExtractiveAnswerer(one.model_copy(update={"sentence_model": {}}), cosines).answer(
        question, hits
    )
    assert isinstance(unfitted, Draft) and unfitted.claims[0].text == before.claims[0].text
    two = one.model_copy(update={"synthesis_sentences_per_paper": 2})
    (both,) = ExtractiveAnswerer(two, cosines).answer(question, hits)
    assert isinstance(both, Draft)  # the top two, quoted in reading order
    assert [c.text for c in both.claims] == [
        "We train a linear probe on the hidden states of the model.",
        "The probe cuts hallucination by 41% on three benchmarks.",
    ]


def test_a_third_sentence_is_quoted_only_when_the_model_finds_it_likely_to_answer() -> None:
    """The model's log-odds here: the finding 2, the probe 0, the opening −2 (its 'first' weight)."""
    question = "Which papers reduce hallucination in language models?"
    hits = [hit("r", "Probing Hallucination", RESULT)]

    def cosines(q: str, texts: list[str]) -> list[float]:
        return [0.5] * len(texts)

    three = AnswerSettings(
        synthesis_sentences_per_paper=3,
        sentence_model={"number": 2.0, "first": -2.0},
        synthesis_extra_min_score=-3.0,
    )
    (loose,) = ExtractiveAnswerer(three, cosines).answer(question, hits)
    strict = three.model_copy(update={"synthesis_extra_min_score": -1.0})
    (tight,) = ExtractiveAnswerer(strict, cosines).answer(question, hits)
    assert isinstance(loose, Draft) and isinstance(tight, Draft)
    assert len(loose.claims) == 3 and loose.claims[0].text == RESULT.split(". ")[0] + "."
    assert [c.text for c in tight.claims] == [c.text for c in loose.claims[1:]]


def test_on_the_sample_index_subjects_count_as_participants_and_what_about_asks_again(sample_engine) -> None:  # type: ignore[no-untyped-def]
    # MDPE's abstract counts "193 subjects": no longer refused as "none of them says how many participants"
    mdpe = sample_engine.ask("How many participants were in the MDPE dataset?", mode="extractive", k=5)
    assert not mdpe.refused and "MDPE" in mdpe.sources[0].title
    bah = sample_engine.ask("What about BAH?", mode="extractive", k=5, history=[mdpe])
    assert bah.standalone_question == "How many participants were in the BAH dataset?"  # not concatenated
    assert not bah.refused and "224 participants" in bah.text
