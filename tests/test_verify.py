"""The verifiers behind ``settings.verify.method`` — learned (the shipped model, the real embedder),
llm (MiniCheck's prompt; a scripted endpoint for exact replies, the real llama.cpp server for the
contract) and rules — and a contradicted answer sentence carried through the verify stage into
every output: text, JSON, Markdown, HTML, the chat page's source cards and the eval counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from evals.calibrate_support import load_abstracts
from evals.harness import answer_metrics
from evals.questions import Question
from rag import answer_format
from rag.errors import ConfigError, EndpointError
from rag.llm import Usage
from rag.records import normalise_title
from rag.settings import Settings
from rag.types import Answer, Claim, Draft, Hit, SentenceCheck
from rag.verify import LABELS, Source, Statement
from rag.verify.factory import make_verifier
from rag.verify.learned import LearnedVerifier
from rag.verify.llm import SUPPORT_SYSTEM, LLMVerifier, read_answer
from rag.verify.model import SHIPPED, load
from rag.verify.rules import RulesVerifier
from rag.verify.stage import SentenceVerifier
from tests.conftest import REPO, VENV_BIN

pytest_plugins = ["tests.verify_fixtures"]

CLOUDFORMER = "CloudFormer: An Attention-based Performance Prediction for Public Clouds with Unknown Workload"
#: A SciFact-style abstract (written for this test: SciFact's own text stays outside the repository).
METFORMIN = Source(
    "metformin",
    "Metformin use and colorectal cancer risk in patients with type 2 diabetes",
    "Metformin is the first-line therapy for type 2 diabetes. We followed 12,000 patients with type 2 "
    "diabetes for a median of six years. Metformin use was associated with a reduced risk of colorectal "
    "cancer compared with sulfonylurea use. The reduction was greater in patients treated for more than "
    "two years. These findings suggest that metformin may protect against colorectal cancer.",
)
NEGATED_CLOUDFORMER = "CloudFormer does not outperform state-of-the-art baselines."


@pytest.fixture(scope="module")
def cloudformer() -> Source:
    return Source("cf", CLOUDFORMER, load_abstracts()[normalise_title(CLOUDFORMER)])


@pytest.fixture(scope="module")
def learned(embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> LearnedVerifier:
    verifier = make_verifier(Settings(home=tmp_path_factory.mktemp("verify-home")), embedder)
    assert isinstance(verifier, LearnedVerifier)
    return verifier


# --- learned --------------------------------------------------------------------------------------
def test_learned_verifier_reads_scifact_style_findings(learned: LearnedVerifier) -> None:
    cases = {
        "Metformin use lowers the risk of colorectal cancer in people with type 2 diabetes.": "supported",
        "Metformin use does not reduce the risk of colorectal cancer in patients with type 2 diabetes.": (
            "contradicted"
        ),
        "Vitamin supplements improve bone density in older women.": "not_enough_info",
    }
    verdicts = learned.verify([Statement(text, (METFORMIN,)) for text in cases])
    assert [v.label for v in verdicts] == list(cases.values()), [
        (v.label, v.score, v.reason) for v in verdicts
    ]
    supported, contradicted, unrelated = verdicts
    assert (
        supported.supported and supported.score >= learned.decision.support_threshold and not supported.reason
    )
    assert not contradicted.supported and contradicted.score < learned.decision.support_threshold
    assert "reduced risk of colorectal cancer" in contradicted.reason  # it names the sentence it read
    assert contradicted.evidence[0].paper_id == "metformin"
    assert unrelated.reason == "the cited abstract does not say this" and unrelated.score < 0.2
    assert all(0.0 <= e.score <= 1.0 for v in verdicts for e in v.evidence)


def test_learned_verifier_on_the_sample_corpus(learned: LearnedVerifier, cloudformer: Source) -> None:
    quote = "Notably, CloudFormer attains a mean absolute error (MAE) of just 7.8%."
    texts = [
        quote,
        "CloudFormer predicts performance degradation of virtual machines in black-box cloud environments.",
        NEGATED_CLOUDFORMER,
        "CloudFormer reaches a mean absolute error of 12.4%.",
        "CloudFormer predicts VM performance [1].",
    ]
    verdicts = learned.verify([Statement(t, (cloudformer,)) for t in texts] + [Statement("A claim.", ())])
    labels = [v.label for v in verdicts]
    assert labels[:3] == ["supported", "supported", "contradicted"], [(v.label, v.reason) for v in verdicts]
    assert verdicts[0].score == 1.0 and verdicts[0].evidence[0].sentence.startswith("Notably")  # verbatim
    assert labels[3] != "supported" and "12.4% is not in the cited abstract" in verdicts[3].reason  # veto
    assert verdicts[3].score == 0.0
    assert labels[4] == "supported"  # citation markers are not words of the claim
    assert verdicts[5].label == "not_enough_info" and verdicts[5].reason == "cites no source"


def test_the_shipped_model_is_small_and_named_by_its_calibration() -> None:
    assert SHIPPED.stat().st_size < 1_000_000  # a few kB; the cap is 25 MB
    model = load(SHIPPED)
    assert model.id == Settings().verify.model_id  # rag/calibration.json was fitted for this very file
    provenance = model.header["provenance"]
    assert provenance["command"] == "python -m evals.train_verifier"
    assert "SciFact" in provenance["data"] and "CC BY-NC 2.0" in provenance["data"]


def test_a_model_the_calibration_was_not_fitted_for_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "other.npz"
    shutil.copy(SHIPPED, copy)
    settings = Settings(home=tmp_path, verify={"model_path": copy, "model_id": "0" * 64})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="python -m evals.train_verifier --write"):
        make_verifier(settings)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="ASKPAPERS_VERIFY__MODEL_PATH"):
        make_verifier(Settings(home=tmp_path, verify={"model_path": garbage}))  # type: ignore[arg-type]


# --- the three behind one setting -----------------------------------------------------------------
def test_the_setting_chooses_the_verifier(
    tmp_path: Path, embedder: Any, cloudformer: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings(home=tmp_path).verify.method == "learned"
    monkeypatch.setenv("ASKPAPERS_VERIFY__METHOD", "rules")
    rules = make_verifier(Settings(home=tmp_path), embedder)
    assert isinstance(rules, RulesVerifier) and rules.name == "rules"
    monkeypatch.setenv("ASKPAPERS_VERIFY__METHOD", "llm")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ASKPAPERS_VERIFY__LLM_MODEL", "bespoke-minicheck")
    llm = make_verifier(Settings(home=tmp_path))
    assert isinstance(llm, LLMVerifier) and llm.llm.name == "bespoke-minicheck"
    # the baseline's blind spot, which is why the learned model is the default
    verdict = rules.verify([Statement(NEGATED_CLOUDFORMER, (cloudformer,))])[0]
    assert verdict.label != "contradicted"
    assert all(v.label in ("supported", "not_enough_info") for v in rules.verify([Statement("x y", ())]))


# --- llm ------------------------------------------------------------------------------------------
def _llm_verifier(url: str, tmp_path: Path, **verify: Any) -> LLMVerifier:
    settings = Settings(
        home=tmp_path,
        openai_base_url=url,
        llm={"model": "answers", "max_retries": 0},  # type: ignore[arg-type]
        verify={"method": "llm", "llm_model": "bespoke-minicheck", **verify},  # type: ignore[arg-type]
    )
    verifier = make_verifier(settings)
    assert isinstance(verifier, LLMVerifier)
    return verifier


def test_llm_verifier_asks_in_minicheck_format_and_reads_yes_no(
    scripted_llm: Any, tmp_path: Path, cloudformer: Source
) -> None:
    server = scripted_llm(["No", "Yes, it does.", "Yes", "Maybe so", "Unsure"])
    verifier = _llm_verifier(server.url, tmp_path)
    contradicted, supported, unclear = verifier.verify(
        [Statement(t, (cloudformer,)) for t in (NEGATED_CLOUDFORMER, "CloudFormer beats baselines.", "Hmm.")]
    )
    assert contradicted.label == "contradicted" and contradicted.reason.startswith(
        "the cited abstract says otherwise: “"
    )
    assert contradicted.evidence and contradicted.evidence[0].paper_id == "cf"
    assert (supported.label, supported.score) == ("supported", 1.0)
    assert unclear.label == "not_enough_info" and "neither Yes nor No" in unclear.reason
    first = server.requests[0]
    assert first[0] == {"role": "system", "content": SUPPORT_SYSTEM}
    assert first[1]["content"].startswith(f"Document: {CLOUDFORMER}. Cloud platforms") and first[1][
        "content"
    ].endswith(f"\nClaim: {NEGATED_CLOUDFORMER}")
    assert "contradicts" in server.requests[1][0]["content"]  # the second question, only after a No
    assert len(server.requests) == 5
    assert [read_answer(r) for r in ("Yes.", " no", "YES!", "Nope", "")] == [True, False, True, None, None]


def test_llm_verifier_without_the_contradiction_question(
    scripted_llm: Any, tmp_path: Path, cloudformer: Source
) -> None:
    server = scripted_llm([], default="No")
    verifier = _llm_verifier(server.url, tmp_path, llm_contradiction=False)
    verdict = verifier.verify([Statement(NEGATED_CLOUDFORMER, (cloudformer,))])[0]
    assert verdict.label == "not_enough_info" and len(server.requests) == 1
    quote = verifier.verify(
        [Statement("Notably, CloudFormer attains a mean absolute error (MAE) of just 7.8%.", (cloudformer,))]
    )
    assert quote[0].label == "supported" and len(server.requests) == 1  # a verbatim quote asks no model


class WordLLM:
    """Counts a word as a token, answers Yes, and records the prompts (for the window test)."""

    name, context_window = "words", 200

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def execute(self, messages: Any, *, max_tokens: int, temperature: float = 0.0) -> Any:
        self.prompts.append(messages[-1]["content"])
        yield "Yes"
        yield Usage(1, 1)


def test_llm_verifier_sends_the_best_sentences_when_the_abstract_does_not_fit(cloudformer: Source) -> None:
    llm = WordLLM()
    verdict = LLMVerifier(llm).verify([Statement("CloudFormer uses 206 system metrics.", (cloudformer,))])[0]
    assert verdict.label == "supported"
    document = llm.prompts[0].split("\nClaim: ")[0]
    assert len(document.split()) < len(cloudformer.abstract.split()) and "206 system metrics" in document


@pytest.mark.slow
def test_llm_verifier_against_the_real_llama_cpp_server(
    llm_server: str, tmp_path: Path, cloudformer: Source
) -> None:
    """SmolLM2 is weak: the contract, not its accuracy — labels, evidence, no exceptions, clear errors."""
    settings = Settings(
        home=tmp_path,
        openai_base_url=llm_server,
        llm={"model": "smollm2", "context_window": 2048, "max_retries": 0},  # type: ignore[arg-type]
        verify={"method": "llm"},  # type: ignore[arg-type]
    )
    verifier = make_verifier(settings)
    statements = [Statement(NEGATED_CLOUDFORMER, (cloudformer,))]
    started = time.perf_counter()
    verdicts = verifier.verify(statements)
    print(f"SmolLM2 verified one statement in {time.perf_counter() - started:.1f} s")
    assert len(verdicts) == 1 and verdicts[0].label in LABELS
    assert all(v.score in (0.0, 1.0) and (v.supported or v.reason) for v in verdicts)
    down = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(EndpointError, match="can't reach the LLM endpoint"):
        make_verifier(down).verify(statements[:1])


@pytest.mark.slow
def test_llm_verifier_on_the_supervised_local_model(tmp_path: Path, cloudformer: Source) -> None:
    settings = Settings(home=tmp_path, verify={"method": "llm", "llm_endpoint": "local"})  # type: ignore[arg-type]
    verifier = make_verifier(settings)
    verdict = verifier.verify([Statement(NEGATED_CLOUDFORMER, (cloudformer,))])[0]
    assert verdict.label in LABELS and (verdict.supported or verdict.reason)


# --- the verify stage and every output ------------------------------------------------------------
def _hit(source: Source) -> Hit:
    return Hit(
        source.paper_id,
        source.title,
        2025,
        [],
        "https://example.org/cf",
        1.0,
        source.abstract,
        abstract=source.abstract,
    )


class NegatingAnswerer:
    """An answer mode's answerer that writes one faithful and one negated sentence, citing [1]."""

    def answer(self, question: str, hits: Any) -> Any:
        yield Draft(
            list(hits),
            [
                Claim("CloudFormer predicts VM performance degradation in black-box environments.", (1,)),
                Claim(NEGATED_CLOUDFORMER, (1,)),
            ],
        )


