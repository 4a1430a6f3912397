"""Which answer modes can run here, decided by health checks that really exercise them.

- ``extractive`` needs nothing.
- ``openai`` needs an endpoint or key, and ``GET <base_url>/models`` answering within
  ``llm.health_timeout_s``.
- ``local`` needs llama-cpp-python and the GGUF, the supervised llama.cpp server to start,
  and a 1-token completion to succeed: a build that crashes on this CPU fails here, in the
  child process, instead of on a user's question.

``check_mode`` returns '' when a mode is healthy, else why not (a sentence that says what to do).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from rag.errors import AskpapersError

if TYPE_CHECKING:
    from rag.settings import Settings

MODES = ("extractive", "openai", "local")
PROBE = [{"role": "user", "content": "Say OK."}]


def check_mode(settings: Settings, mode: str) -> str:
    """'' when ``mode`` can answer here, else the reason it can't."""
    if mode == "extractive":
        return ""
    if mode == "openai":
        return _check_openai(settings)
    if mode == "local":
        return _check_local(settings)
    return f"unknown answer mode {mode!r}; use one of {', '.join(MODES)}"


def available_modes(settings: Settings) -> dict[str, str]:
    """Each mode → '' when its check passed, else why not. The local model is started (and so
    offered) when it is the configured mode or ``llm.offer_local`` is on (the default)."""
    modes = {"extractive": "", "openai": check_mode(settings, "openai")}
    if settings.answer_mode == "local" or settings.llm.offer_local:
        modes["local"] = check_mode(settings, "local")
    else:
        modes["local"] = _local_installed(settings) or (
            "off: ASKPAPERS_LLM__OFFER_LOCAL is false (set it true, or ASKPAPERS_LLM__MODE=local, to start the "
            "local model in its own process and offer it)"
        )
    return modes


def require_mode(settings: Settings, mode: str) -> None:
    """Raise a ConfigError saying why ``mode`` can't answer here (no-op when it can)."""
    from rag.errors import ConfigError

    if reason := check_mode(settings, mode):
        raise ConfigError(f"answer mode {mode!r} is unavailable: {reason}")


def _check_openai(settings: Settings) -> str:
    if not (settings.openai_base_url or settings.openai_api_key):
        return "set OPENAI_BASE_URL (an OpenAI-compatible server) or OPENAI_API_KEY"
    import httpx

    from rag.llm import OPENAI_URL

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
    from rag.llm import local_model_path

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
    from rag.llm import make_llm

    try:
        llm = make_llm(settings, "local")
        for _ in llm.execute(PROBE, max_tokens=1):  # starts the server, then one decode step
            pass
    except AskpapersError as exc:
        return str(exc)
    return ""
