"""The answer modes, registered once: what each is called, how to tell it can run here, and what
answers in it. Settings (``llm.mode``), the command lines' ``--mode``, the chat page and evals all
read :data:`REGISTRY`; nothing else lists the modes.

- ``extractive`` needs nothing: it quotes the abstracts.
- ``openai`` needs an endpoint or key, and ``GET <base_url>/models`` answering within
  ``llm.health_timeout_s``.
- ``local`` needs llama-cpp-python and the GGUF, the supervised llama.cpp server to start,
  and a 1-token completion to succeed: a build that crashes on this CPU fails here, in the
  child process, instead of on a user's question.

A mode's ``check`` returns '' when it is healthy, else why not (a sentence that says what to do).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.answerers import ExtractiveAnswerer, LLMAnswerer
from rag.errors import AskpapersError, ConfigError
from rag.followup import LLMRewriter, RuleRewriter
from rag.llm import LLM, OPENAI_URL, LocalLLM, OpenAICompatibleLLM, local_model_path

if TYPE_CHECKING:
    from rag.sentence_rank import Similarity
    from rag.settings import Settings
    from rag.stages import Answerer, Rewriter

PROBE = [{"role": "user", "content": "Say OK."}]


@dataclass(frozen=True)
class AnswerMode:
    name: str
    label: str  # how the chat page names it
    summary: str  # one line for --help
    check: Callable[[Settings], str]  # '' when it can answer here, else why not
    answerer: Callable[[Settings, LLM | None, Similarity | None], Answerer]
    llm: Callable[[Settings], LLM] | None = None  # the model it writes with, if any
    offer: Callable[[Settings], str] | None = None  # the chat page's check, when not ``check``

    @property
    def streams(self) -> bool:
        """Whether its answers arrive as they are written (a model's) or all at once (quotes)."""
        return self.llm is not None

    def rewriter(self, settings: Settings, llm: LLM | None) -> Rewriter:
        """Follow-ups: the mode's model rewrites them when it has one, the rule otherwise."""
        rule = RuleRewriter(settings.answer)
        return LLMRewriter(llm, settings.answer, rule) if llm is not None else rule


def _nothing_needed(settings: Settings) -> str:
    return ""


def _extractive(settings: Settings, llm: LLM | None, similarity: Similarity | None) -> Answerer:
    return ExtractiveAnswerer(settings.answer_settings(), similarity)


def _written(settings: Settings, llm: LLM | None, similarity: Similarity | None) -> Answerer:
    if llm is None:
        raise ConfigError("this answer mode writes with a model, and none was made")
    return LLMAnswerer(llm, settings.llm, settings.answer_settings(), similarity=similarity)


def _check_openai(settings: Settings) -> str:
    if not (settings.openai_base_url or settings.openai_api_key):
        return "set OPENAI_BASE_URL (an OpenAI-compatible server) or OPENAI_API_KEY"
    import httpx

    base = (settings.openai_base_url or OPENAI_URL).rstrip("/")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    timeout = settings.llm.health_timeout_s
    try:
        response = httpx.get(f"{base}/models", headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return (
            f"the LLM endpoint at {base} didn't answer within {timeout:g} s (ASKPAPERS_LLM__HEALTH_TIMEOUT_S)"
        )
    except httpx.HTTPError as exc:
        cause = str(exc.__cause__ or exc) or type(exc).__name__
        reason = "connection refused" if "refused" in cause.lower() else cause[:200]
        if key:
            reason = reason.replace(key, "***")
        return (
            f"can't reach the LLM endpoint at {base} ({reason}); is the server running? "
            "Set OPENAI_BASE_URL to its /v1 URL (e.g. http://127.0.0.1:11434/v1 for Ollama)"
        )
    if response.status_code in (401, 403):
        return (
            f"the endpoint at {base} rejected the API key (HTTP {response.status_code}); check OPENAI_API_KEY"
        )
    if response.status_code != 200:
        return (
            f"GET {base}/models answered HTTP {response.status_code}; check that OPENAI_BASE_URL is the "
            "endpoint's /v1 URL"
        )
    return ""


def _local_installed(settings: Settings) -> str:
    """'' when llama-cpp-python and a GGUF file are there, else what to install or set."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "needs llama-cpp-python: pip install 'askpapers[local]'"
    try:
        path = local_model_path(settings)
    except AskpapersError as exc:
        return str(exc)
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        return f"can't read the local model {path} ({exc})"
    if magic != b"GGUF":
        return (
            f"{path} is not a GGUF model (it doesn't start with 'GGUF'); set ASKPAPERS_LLM__LOCAL_MODEL_PATH "
            "to a .gguf file, or unset it for the bundled SmolLM2"
        )
    return ""


def _check_local(settings: Settings) -> str:
    if reason := _local_installed(settings):
        return reason
    try:
        llm = LocalLLM(settings)
        for _ in llm.execute(PROBE, max_tokens=1):  # starts the server, then one decode step
            pass
    except AskpapersError as exc:
        return str(exc)
    return ""


def _offer_local(settings: Settings) -> str:
    """The local model is started (and so offered) when it is the configured mode or
    ``llm.offer_local`` is on (the default)."""
    if settings.answer_mode == "local" or settings.llm.offer_local:
        return _check_local(settings)
    return _local_installed(settings) or (
        "off: ASKPAPERS_LLM__OFFER_LOCAL is false (set it true, or ASKPAPERS_LLM__MODE=local, to start the "
        "local model in its own process and offer it)"
    )


#: Every answer mode, in the order the chat page offers them (the first needs nothing).
REGISTRY: dict[str, AnswerMode] = {
    mode.name: mode
    for mode in (
        AnswerMode(
            "extractive",
            "extractive (quotes, no model)",
            "quotes the abstracts verbatim; no model",
            _nothing_needed,
            _extractive,
        ),
        AnswerMode(
            "openai",
            "openai (OpenAI-compatible endpoint)",
            "an OpenAI-compatible endpoint writes (OPENAI_BASE_URL / OPENAI_API_KEY)",
            _check_openai,
            _written,
            llm=OpenAICompatibleLLM,
        ),
        AnswerMode(
            "local",
            "local (SmolLM2 via llama.cpp)",
            "a local GGUF model writes, in a llama.cpp server process askpapers supervises",
            _check_local,
            _written,
            llm=LocalLLM,
            offer=_offer_local,
        ),
    )
}
MODES = tuple(REGISTRY)


def get_mode(name: str) -> AnswerMode:
    """The registered mode called ``name``; a ConfigError naming the modes there are otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown answer mode {name!r}; use one of {', '.join(MODES)}") from None


def check_mode(settings: Settings, mode: str) -> str:
    """'' when ``mode`` can answer here, else the reason it can't."""
    if mode not in REGISTRY:
        return f"unknown answer mode {mode!r}; use one of {', '.join(MODES)}"
    return REGISTRY[mode].check(settings)


def available_modes(settings: Settings) -> dict[str, str]:
    """Each mode → '' when the chat page may offer it (its check passed), else why not."""
    return {name: (mode.offer or mode.check)(settings) for name, mode in REGISTRY.items()}


def require_mode(settings: Settings, mode: str) -> None:
    """Raise a ConfigError saying why ``mode`` can't answer here (no-op when it can)."""
    if reason := check_mode(settings, mode):
        raise ConfigError(f"answer mode {mode!r} is unavailable: {reason}")


def mode_help() -> str:
    """A ``--mode`` option's help: the default, then every registered mode."""
    modes = "; ".join(f"{m.name}: {m.summary}" for m in REGISTRY.values())
    default = "ASKPAPERS_LLM__MODE, else openai when OPENAI_BASE_URL/OPENAI_API_KEY is set, else extractive"
    return f"answer mode (default: {default}). {modes}"