def test_the_verify_stage_marks_a_contradicted_answer_sentence(
    learned: LearnedVerifier, cloudformer: Source
) -> None:
    from rag.followup import RuleRewriter
    from rag.pipeline import Pipeline
    from rag.settings import AnswerSettings
    from tests.test_pipeline import FakeSearcher, FixedGate

    pipeline = Pipeline(
        "fake", RuleRewriter(AnswerSettings()), FakeSearcher([_hit(cloudformer)]), FixedGate(False),
        NegatingAnswerer(), SentenceVerifier(learned),
    )  # fmt: skip
    answer = list(pipeline.run("Does CloudFormer beat its baselines?", k=5))[-1]
    assert isinstance(answer, Answer)
    faithful, negated = answer.sentences
    assert (faithful.label, faithful.supported) == ("supported", True)
    assert (negated.label, negated.supported, negated.contradicted) == ("contradicted", False, True)
    assert negated.evidence_paper == "cf" and negated.evidence in cloudformer.abstract
    assert negated.reason.startswith("the cited abstract says otherwise: “")

    text = answer_format.to_text(answer)
    assert f"{NEGATED_CLOUDFORMER[:-1]} [1].  ✗ contradicted: the cited abstract says otherwise" in text
    assert "1 of 2 sentences are not supported by the abstracts they cite; 1 is contradicted by them." in text
    data = json.loads(answer_format.to_json(answer))
    assert [s["label"] for s in data["sentences"]] == ["supported", "contradicted"]
    assert answer_format.from_dict(data).sentences[1].contradicted
    md = answer_format.to_markdown(answer)
    assert "✗ *(contradicted: the cited abstract says otherwise: “" in md
    html = answer_format.to_html(answer)
    assert "<span class='sent contradicted'>" in html and "the cited abstract says otherwise" in html
    assert "Contradicted" in html and "hover ✗" not in html and "the ⚠ or ✗ for the reason" in html

    from ui import render

    cards = render.sources_html(answer)
    assert "<mark class='against' title='Contradicts a sentence of the answer'>" in cards
    metrics = answer_metrics(Question("q", "Does CloudFormer beat its baselines?", "fact", []), answer)
    assert (metrics.sentences_unsupported, metrics.sentences_contradicted, metrics.contradicted_rate) == (
        1,
        1,
        0.5,
    )


