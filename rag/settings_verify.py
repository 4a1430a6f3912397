"""Settings sections for deciding and checking: refusal (the evidence gate), the rules support scorer,
and the verifier. Part of the one settings object (rag/settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from rag.calibration import calibrated


class RefusalSettings(BaseModel):
    """When the retrieved papers don't hold an answer to the question (rag/evidence.py)."""

    model: dict[str, dict[str, float]] = Field(
        calibrated("refusal.model"),
        description="Calibrated: the values are in rag/calibration.json (python -m evals.calibrate_refusal "
        "--write; its _provenance gives the data, the split and the held-out figures). The logistic models "
        "that turn the gate's signals into the probability that a question is answerable: 'typed' for "
        "questions asking for a figure or a name, 'open' for the rest; each maps a signal of "
        "rag.evidence.FEATURES (and 'intercept') to its weight.",
    )
    answer_threshold: float = Field(
        calibrated("refusal.answer_threshold"),
        ge=0,
        le=1,
        description="Calibrated with model (rag/calibration.json): questions whose probability of being "
        "answerable is below this are refused.",
    )
    sentence_papers: int = Field(
        3,
        ge=1,
        le=20,
        description="The gate reads the sentences of this many top retrieved papers (at k=5 the paper a "
        "question is about was in the top 3 for 97% of evals/sets/refusal*.jsonl). Hand-set; the model "
        "was calibrated with it, so changing it needs a recalibration.",
    )
    slot_window: int = Field(
        5,
        ge=1,
        description="An answer (a number, a name) fills the asked-for slot when it is at most this many words "
        "from an asked-for word ('86 participants', 'accuracy of 75.4%'). Hand-set with the model, as above.",
    )
    overlap_weight: float = Field(
        0.5,
        ge=0,
        description="A sentence's relevance is its cosine to the question plus this times the share of the "
        "question's terms it holds. Hand-set with the model, as above.",
    )
    min_sentence_chars: int = Field(
        15,
        ge=0,
        description="Abstract sentences of at most this many characters are not read (headings such as "
        "'Methods:'). Hand-set.",
    )
    cache_size: int = Field(
        4096,
        ge=1,
        description="Sentence vectors the gate keeps in memory (LRU, shared by concurrent requests; ~1.5 KB "
        "each at 384 dimensions, so ~6 MB): the same abstracts come back question after question, and a "
        "sample-index question reads ~30 sentences.",
    )


class SupportSettings(BaseModel):
    """Does a cited abstract support an answer sentence? (rag/support.py)"""

    threshold: float = Field(
        calibrated("support.threshold"),
        ge=0,
        le=1,
        description="Calibrated: the value is in rag/calibration.json (python -m evals.calibrate_support "
        "--write: fitted on half of evals/sets/support_labels.jsonl; _provenance gives the held-out half). "
        "Sentences scoring below this are flagged unsupported.",
    )
    hard_fail_cap: float = Field(
        0.3,
        ge=0,
        le=1,
        description="A sentence failing a hard check (a number or a name no cited abstract has, a comparison "
        "the wrong way round) has its score multiplied by this, so it sits below any sensible threshold; "
        "it is unsupported whatever the threshold. Hand-set.",
    )
    semantic_weight: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Share of a sentence's score from meaning (cosine to the best cited sentence or pair of "
        "sentences); word overlap gives the rest. Hand-set; the threshold was calibrated with it.",
    )
    min_quote_words: int = Field(
        4,
        ge=1,
        description="A sentence of at least this many words found verbatim in a cited abstract is supported "
        "without embedding anything; shorter 'quotes' ('the model') prove nothing. Hand-set.",
    )
    cache_size: int = Field(
        2048,
        ge=1,
        description="Sentence vectors kept in memory (LRU, shared by concurrent answers; ~1.5 KB each at 384 "
        "dimensions, so ~3 MB): a chat's follow-ups cite the same abstracts again.",
    )


