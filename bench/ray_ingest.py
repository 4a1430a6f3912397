"""Ray ingest scaling: the same papers chunked and embedded on a local Ray cluster of one node, then two.

Each node is a real ``ray start`` on this machine with ``--num-cpus 1``, so Ray runs one embedder
actor per node (ingest.ray_actors = the cluster's CPUs), each embedding with one thread — as two
one-core machines would. Timed: ``ingest.ray_ingest.embed_on_ray`` from joining the cluster to the
last batch back (actor start-up and model loads included), i.e. the part of ``askpapers ingest
--ray`` that the cluster does; storing is the driver's and is the same as a local ingest's.

Usage: python -m bench.ray_ingest [--corpus ../shared/data/scifact/corpus.jsonl] [--papers 1000] [--json]

:func:`local_ray_cluster` (also used by tests/test_ray_ingest.py) starts the nodes on loopback with
usage stats and the dashboard off, and stops exactly the processes it started.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.records import Paper

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
RAY = Path(sys.executable).parent / "ray"
#: Smallest object store Ray accepts is 75 MB; one window of batches needs a few MB.
OBJECT_STORE_BYTES = 100 * 2**20
#: Seconds a stopping node gets to end its processes before they are killed: an idle node ends in
#: ~3 s, but after a job ``ray start --block`` took ~30 s here, and nothing of a throwaway node needs keeping.
STOP_GRACE_S = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ray_env(token: Path | None = None) -> dict[str, str]:
    """Environment for Ray processes: no usage stats, no proxy for loopback, and with ``token``, Ray's
    token authentication with that token file (never the user's ~/.ray/auth_token)."""
    env = dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_ADDRESS", None)
    if token is not None:
        env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    return env


@dataclass(frozen=True)
class LocalCluster:
    address: str
    #: environment for every process that talks to the cluster (its auth token, no usage stats)
    env: dict[str, str]


def _agent_ports() -> list[str]:
    """Free ports for a node's agents, so nodes (ours or anyone's on this machine) never collide."""
    names = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port")
    return [arg for name in names for arg in (name, str(_free_port()))] + [
        "--runtime-env-agent-port",
        str(_free_port()),
    ]


def _start_node(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One ``ray start --block`` node in its own process group (which a shell's SIGINT never reaches)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(RAY), "start", "--block", "--disable-usage-stats", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _stop_nodes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the nodes together: SIGTERM to each ``ray start --block``, then, after a grace period, SIGKILL
    to every process it started that is still there (its process group, and the worker processes that
    Ray puts in sessions of their own). Nothing else on the machine is touched: ``ray stop`` would stop
    every Ray node of this user."""
    started = {pid for proc in procs for pid in _descendants(proc.pid)}
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and any(_alive(pid) for pid in started | {p.pid for p in procs}):
        time.sleep(0.2)
    for proc in procs:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    for pid in started:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for proc in procs:
        proc.wait(timeout=10)


def _descendants(root: int) -> set[int]:
    """Pids of every process below ``root`` now (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent doesn't)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the Ray head exited while starting; see its log")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the Ray head did not listen on 127.0.0.1:{port} after {seconds:.0f} s")


def _wait_for_nodes(
    cluster: LocalCluster, nodes: int, procs: list[subprocess.Popen[bytes]], seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a Ray node exited while starting; see its log")
        status = subprocess.run(
            [str(RAY), "status", "--address", cluster.address],
            capture_output=True,
            text=True,
            env=cluster.env,
        )
        if status.returncode == 0 and status.stdout.count(" node_") >= nodes:
            return
        time.sleep(1)
    raise TimeoutError(
        f"the Ray cluster at {cluster.address} did not have {nodes} nodes after {seconds:.0f} s; 'ray status' said: "
        f"{status.stdout[-1500:]}{status.stderr[-1500:]}"
    )


@contextmanager
def local_ray_cluster(nodes: int, cpus_per_node: int = 1) -> Iterator[LocalCluster]:
    """A Ray cluster of ``nodes`` nodes on this machine (a head plus workers) on loopback, with token
    authentication (a fresh token of its own). Its temp dir is a short fresh one (Ray's socket paths
    must stay under 107 characters)."""
    temp = Path(tempfile.mkdtemp(prefix="rayc-", dir="/tmp"))
    token = temp / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    port = _free_port()
    cluster = LocalCluster(f"127.0.0.1:{port}", ray_env(token))
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node)]
    common += ["--object-store-memory", str(OBJECT_STORE_BYTES), "--temp-dir", str(temp)]
    head = ["--head", "--port", str(port), "--include-dashboard=false", "--dashboard-port", str(_free_port())]
    head += ["--ray-client-server-port", str(_free_port())]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start_node(head + common + _agent_ports(), temp / "head.log", cluster.env))
        _wait_for_port(port, procs[0])  # workers joining a head still starting may give up
        for n in range(1, nodes):
            worker = ["--address", cluster.address, *common, *_agent_ports()]
            procs.append(_start_node(worker, temp / f"worker{n}.log", cluster.env))
        _wait_for_nodes(cluster, nodes, procs)
        yield cluster
    finally:
        _stop_nodes(procs)
        shutil.rmtree(temp, ignore_errors=True)


def scifact_papers(path: Path, count: int) -> list[Paper]:
    """The first ``count`` papers of a BEIR corpus file."""
    from ingest.sources import read_inputs
    from rag.records import Paper

    papers = (item for item in read_inputs([str(path)], fmt="beir") if isinstance(item, Paper))
    return list(itertools.islice(papers, count))


def timed_run(cluster: LocalCluster, corpus: Path, count: int, home: Path) -> dict[str, float]:
    """Embed the first ``count`` papers of ``corpus`` on ``cluster`` in a child process (its own Ray
    driver, as ``askpapers ingest --ray`` is)."""
    command = [sys.executable, "-m", "bench.ray_ingest", "--child", cluster.address, "--corpus", str(corpus)]
    out = subprocess.run(
        [*command, "--papers", str(count), "--home", str(home)],
        check=True,
        capture_output=True,
        text=True,
        env=cluster.env,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def child(address: str, corpus: Path, count: int, home: Path) -> dict[str, float]:
    from ingest.ray_ingest import embed_on_ray
    from rag.settings import Settings

    settings = Settings(home=home)
    papers = scifact_papers(corpus, count)
    size = settings.ingest.papers_per_batch
    batches = [papers[i : i + size] for i in range(0, len(papers), size)]
    t0 = time.perf_counter()
    chunks = sum(len(b.chunks) for b in embed_on_ray(settings, batches, address))
    seconds = time.perf_counter() - t0
    return {"papers": len(papers), "chunks": chunks, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=SCIFACT)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.corpus, args.papers, args.home)))
        return
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as home:
        for nodes in (1, 2):
            with local_ray_cluster(nodes) as cluster:
                results[nodes] = timed_run(cluster, args.corpus, args.papers, Path(home))
    rate = {n: r["papers"] / r["seconds"] for n, r in results.items()}
    report = {"runs": results, "papers_per_s": rate, "ratio_2_vs_1": rate[2] / rate[1]}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'nodes':<7}{'papers':>8}{'chunks':>8}{'seconds':>9}{'papers/s':>10}")
    for n, row in results.items():
        print(f"{n:<7}{row['papers']:>8.0f}{row['chunks']:>8.0f}{row['seconds']:>9.1f}{rate[n]:>10.1f}")
    print(f"two nodes vs one (papers/s): {report['ratio_2_vs_1']:.2f}x   (target ≥ 1.7x)")


if __name__ == "__main__":
    main()