def test_contradicted_outputs_escape_record_text() -> None:
    hostile = "<script>alert(1)</script> [x](javascript:alert(1)) \x1b[31m"
    sentence = SentenceCheck(
        "CloudFormer is <b>bad</b>.", [1], 0.1, False, f"the cited abstract says otherwise: “{hostile}”",
        hostile, label="contradicted",
    )  # fmt: skip
    answer = Answer(
        "q",
        "t",
        {},
        [_hit(Source("cf", "T <i>", f"An abstract with {hostile} inside."))],
        [sentence],
        False,
        "fake",
    )
    html = answer_format.to_html(answer)
    assert "<script" not in html and "<b>" not in html and "&lt;script&gt;" in html
    md = answer_format.to_markdown(answer)
    assert "<script" not in md and "](javascript:" not in md
    assert "\x1b" not in answer_format.to_text(answer)
    from ui import render

    cards = render.sources_html(answer)
    assert "<script" not in cards and "<mark class='against'" in cards


def test_old_results_without_labels_still_read() -> None:
    check = SentenceCheck("A.", [1], 0.2, False, "little overlap")
    assert check.label == "not_enough_info" and not check.contradicted
    data = {"text": "A.", "cites": [1], "support": 0.9, "supported": True}
    assert SentenceCheck(**data).label == "supported"  # type: ignore[arg-type]


