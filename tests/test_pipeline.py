"""Each answering stage alone, and the pipeline over small fakes: no index, no ONNX, no Chroma.

The end-to-end behaviour with the real parts is in tests/test_rag.py, tests/test_answer_llm.py and
the eval gate; these pin what each stage promises on its own."""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from rag import citations
from rag.answerers import ExtractiveAnswerer, LLMAnswerer
from rag.errors import ConfigError
from rag.evidence import Evidence, EvidenceGate
from rag.followup import LLMRewriter, RuleRewriter
from rag.llm import Usage
from rag.pipeline import Pipeline
from rag.retrieval import Retrieval
from rag.settings import AnswerSettings, LLMSettings, RefusalSettings, SupportSettings
from rag.support import SupportScorer
from rag.types import Answer, Claim, Draft, Hit, SentenceCheck
from rag.verify.rules import RulesVerifier
from rag.verify.stage import SentenceVerifier
from tests.conftest import REPO

CLOUD = (
    "CloudFormer predicts the performance of virtual machines in public clouds. "
    "It reaches a mean absolute error of 7.8% on our traces. "
    "It uses 206 system metrics."
)
LOGIC = "LogicGuide guides language models to sound logical reasoning. It raises accuracy by 35%."
ANSWER = AnswerSettings()


def hit(pid: str, title: str, abstract: str, dense: float | None = 0.9) -> Hit:
    return Hit(pid, title, 2024, [], None, 1.0, f"{title}\n{abstract}", abstract=abstract, dense_score=dense)


HITS = [hit("c", "CloudFormer", CLOUD), hit("l", "LogicGuide", LOGIC)]


