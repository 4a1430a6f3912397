"""The local mode out of process: a supervised llama_cpp.server child (SmolLM2) that can die
without taking askpapers down, and the health checks that decide which modes are offered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rag.engine import Engine
from rag.errors import EndpointError
from rag.llm import LocalLLM, Usage, bundled_model_path
from rag.modes import available_modes, check_mode
from rag.settings import Settings
from rag.types import Answer
from tests.conftest import REPO, VENV_BIN, free_port, stop_process

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),  # gradio_client's, not ours
]
CLOUDFORMER = "What mean absolute error does CloudFormer reach?"
QUESTION = [{"role": "user", "content": "Explain what a neural network is in three sentences."}]


def _local(settings: Settings, **llm: Any) -> Settings:
    return settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"mode": "local", "max_answer_tokens": 160, **llm})}
    )


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_dead(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> LocalLLM:
    llm = LocalLLM(Settings(home=tmp_path_factory.mktemp("local-home")))
    llm.server.ensure(120)
    return llm


# --- the supervised server ----------------------------------------------------------------


def test_killed_mid_answer_is_a_clear_error_and_the_next_question_restarts_it(sample_settings) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(_local(sample_settings))
    llm = engine.llm("local")
    assert isinstance(llm, LocalLLM)
    seen: list[str] = []
    with pytest.raises(EndpointError) as info:
        for item in engine.ask_stream(CLOUDFORMER, k=2):  # a shorter prompt: a quicker test
            if isinstance(item, str):
                if not seen:
                    pid = llm.server.pid
                    assert pid and _alive(pid)
                    os.kill(pid, signal.SIGKILL)
                seen.append(item)
    message = str(info.value)
    assert "the local model process exited (signal 9, SIGKILL)" in message
    assert "the next question restarts it" in message and "local-model.log" in message
    assert _wait_dead(pid)
    started = time.monotonic()
    answer = engine.ask(CLOUDFORMER, k=2)  # the supervisor starts a new process
    assert isinstance(answer, Answer) and answer.mode == "local"
    assert answer.sources[0].title.startswith("CloudFormer")
    assert answer.refused or answer.sentences
    assert llm.server.pid not in (None, pid)
    print(f"restart + answer: {time.monotonic() - started:.1f} s")


def test_a_crash_says_to_rebuild_portably(local_llm: LocalLLM) -> None:
    """SIGSEGV is how a native-CPU build dies in decode; the message says what to do about it."""
    seen: list[str] = []
    with pytest.raises(EndpointError) as info:
        for item in local_llm.execute(QUESTION, max_tokens=120):
            if isinstance(item, str):
                if not seen:
                    os.kill(local_llm.server.pid or 0, signal.SIGSEGV)
                seen.append(item)
    message = str(info.value)
    assert "signal 11, SIGSEGV" in message and "make local" in message
    assert f"after {sum(map(len, seen))} characters" in message
    texts = [t for t in local_llm.execute(QUESTION, max_tokens=8) if isinstance(t, str)]
    assert "".join(texts).strip()  # restarted


def test_concurrent_answers_and_token_counts_wait_their_turn(local_llm: LocalLLM) -> None:
    """llama_cpp.server cuts off a streaming answer when another request arrives unless told not to."""
    first_text = threading.Event()

    def answer(signal_first: bool) -> tuple[str, Usage]:
        parts: list[str] = []
        usage = None
        for item in local_llm.execute(QUESTION, max_tokens=48):
            if isinstance(item, str):
                parts.append(item)
                if signal_first:
                    first_text.set()
            else:
                usage = item
        assert isinstance(usage, Usage)
        return "".join(parts), usage

    with ThreadPoolExecutor(max_workers=3) as pool:
        a = pool.submit(answer, True)
        assert first_text.wait(60)  # A is streaming now
        b = pool.submit(answer, False)
        count = pool.submit(local_llm.count_tokens, f"a text nobody counted before {time.time()}")
        results = [a.result(timeout=120), b.result(timeout=120)]
        assert count.result(timeout=120) > 5
    for text, usage in results:
        assert text.strip() and usage.completion_tokens > 0


def test_token_counts_are_exact_and_prompt_building_stays_fast(local_llm: LocalLLM, sample_engine) -> None:  # type: ignore[no-untyped-def]
    from rag import prompt

    assert local_llm.count_tokens("") == 0  # no BOS counted
    assert local_llm.count_tokens("hello world") == 2
    assert local_llm.count_tokens("<|im_start|>hi") == 2  # special tokens as the chat template renders them
    hits = sample_engine.search(CLOUDFORMER, k=5)
    with local_llm.server._cache_lock:  # measure a cold cache
        local_llm.server._cache.clear()
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        messages, used = prompt.build_messages(
            CLOUDFORMER, hits, local_llm.count_tokens, 2048, 350, sample_engine.settings.answer
        )
        timings.append(time.perf_counter() - started)
    cold, warm = timings
    print(f"build_messages with the local tokenizer: cold {cold * 1000:.0f} ms, warm {warm * 1000:.1f} ms")
    assert cold < 1.0 and warm < 0.05
    total = sum(local_llm.count_tokens(m["content"]) for m in messages)
    assert used and total <= 2048 - 350


def _spawn_script(home: Path, how: str) -> tuple[subprocess.Popen[str], int]:
    code = (
        "import os, signal, sys, threading, time\n"
        "from rag.llm import LocalLLM\n"
        "from rag.settings import Settings\n"
        f"llm = LocalLLM(Settings(home={str(home)!r}))\n"
        "t = threading.Thread(target=llm.server.ensure, args=(120,))\n"
        "t.start(); t.join(); time.sleep(1)  # the starting thread is gone: the child must live on\n"
        "assert llm.server.pid, 'the server died with the thread that started it'\n"
        "assert b'SECRET' not in open(f'/proc/{llm.server.pid}/environ', 'rb').read()\n"
        "print(llm.server.pid, flush=True)\n"
        f"if {how!r} == 'kill': os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    # variables llama_cpp.server would obey over its arguments, and a key it must never see
    env = {
        **os.environ,
        "PORT": "1",
        "API_KEY": "x",
        "CONFIG_FILE": "/nonexistent",
        "OPENAI_API_KEY": "SECRET",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"no pid from the script (exit {proc.wait(60)})"
    return proc, int(line)


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_the_model_process_dies_with_its_parent(tmp_path: Path, how: str) -> None:
    proc, child = _spawn_script(tmp_path, how)
    with proc:  # closes its stdout pipe
        code = proc.wait(60)
    assert code == (-signal.SIGKILL if how == "kill" else 0)
    assert _wait_dead(child), f"the model process {child} outlived its parent ({how})"


# --- health checks ------------------------------------------------------------------------


def test_health_checks(tmp_path: Path, llm_server: str, fault_proxy) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.gguf"
    text.write_text("not a model\n")
    truncated = tmp_path / "truncated.gguf"
    with bundled_model_path().open("rb") as f:
        truncated.write_bytes(f.read(1_000_000))  # starts like a GGUF, can't be loaded
    home = tmp_path / "home"

    def local(path: Path | None) -> Settings:
        return Settings(home=home, llm={"mode": "local", "local_model_path": path})  # type: ignore[arg-type]

    assert check_mode(local(None), "extractive") == ""
    assert check_mode(local(None), "local") == ""
    assert "is not a GGUF model" in check_mode(local(text), "local")
    why = check_mode(local(truncated), "local")
    assert "exited while starting (code 1)" in why and "Failed to load model" in why
    assert "ASKPAPERS_LLM__LOCAL_MODEL_PATH" in why and str(home / "logs" / "local-model.log") in why
    modes = available_modes(local(truncated))
    assert modes["extractive"] == "" and "Failed to load model" in modes["local"]

    dead = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    why = check_mode(Settings(home=home, openai_base_url=dead), "openai")
    assert "can't reach the LLM endpoint" in why and "connection refused" in why and dead in why
    assert time.monotonic() - started < 5
    assert check_mode(Settings(home=home, openai_base_url=llm_server), "openai") == ""
    assert "OPENAI_BASE_URL" in check_mode(Settings(home=home), "openai")
    proxy = fault_proxy(llm_server, ["401"])
    keyed = Settings(home=home, openai_base_url=proxy.url, openai_api_key="sk-test-SECRET42")
    why = check_mode(keyed, "openai")
    assert "rejected the API key" in why and "SECRET" not in why

    off = available_modes(Settings(home=home, llm={"mode": "extractive", "offer_local": False}))  # type: ignore[arg-type]
    assert "ASKPAPERS_LLM__OFFER_LOCAL" in off["local"]
    from ui.app import available_modes as page_modes

    assert page_modes(local(text))["local"] == available_modes(local(text))["local"]


def test_cli_unhealthy_local_mode_is_one_clear_line(sample_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "model.gguf"
    text.write_text("not a model\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ASKPAPERS_HOME": str(sample_settings.home),
        "ASKPAPERS_LLM__LOCAL_MODEL_PATH": str(text),
        "HF_HUB_OFFLINE": "1",
    }
    result = subprocess.run(
        [str(VENV_BIN / "askpapers"), "ask", CLOUDFORMER, "--mode", "local"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "answer mode 'local' is unavailable" in result.stderr and "not a GGUF model" in result.stderr
    assert "Traceback" not in result.stderr


# --- the chat page in local mode ----------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            kids.append(int(stat.parent.name))
    return kids


def _model_child(page_pid: int) -> int:
    for kid in _children(page_pid):
        try:
            if b"llama_cpp.server" in Path(f"/proc/{kid}/cmdline").read_bytes():
                return kid
        except OSError:
            continue
    raise AssertionError(f"no llama_cpp.server child of the chat page ({page_pid})")


@pytest.fixture(scope="module")
def local_page(sample_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    from tests.test_ui import _start

    log = tmp_path_factory.mktemp("ui-local") / "server.log"
    proc, url = _start(
        sample_settings.home,
        log,
        ASKPAPERS_LLM__MODE="local",
        ASKPAPERS_LLM__MAX_ANSWER_TOKENS="160",
        ASKPAPERS_RETRIEVAL__K="2",  # a shorter prompt: a quicker test
    )
    try:
        yield url, proc.pid
    finally:
        stop_process(proc)
        time.sleep(0.2)


def test_chat_page_survives_a_killed_model(local_page: tuple[str, int], sample_settings) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, page_pid = local_page
    config = httpx.get(url + "config", timeout=10).json()
    radio = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "answer-mode")
    offered = [value for _, value in radio["props"]["choices"]]
    assert offered == ["extractive", "local"]  # local passed its health check; openai isn't configured

    model = _model_child(page_pid)
    model_log = sample_settings.home / "logs" / "local-model.log"
    offset = model_log.stat().st_size
    client = Client(url, verbose=False)
    job = client.submit(CLOUDFORMER, api_name="/ask")
    deadline = time.monotonic() + 60
    while b"POST /v1/chat/completions" not in model_log.read_bytes()[offset:]:  # it is answering now
        assert time.monotonic() < deadline and not job.done(), "the question never reached the model"
        time.sleep(0.02)
    os.kill(model, signal.SIGKILL)
    with pytest.raises(AppError) as info:
        job.result(timeout=60)
    assert "the local model process exited (signal 9, SIGKILL)" in str(info.value)
    assert "the next question restarts it" in str(info.value)

    answer = client.predict(CLOUDFORMER, api_name="/ask")  # a fresh model process answers
    assert isinstance(answer, str) and ("**References**" in answer or "**Closest papers:**" in answer)
    assert _model_child(page_pid) != model
    assert httpx.get(url, timeout=10).status_code == 200  # the page still serves