@pytest.mark.slow
def test_cli_json_marks_a_contradicted_sentence(sample_settings: Any, scripted_llm: Any) -> None:
    """End to end: the real CLI, the sample index, the default (learned) verifier; a scripted model
    writes the negated sentence, since no small model writes it on demand."""
    server = scripted_llm([], default=f"{NEGATED_CLOUDFORMER[:-1]} [1].")
    env = os.environ | {
        "ASKPAPERS_HOME": str(sample_settings.home),
        "OPENAI_BASE_URL": server.url,
        "ASKPAPERS_LLM__MODEL": "scripted",
        "HF_HUB_OFFLINE": "1",
    }
    question = "Does CloudFormer outperform state-of-the-art baselines?"
    out = subprocess.run(
        [str(VENV_BIN / "askpapers"), "ask", question, "--mode", "openai", "--json"],
        capture_output=True, text=True, env=env, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert not answer["refused"], answer["text"]
    assert answer["sources"][0]["title"].startswith("CloudFormer")
    (sentence,) = answer["sentences"]
    assert sentence["label"] == "contradicted" and sentence["supported"] is False, sentence
    assert (
        "says otherwise" in sentence["reason"]
        and sentence["evidence_paper"] == answer["sources"][0]["paper_id"]
    )
    human = subprocess.run(
        [str(VENV_BIN / "askpapers"), "ask", question, "--mode", "openai"],
        capture_output=True, text=True, env=env, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert "✗ contradicted: the cited abstract says otherwise" in human.stdout, human.stdout + human.stderr


# --- training -------------------------------------------------------------------------------------
SCIFACT = REPO.parent / "shared" / "data" / "scifact"
needs_scifact = pytest.mark.skipif(
    not (SCIFACT / "claims_train.jsonl").is_file(), reason=f"SciFact's training split is not at {SCIFACT}"
)


def _train(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Path, dict[str, Any]]:
    from evals.train_verifier import main

    out = tmp_path / "model.npz"
    main(["--scifact", str(SCIFACT), "--out", str(out), *args])
    printed = capsys.readouterr().out
    assert "--- learned" in printed and "--- rules" in printed and "SciFact held-out" in printed
    return out, json.loads(printed.strip().splitlines()[-1])


@needs_scifact
def test_training_script_smoke_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, result = _train(tmp_path, capsys, "--limit", "40")
    model = load(out)
    assert model.id == result["model_id"] and model.header["provenance"]["command"].endswith("--limit 40")
    assert 0 < result["decision"]["support_threshold"] < 1
    with pytest.raises(SystemExit, match="not with --limit"):
        from evals.train_verifier import main

        main(["--scifact", str(SCIFACT), "--limit", "5", "--write"])


@pytest.mark.slow
@needs_scifact
def test_the_shipped_weights_are_what_the_training_script_produces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, result = _train(tmp_path, capsys)
    assert load(out).id == load(SHIPPED).id == Settings().verify.model_id == result["model_id"]
    verify = Settings().verify
    assert result["decision"] == {
        "temperature": verify.temperature,
        "support_threshold": verify.support_threshold,
        "contradict_share": verify.contradict_share,
    }
