"""rag.llm against a real llama_cpp.server (directly and through a fault-injecting proxy), and the
local mode's supervised llama_cpp.server (more of it in tests/test_local_mode.py)."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ConfigError, EndpointError
from rag.llm import LLM, LocalLLM, OpenAICompatibleLLM, Usage, make_llm
from rag.settings import Settings
from tests.conftest import free_port
from tests.llm_fixtures import FaultProxy

QUESTION = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is a neural network?"},
]
FAKE_KEY = "sk-test-SECRET123"

ProxyFactory = Callable[..., FaultProxy]


def settings_for(tmp_path: Path, url: str | None, key: str | None = None, **llm: Any) -> Settings:
    llm = {"model": "smollm2", "timeout_s": 5, "max_retries": 2, **llm}
    return Settings(home=tmp_path, openai_base_url=url, openai_api_key=key, llm=llm)  # type: ignore[arg-type]


def run(model: LLM, max_tokens: int = 8) -> tuple[list[str], Usage]:
    items = list(model.execute(QUESTION, max_tokens=max_tokens))
    *texts, usage = items
    assert isinstance(usage, Usage), items
    assert all(isinstance(t, str) for t in texts), items
    return texts, usage  # type: ignore[return-value]


def fails(model: LLM) -> EndpointError:
    with pytest.raises(EndpointError) as info:
        run(model)
    return info.value


# --- the real server ------------------------------------------------------------------


@pytest.mark.slow
def test_streams_deltas_then_usage(tmp_path: Path, llm_server: str) -> None:
    model = make_llm(settings_for(tmp_path, llm_server), "openai")
    assert model.name == "smollm2" and model.context_window == 8192
    texts, usage = run(model, max_tokens=32)
    assert len(texts) >= 3 and "".join(texts).strip()
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert model.count_tokens("hello world") == 2


@pytest.mark.slow
def test_through_proxy_ok(tmp_path: Path, llm_server: str, fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(llm_server, ["ok"])
    texts, usage = run(make_llm(settings_for(tmp_path, proxy.url), "openai"))
    assert "".join(texts).strip() and usage.completion_tokens > 0
    assert proxy.requests == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults", [["429", "ok"], ["500", "ok"], ["503", "ok"], ["cut:1", "ok"], ["end:1", "ok"]]
)
def test_retried_then_ok(
    tmp_path: Path, llm_server: str, fault_proxy: ProxyFactory, faults: list[str]
) -> None:
    """Transient statuses and streams that end before any text are retried."""
    proxy = fault_proxy(llm_server, faults)
    texts, _ = run(make_llm(settings_for(tmp_path, proxy.url), "openai"))
    assert "".join(texts).strip()
    assert proxy.requests == 2


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["badjson:0", "badjson:1"])
def test_garbled_stream_before_text_is_retried(
    tmp_path: Path, llm_server: str, fault_proxy: ProxyFactory, fault: str
) -> None:
    """An event that isn't JSON (the client raises JSONDecodeError) before any text: retried."""
    proxy = fault_proxy(llm_server, [fault, "ok"])
    texts, _ = run(make_llm(settings_for(tmp_path, proxy.url), "openai"))
    assert "".join(texts).strip()
    assert proxy.seen == [fault, "ok"]


@pytest.mark.slow
def test_garbled_stream_beyond_retries_is_a_clear_error(
    tmp_path: Path, llm_server: str, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(llm_server, ["badjson:0"] * 3)
    err = fails(make_llm(settings_for(tmp_path, proxy.url, max_retries=2), "openai"))
    assert "garbled" in str(err) and "3 tries" in str(err) and proxy.url in str(err)
    assert proxy.requests == 3


@pytest.mark.slow
def test_garbled_stream_after_text(tmp_path: Path, llm_server: str, fault_proxy: ProxyFactory) -> None:
    """Text already shown: no retry, a clear 'garbled after N characters' instead of a traceback."""
    proxy = fault_proxy(llm_server, ["badjson:3"])
    model = make_llm(settings_for(tmp_path, proxy.url), "openai")
    seen: list[str] = []
    with pytest.raises(EndpointError, match=r"garbled after \d+ characters") as info:
        for item in model.execute(QUESTION, max_tokens=16):
            assert isinstance(item, str)
            seen.append(item)
    assert seen and f"after {sum(map(len, seen))} characters" in str(info.value)
    assert "try again" in str(info.value) and "JSON" in str(info.value) and proxy.requests == 1


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["cut", "end:3"])
def test_stream_cut_after_text(
    tmp_path: Path, llm_server: str, fault_proxy: ProxyFactory, fault: str
) -> None:
    """Text already shown can't be taken back: no retry, a clear error instead of a hang."""
    proxy = fault_proxy(llm_server, [fault])
    model = make_llm(settings_for(tmp_path, proxy.url), "openai")
    seen: list[str] = []
    with pytest.raises(EndpointError, match=r"cut after \d+ characters") as info:
        for item in model.execute(QUESTION, max_tokens=16):
            assert isinstance(item, str)
            seen.append(item)
    assert seen and f"{sum(map(len, seen))} characters" in str(info.value)
    assert "try again" in str(info.value) and proxy.requests == 1