class FakeLLM:
    """Streams a fixed reply word by word, then its usage; counts tokens as words."""

    name = "fake"

    def __init__(self, reply: str, context_window: int = 4096, fail: bool = False) -> None:
        self.reply, self.context_window, self.fail = reply, context_window, fail
        self.calls: list[list[dict[str, str]]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def execute(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str | Usage]:
        self.calls.append(list(messages))
        if self.fail:
            raise ConfigError("the fake model is down")
        for word in self.reply.split(" "):
            yield word + " "
        yield Usage(prompt_tokens=sum(self.count_tokens(m["content"]) for m in messages), completion_tokens=7)


class WordEmbedder:
    """Deterministic bag-of-words vectors (unit length): near texts share words."""

    name, max_tokens = "words", 512

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.calls.append(list(texts))
        out = []
        for text in texts:
            vec = [0.0] * 64
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                vec[hashlib.md5(word.encode()).digest()[0] % 64] += 1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


# --- rewrite ------------------------------------------------------------------------------------
def test_rule_rewriter_resolves_references_and_prepends_the_previous_question_to_an_ellipsis() -> None:
    rule = RuleRewriter(ANSWER)
    history = [
        {"role": "user", "content": "What is CloudFormer?"},
        {"role": "assistant", "content": "A model [1]."},
    ]
    assert rule.rewrite("How accurate is it?", history) == "How accurate is CloudFormer?"  # not concatenated
    assert (
        rule.rewrite("and BLEU?", [("What is CloudFormer?", "A model.")]) == "What is BLEU?"
    )  # asked of BLEU
    two = [("What ROUGE score does LoFiT get?", "0.41.")]  # which of two names? the question is prepended
    assert rule.rewrite("and BLEU?", two) == "What ROUGE score does LoFiT get? and BLEU?"
    standalone = "Which datasets evaluate logical reasoning of language models?"
    assert rule.rewrite(standalone, history) == standalone
    assert rule.rewrite("How accurate is it?", None) == "How accurate is it?"


def test_llm_rewriter_asks_the_model_and_falls_back_to_the_rule() -> None:
    history = [{"role": "user", "content": "What is CloudFormer?"}]
    llm = FakeLLM('"How accurate is CloudFormer?"\nignored second line')
    rewriter = LLMRewriter(llm, ANSWER, RuleRewriter(ANSWER))
    assert rewriter.rewrite("How accurate is it?", history) == "How accurate is CloudFormer?"
    assert "user: What is CloudFormer?" in llm.calls[0][1]["content"]
    assert rewriter.rewrite("Alone?", None) == "Alone?" and len(llm.calls) == 1  # nothing to rewrite from
    broken = LLMRewriter(FakeLLM("", fail=True), ANSWER, RuleRewriter(ANSWER))
    assert broken.rewrite("How accurate is it?", history) == "How accurate is CloudFormer?"
    rambling = LLMRewriter(FakeLLM("x" * 400), ANSWER, RuleRewriter(ANSWER))
    assert rambling.rewrite("How accurate is it?", history) == "How accurate is it?"  # not a question


# --- gate ---------------------------------------------------------------------------------------
def test_gate_refuses_weak_evidence_and_says_why() -> None:
    # Hand-set weights pin the gate's reading (slot, missing names, reasons), not the calibrated fit.
    model = {
        "typed": {"intercept": -2.0, "slot": 4.0, "missing": -4.0},
        "open": {"intercept": -2.0, "coverage": 4.0},
    }
    gate = EvidenceGate(RefusalSettings(model=model, answer_threshold=0.5), WordEmbedder())
    assert gate.assess("anything?", []).weak
    strong = gate.assess("What mean absolute error does CloudFormer reach?", HITS)
    assert not strong.weak and strong.reason == "" and strong.coverage > 0.5
    assert strong.signals is not None and strong.signals.values["slot"] == 1.0  # 7.8% next to "error"
    near = gate.assess("How much were the CloudFormer annotators paid?", HITS)
    assert near.weak and "paid" in near.reason  # the right paper, a figure it doesn't give
    missing = gate.assess("What Elo rating does CloudFormer reach in Avalon?", HITS)
    assert missing.weak and "Avalon" in missing.reason and "Avalon" in missing.missing
    loose = gate.assess("Why is the sky blue?", [hit("c", "CloudFormer", CLOUD, dense=0.1)])
    assert loose.weak and "close enough" in loose.reason
    lenient = RefusalSettings(model=model, answer_threshold=0.0)
    assert (
        not EvidenceGate(lenient, WordEmbedder()).assess("Why is the sky blue?", HITS[:1]).weak
    )  # the threshold is the setting's


# --- answer ---------------------------------------------------------------------------------------
def test_extractive_answerer_quotes_with_citations_and_refuses_with_nothing_to_quote() -> None:
    items = list(ExtractiveAnswerer(ANSWER).answer("What mean absolute error does CloudFormer reach?", HITS))
    assert len(items) == 1 and isinstance(items[0], Draft)  # no streamed text: it answers at once
    draft = items[0]
    assert not draft.refused and draft.sources == HITS and draft.intro
    assert all(c.quoted and c.text in CLOUD + LOGIC for c in draft.claims)
    assert any("7.8%" in c.text and c.cites == (1,) for c in draft.claims)
    one = ExtractiveAnswerer(AnswerSettings(max_sentences=1)).answer(
        "What error does CloudFormer reach?", HITS
    )
    assert len(next(iter(one)).claims) == 1  # type: ignore[union-attr]
    (empty,) = ExtractiveAnswerer(ANSWER).answer("What?", [hit("x", "X", "Too short.")])
    assert isinstance(empty, Draft) and empty.refused


def test_llm_answerer_streams_then_drafts_parsed_claims() -> None:
    llm = FakeLLM("CloudFormer reaches 7.8% [1]. LogicGuide raises accuracy [2, 9]. Bare claim.")
    items = list(LLMAnswerer(llm, LLMSettings(), ANSWER).answer("What error?", HITS))
    *texts, draft = items
    assert "".join(texts).strip() == llm.reply and all(isinstance(t, str) for t in texts)
    assert isinstance(draft, Draft) and not draft.refused
    assert [(c.text, c.cites, c.quoted) for c in draft.claims] == [
        ("CloudFormer reaches 7.8%.", (1,), False),
        ("LogicGuide raises accuracy.", (2,), False),  # [9] is no source: dropped
        ("Bare claim.", (), False),
    ]
    assert draft.prompt_tokens and draft.completion_tokens == 7
    system, user = llm.calls[0]
    assert "at most 4 sentences" in system["content"] and '<source n="2">' in user["content"]


def test_llm_answerer_refusal_and_sources_that_did_not_fit() -> None:
    (*_, declined) = LLMAnswerer(
        FakeLLM("I cannot answer this from the indexed abstracts."), LLMSettings(), ANSWER
    ).answer("q?", HITS)
    assert isinstance(declined, Draft) and declined.refused and declined.completion_tokens == 7
    # a window that fits the first source only: it keeps number 1, the other follows unnumbered
    from rag import prompt

    words = FakeLLM("").count_tokens
    first = prompt._source_block(1, HITS[1], HITS[1].abstract)
    fixed = words(prompt.system_prompt(4)) + words("Question: q?\nAnswer with citations:") + 16
    tight = FakeLLM("It reaches 7.8% [1] [2].", context_window=fixed + words(first) + 5)
    settings = LLMSettings(max_answer_tokens=16)
    *_, draft = LLMAnswerer(tight, settings, AnswerSettings(prompt_slack_tokens=0)).answer("q?", HITS[::-1])
    assert isinstance(draft, Draft)
    assert [h.paper_id for h in draft.sources] == ["l", "c"]
    assert '<source n="1">' in tight.calls[0][1]["content"]
    assert '<source n="2">' not in tight.calls[0][1]["content"]
    assert draft.claims[0].cites == (1,)  # [2] was not a source the model saw


def test_citation_parse_reads_markers_into_cites() -> None:
    claims = citations.parse("A [1-2]. B. [3] C [1][1].", 3)
    assert claims == [Claim("A.", (1, 2)), Claim("B.", (3,)), Claim("C.", (1,))]
    text = citations.answer_text([Claim("A quote [7].", (1,), quoted=True)], intro="Intro:")
    assert text == "Intro:\n“A quote [7].” [1]"


# --- verify -------------------------------------------------------------------------------------
def test_verifier_checks_each_claim_against_what_it_cites() -> None:
    embedder = WordEmbedder()
    verifier = SentenceVerifier(RulesVerifier(SupportScorer(embedder, SupportSettings())))
    claims = [
        Claim("It reaches a mean absolute error of 7.8% on our traces.", (1,), quoted=True),
        Claim("CloudFormer reaches a mean absolute error of 12.4%.", (1,)),
        Claim("CloudFormer uses 206 system metrics.", (1,)),
        Claim("LogicGuide raises accuracy by 35%.", ()),
    ]
    checks = verifier.verify(claims, HITS)
    assert [c.text for c in checks] == [c.text for c in claims]
    quote, wrong, right, uncited = checks
    assert (quote.supported, quote.support, quote.quoted, quote.evidence) == (True, 1.0, True, claims[0].text)
    assert not wrong.supported and "12.4%" in wrong.reason
    assert right.supported and right.cites == [1] and "206" in right.evidence
    assert not uncited.supported and uncited.reason == "cites no source"
    embedder.calls.clear()
    assert verifier.verify(claims[:1], HITS)[0].supported and embedder.calls == []  # a quote: no embedding


def test_support_scorer_cache_is_shared_safely_across_threads() -> None:
    scorer = SupportScorer(WordEmbedder(), SupportSettings(cache_size=8))  # a cache smaller than a call
    items = [
        (f"CloudFormer uses {n} system metrics and {m} traces.", [CLOUD, LOGIC])
        for n in range(6)
        for m in range(4)
    ]
    expected = SupportScorer(WordEmbedder()).check_many(items)
    errors: list[BaseException] = []
    results: list[list[Any]] = []

    def work() -> None:
        try:
            results.append(scorer.check_many(items))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 6
    assert all(r == expected for r in results)
    assert len(scorer._cache._vectors) <= 8


# --- the pipeline ---------------------------------------------------------------------------------
class FakeSearcher:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits, self.asked = hits, []  # type: ignore[var-annotated]

    def retrieve(self, question: str, k: int = 10, filters: Any = None) -> Retrieval:
        self.asked.append(question)
        return Retrieval(self.hits[:k], {"dense_ms": 1.0, "bm25_ms": 1.0, "retrieval_ms": 2.0})


class FixedGate:
    def __init__(self, weak: bool) -> None:
        self.weak = weak

    def assess(self, question: str, hits: Sequence[Hit]) -> Evidence:
        return Evidence(
            0.5, 0.5, [], self.weak, "the closest abstracts are only loosely related" if self.weak else ""
        )


class FakeVerifier:
    def __init__(self) -> None:
        self.calls = 0

    def verify(self, claims: Sequence[Claim], sources: Sequence[Hit]) -> list[SentenceCheck]:
        self.calls += 1
        return [SentenceCheck(c.text, list(c.cites), 0.9, True, quoted=c.quoted) for c in claims]


def pipeline(answerer: Any, *, weak: bool = False, verifier: Any = None, hits: list[Hit] = HITS) -> Pipeline:
    return Pipeline(
        "fake",
        RuleRewriter(ANSWER),
        FakeSearcher(hits),
        FixedGate(weak),
        answerer,
        verifier or FakeVerifier(),
    )


def test_pipeline_assembles_the_answer_once_from_the_stages() -> None:
    items = list(pipeline(ExtractiveAnswerer(ANSWER)).run("What error does CloudFormer reach?", k=5))
    text, answer = items
    assert isinstance(answer, Answer) and text == answer.text  # text once, before verification
    assert answer.mode == "fake" and not answer.refused and answer.intro
    assert answer.text.startswith(answer.intro + "\n“")
    assert set(answer.citations) == {n for s in answer.sentences for n in s.cites}
    assert answer.citations[1].paper_id == "c" and answer.sources == HITS
    assert {"retrieval_ms", "answer_ms", "support_ms", "total_ms"} <= answer.timings.keys()
    assert answer.standalone_question is None


def test_pipeline_refuses_weak_evidence_without_answering_or_verifying() -> None:
    verifier = FakeVerifier()
    llm = FakeLLM("never asked")
    items = list(
        pipeline(LLMAnswerer(llm, LLMSettings(), ANSWER), weak=True, verifier=verifier).run("q?", k=5)
    )
    text, answer = items
    assert isinstance(answer, Answer) and answer.refused and text == answer.text
    assert "loosely related" in answer.text and "closest papers" in answer.text
    assert answer.sources == HITS and not answer.citations and not answer.sentences
    assert llm.calls == [] and verifier.calls == 0 and "support_ms" not in answer.timings


def test_pipeline_streams_a_models_text_and_rewrites_follow_ups() -> None:
    llm = FakeLLM("CloudFormer reaches 7.8% [1].")
    run = pipeline(LLMAnswerer(llm, LLMSettings(), ANSWER))
    history = [("What is CloudFormer?", "A model.")]
    *streamed, answer = list(run.run("  How accurate is it? ", k=5, history=history))
    assert "".join(streamed).strip() == llm.reply  # the model's words as they came, not the assembled text
    assert isinstance(answer, Answer) and answer.text == "CloudFormer reaches 7.8% [1]."
    assert answer.question == "How accurate is it?"
    assert answer.standalone_question == "How accurate is CloudFormer?"
    assert answer.prompt_tokens and answer.completion_tokens == 7
    with pytest.raises(ConfigError, match="empty"):
        list(run.run("   ", k=5))


# --- modes and the engine cache -------------------------------------------------------------------
def test_the_mode_registry_is_the_one_list_of_modes(tmp_path: Any) -> None:
    from rag.modes import MODES, REGISTRY, available_modes, get_mode
    from rag.settings import Settings
    from ui import cli

    assert tuple(REGISTRY) == MODES and MODES[0] == "extractive"
    with pytest.raises(ConfigError, match="unknown answer mode 'nope'"):
        get_mode("nope")
    with pytest.raises(ValueError, match="unknown answer mode"):
        Settings(home=tmp_path, llm={"mode": "nope"})  # type: ignore[arg-type]
    for mode in MODES:
        assert Settings(home=tmp_path, llm={"mode": mode}).answer_mode == mode  # type: ignore[arg-type]
        assert cli.build_parser().parse_args(["ask", "q", "--mode", mode]).mode == mode
        assert cli.build_parser().parse_args(["eval", "set.jsonl", "--mode", mode]).mode == mode
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["ask", "q", "--mode", "nope"])
    offline = Settings(home=tmp_path, llm={"offer_local": False})  # type: ignore[arg-type]
    assert list(available_modes(offline)) == list(MODES) and available_modes(offline)["extractive"] == ""
    assert not get_mode("extractive").streams and get_mode("openai").streams