class VerifySettings(BaseModel):
    """Which verifier checks each answer sentence against the abstracts it cites, and its numbers
    (rag/verify/: learned.py, llm.py, rules.py)."""

    method: Literal["learned", "llm", "rules"] = Field(
        "learned",
        description="'learned': the small model shipped in rag/verify/verifier.npz (offline, CPU; trained by "
        "python -m evals.train_verifier on SciFact's training claims and edits of the sample corpus), which "
        "can say contradicted. 'llm': an OpenAI-compatible model asked in MiniCheck's format (e.g. "
        "bespoke-minicheck on Ollama; see the llm_* settings). 'rules': the cosine-and-overlap scorer of "
        "rag/support.py (section 'support'), the baseline; it never says contradicted.",
    )
    model_path: Path | None = Field(
        None,
        description="For 'learned': a model file written by python -m evals.train_verifier (default: the "
        "shipped rag/verify/verifier.npz). Its decision numbers below must be fitted for it.",
    )
    model_id: str = Field(
        calibrated("verify.model_id"),
        description="Calibrated with the thresholds (rag/calibration.json): the content hash of the model the "
        "decision was fitted for; loading another model with these numbers is refused.",
    )
    temperature: float = Field(
        calibrated("verify.temperature"),
        gt=0,
        description="Calibrated: the value is in rag/calibration.json (python -m evals.train_verifier --write: "
        "fitted by negative log-likelihood on SciFact's calibration split; its _provenance gives the "
        "held-out figures). Divides the model's logits before the softmax.",
    )
    support_threshold: float = Field(
        calibrated("verify.support_threshold"),
        ge=0,
        le=1,
        description="Calibrated with temperature (rag/calibration.json): a sentence is supported when the "
        "calibrated P(supported) reaches this (the midpoint of the thresholds with the best balanced "
        "accuracy on the calibration split).",
    )
    contradict_share: float = Field(
        calibrated("verify.contradict_share"),
        ge=0,
        le=1,
        description="Calibrated with temperature (rag/calibration.json): a sentence not supported is "
        "contradicted when P(contradicted) / (P(contradicted) + P(not enough info)) reaches this (the "
        "midpoint of the values with the best mean recall of the two on the calibration split).",
    )
    hard_veto: bool = Field(
        True,
        description="For 'learned': a number or name no cited abstract holds, or a comparison the other way "
        "round (rag/support.py's hard checks), rules out 'supported'. Measured: on support_labels.jsonl "
        "flag recall 1.00 with it, 0.6 without; on SciFact it costs ~0.02 balanced accuracy (within noise).",
    )
    evidence_count: int = Field(
        2,
        ge=1,
        le=10,
        description="Evidence sentences a verdict names, best first. Hand-set: with 2, a gold SciFact "
        "rationale sentence is among them in ~3 of 4 SUPPORT/CONTRADICT pairs (verifier lab).",
    )
    cache_size: int = Field(
        4096,
        ge=1,
        description="Claim and abstract-sentence vectors the 'learned' verifier keeps (LRU, shared by "
        "concurrent answers; ~1.5 KB each, so ~6 MB): a chat's follow-ups cite the same abstracts again.",
    )
    llm_endpoint: Literal["openai", "local"] = Field(
        "openai",
        description="For 'llm': 'openai' asks the OpenAI-compatible endpoint of OPENAI_BASE_URL / "
        "OPENAI_API_KEY (Ollama, vLLM, OpenAI); 'local' asks the supervised llama.cpp model of mode 'local'.",
    )
    llm_model: str | None = Field(
        None,
        description="For 'llm' with endpoint 'openai': the model to ask (e.g. 'bespoke-minicheck' on Ollama); "
        "default: llm.model, the answering model.",
    )
    llm_contradiction: bool = Field(
        True,
        description="For 'llm': when the model says No (not supported), ask a second question — does the "
        "document contradict the claim? — to tell contradicted from not_enough_info. Set false for "
        "bespoke-minicheck, which is trained for the support question only: every No then reads "
        "not_enough_info.",
    )
    llm_max_tokens: int = Field(
        8,
        ge=1,
        le=256,
        description="Longest reply the verifying model may write: MiniCheck's answer is one word (Yes/No).",
    )
    batch_size: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Claims 'askpapers check --batch' (rag/checker.py) hands the verifier per call: one "
        "embedding call for all their sentences. Measured on the sample corpus (320 paraphrased claims, one "
        "paper each, empty cache, 2-core machine): 1 per call ~50 claims/s, 16-256 ~60-70; 64 sits on that "
        "plateau and still writes each group of output lines within about a second.",
    )