# --- faults that need no model ------------------------------------------------------


def test_endpoint_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    err = fails(make_llm(settings_for(tmp_path, url), "openai"))
    assert time.monotonic() - start < 30
    assert "can't reach the LLM endpoint" in str(err) and url in str(err)
    assert "connection refused" in str(err) and "OPENAI_BASE_URL" in str(err)


def test_500_beyond_retries(tmp_path: Path, fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(f"http://127.0.0.1:{free_port()}/v1", ["500"] * 5)
    err = fails(make_llm(settings_for(tmp_path, proxy.url, max_retries=2), "openai"))
    assert "HTTP 500" in str(err) and "3 tries" in str(err)
    assert proxy.requests == 3


def test_slow_beyond_timeout(tmp_path: Path, fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(f"http://127.0.0.1:{free_port()}/v1", ["slow", "slow"], slow_s=2)
    start = time.monotonic()
    err = fails(make_llm(settings_for(tmp_path, proxy.url, timeout_s=1, max_retries=1), "openai"))
    assert time.monotonic() - start < 30
    assert "within 1 s" in str(err) and "ASKPAPERS_LLM__TIMEOUT_S" in str(err)
    assert proxy.requests == 2


def test_wrong_key_is_never_echoed(tmp_path: Path, fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(f"http://127.0.0.1:{free_port()}/v1", ["401"])
    err = fails(make_llm(settings_for(tmp_path, proxy.url, key=FAKE_KEY), "openai"))
    assert "OPENAI_API_KEY" in str(err) and "HTTP 401" in str(err)
    shown = str(err) + "".join(traceback.format_exception(err))
    for fragment in (FAKE_KEY, "SECRET", "sk-test"):
        assert fragment not in shown
    assert proxy.requests == 1  # not retried


def test_unknown_model(tmp_path: Path, fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(f"http://127.0.0.1:{free_port()}/v1", ["404"])
    err = fails(make_llm(settings_for(tmp_path, proxy.url), "openai"))
    assert "'smollm2'" in str(err) and "ASKPAPERS_LLM__MODEL" in str(err)


def test_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="extractive"):
        make_llm(settings_for(tmp_path, "http://127.0.0.1:1/v1"), "extractive")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAICompatibleLLM(settings_for(tmp_path, None))
    assert (
        make_llm(settings_for(tmp_path, None, key="k", model="gpt-4o-mini"), "openai").context_window
        == 128_000
    )
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"askpapers\[local\]"):
        LocalLLM(settings_for(tmp_path, None))


# --- the local mode: a supervised llama_cpp.server child ----------------------------------


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLM]:
    yield make_llm(settings_for(tmp_path_factory.mktemp("local"), None), "local")


@pytest.mark.slow
def test_local_llm_streams_through_its_own_server_process(local_llm: LLM) -> None:
    assert isinstance(local_llm, LocalLLM) and local_llm.context_window == 2048
    assert local_llm.name == "SmolLM2-135M-Instruct.Q4_1"
    texts, usage = run(local_llm, max_tokens=32)
    assert len(texts) >= 3 and "".join(texts).strip()
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 33
    assert local_llm.count_tokens("hello world") == 2  # SmolLM2's own tokenizer, not cl100k
    server = local_llm.server
    assert server.pid and server.pid != os.getpid()  # not in this process
    cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    assert any(b"llama_cpp.server" in part for part in cmdline)
    assert cmdline[cmdline.index(b"--host") + 1] == b"127.0.0.1"
    assert local_llm is not make_llm(settings_for(Path("/nonexistent"), None), "local")
    assert make_llm(settings_for(Path("/nonexistent"), None), "local").server is server  # shared