def test_engines_are_shared_per_settings_and_an_api_key_tells_them_apart(tmp_path: Any) -> None:
    import rag
    from rag.settings import Settings

    one = Settings(home=tmp_path, openai_api_key="sk-one-SECRET")  # type: ignore[arg-type]
    same = Settings(home=tmp_path, openai_api_key="sk-one-SECRET")  # type: ignore[arg-type]
    other = Settings(home=tmp_path, openai_api_key="sk-two-SECRET")  # type: ignore[arg-type]
    assert one.model_dump_json() == other.model_dump_json()  # what the old key saw: both '**********'
    assert rag.engine_for(one) is rag.engine_for(same)
    assert rag.engine_for(one) is not rag.engine_for(other)
    assert "SECRET" not in rag.settings_key(one) and len(rag.settings_key(one)) == 64


def test_every_rag_module_imports_first() -> None:
    """No import cycle: settings reads the mode registry, which must never need settings back."""
    modules = [
        "rag.settings", "rag.modes", "rag.answerers", "rag.followup", "rag.prompt", "rag.extractive",
        "rag.citations", "rag.llm", "rag.support", "rag.evidence", "rag.pipeline", "rag.engine",
        "rag.answer_format", "rag.escape", "rag.stages", "rag.verify", "rag.verify.factory", "rag.verify.stage",
        "rag.verify.learned", "rag.verify.llm", "rag.verify.rules", "rag.verify.model", "rag.verify.signals",
    ]  # fmt: skip
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'rag' or m.startswith('rag.')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
