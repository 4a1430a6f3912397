"""Chunking and embedding on a Ray cluster (``askpapers ingest --ray [ADDRESS]``).

Each input batch of papers becomes one row of a Ray Dataset, and ``map_batches`` hands the rows to a
fixed pool of embedder actors (:class:`EmbedderActor`: one model each, made by the same factory as a
local ingest, ``rag.embedders.make_embedder``, with one CPU thread or its GPU). The driver gets each
batch's chunks and vectors back and yields them as an :class:`EmbeddedBatch`; it stays the one
committer (ingest/pipeline.py stores each batch pending → Chroma → manifest), so crash safety and
dedup are those of a local ingest. Chroma is typically a server every machine can reach
(``ASKPAPERS_CHROMA__URL``), but only the driver writes to it.

Same index as a local ingest: the actors chunk with ``Chunker.for_index`` (chunk ids are a pure
function of paper id, position and text, rag/index/chunk_ids.py) and embed with the configured
embedder; vectors travel as float32, the precision the embedder computes and Chroma stores.

Bounded memory: Ray Data plans a dataset over data it holds when the job starts, so the input is
taken in windows of ``actors × BATCHES_PER_ACTOR`` batches, one dataset (and one actor pool, each
model loaded once) per window; the driver holds one window's papers and results at a time.

Order: within a window, batches come back as they finish, not in input order. Each holds whole
papers and is committed on its own, so the index does not depend on the order.

No outbound calls: usage stats are off (``RAY_USAGE_STATS_ENABLED=0`` here; ``ray start
--disable-usage-stats`` on the nodes), there is no dashboard, and no runtime_env is uploaded — every
node runs the same installed askpapers.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import socket
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ingest.chunking import Chunker
from rag.embedders import make_embedder
from rag.errors import AskpapersError, ConfigError, EndpointError, IndexWriteError
from rag.index.store import EmbeddedBatch
from rag.records import Chunk, Paper
from rag.settings import Settings

if TYPE_CHECKING:
    import numpy as np

#: Batches each actor embeds per window. A window's actor pool starts and loads its models once
#: (~4 s per actor on this 2-core machine); 8 batches of 64 SciFact abstracts take ~25 s per actor
#: there, so start-up stays under a fifth of a window while the driver holds ≤ 8 batches per actor.
BATCHES_PER_ACTOR = 8
#: Errors an actor reports that the driver raises as themselves (others as AskpapersError, same message).
_ACTOR_ERRORS: dict[str, type[AskpapersError]] = {
    cls.__name__: cls for cls in (ConfigError, EndpointError, IndexWriteError)
}
#: CPUs Ray reserves for each actor, and so the threads its embedder uses: parallelism comes from more
#: actors (ingest.ray_actors), each as fast as the single-thread local embedder per core.
ACTOR_CPUS = 1
#: Actors when the cluster reports no CPUs (the setting's documented fallback).
FALLBACK_ACTORS = 2
#: Seconds to wait for the head's port to answer before calling the address unreachable; a reachable
#: head answers in milliseconds, even across a data centre.
CONNECT_TIMEOUT_S = 10.0


def embed_on_ray(
    settings: Settings, batches: Iterable[Sequence[Paper]], address: str | None
) -> Iterator[EmbeddedBatch]:
    """Chunks and vectors of each batch of ``batches``, made on the Ray cluster at ``address``
    (None: ``ray.init()``'s default — ``RAY_ADDRESS``, a cluster started on this machine, or a new
    local one). One EmbeddedBatch per non-empty input batch, in completion order within a window."""
    import ray

    nonempty = iter(list(batch) for batch in batches if batch)
    first = next(nonempty, None)
    if first is None:
        return  # nothing to embed: don't even join the cluster
    started_here = _connect(address)
    try:
        actors = _actor_count(settings, ray.cluster_resources())
        config = settings_payload(settings)
        for window in windows(itertools.chain([first], nonempty), actors * BATCHES_PER_ACTOR):
            yield from _embed_window(config, window, actors, settings.ingest.ray_gpus_per_actor)
    finally:
        if started_here:
            ray.shutdown()


def windows(batches: Iterable[list[Paper]], size: int) -> Iterator[list[list[Paper]]]:
    """``batches`` in consecutive groups of at most ``size`` (only one group is held at a time)."""
    iterator = iter(batches)
    while window := list(itertools.islice(iterator, size)):
        yield window


def settings_payload(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON data for the actors (secrets included: they stay inside the cluster)."""
    data = settings.model_dump(mode="json")
    if settings.openai_api_key is not None:
        data["openai_api_key"] = settings.openai_api_key.get_secret_value()
    return data


def encode_papers(papers: Sequence[Paper]) -> str:
    return json.dumps([dataclasses.asdict(p) for p in papers])


def decode_papers(blob: str) -> list[Paper]:
    return [Paper(**fields) for fields in json.loads(blob)]


def encode_result(chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> dict[str, Any]:
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), -1 if chunks else 0)
    return {
        "chunks": json.dumps([[c.id, c.paper_id, c.idx, c.text] for c in chunks]),
        "vectors": matrix.tobytes(),
        "dim": matrix.shape[1],
    }


def decode_result(papers: list[Paper], row: dict[str, Any]) -> EmbeddedBatch:
    """The EmbeddedBatch for ``papers`` from an actor's output row; raises the error the actor met,
    and refuses chunks of other papers."""
    import numpy as np

    if row.get("error"):
        name, message = json.loads(row["error"])
        raise _ACTOR_ERRORS.get(name, AskpapersError)(message)
    chunks = [Chunk(id=c[0], paper_id=c[1], idx=int(c[2]), text=c[3]) for c in json.loads(row["chunks"])]
    ids = {p.id for p in papers}
    if any(c.paper_id not in ids for c in chunks):
        raise AskpapersError("a Ray embedder actor returned chunks of papers not in its batch (a bug)")
    dim = int(row["dim"])
    matrix: np.ndarray = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(chunks), dim)
    return EmbeddedBatch(papers, chunks, matrix.tolist() if chunks else [])


class EmbedderActor:
    """One Ray actor: one embedder and its chunker, loaded once, then batch after batch.

    A problem askpapers reports itself (a model missing on that node, an endpoint failing) comes
    back as data in the ``error`` column and is raised on the driver as that error: raised here, Ray
    would keep only its traceback text."""

    def __init__(self, config: dict[str, Any], gpus: float) -> None:
        self.error: AskpapersError | None = None
        try:
            settings = Settings.model_validate(config)
            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            self.embedder = make_embedder(
                settings, key, device="cuda" if gpus > 0 else "cpu", threads=ACTOR_CPUS
            )
            self.chunker = Chunker.for_index(settings, self.embedder)
        except AskpapersError as exc:
            self.error = exc

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"seq": [], "chunks": [], "vectors": [], "dim": [], "error": []}
        for seq, blob in zip(rows["seq"], rows["papers"], strict=True):
            result = {"chunks": "[]", "vectors": b"", "dim": 0, "error": ""}
            try:
                if self.error is not None:
                    raise self.error
                chunks = self.chunker.chunk_many(decode_papers(str(blob)))
                result |= encode_result(chunks, self.embedder.embed_batch([c.text for c in chunks]))
            except AskpapersError as exc:
                result["error"] = json.dumps([type(exc).__name__, str(exc)])
            out["seq"].append(int(seq))
            for name, value in result.items():
                out[name].append(value)
        return out


def _connect(address: str | None) -> bool:
    """Join the cluster (no telemetry, no dashboard); True when this call started Ray here."""
    import ray
    from ray.data import DataContext

    with warnings.catch_warnings():  # Ray 2.60 warns about its own default shuffle setting here
        warnings.simplefilter("ignore", DeprecationWarning)
        context = DataContext.get_current()
    context.enable_progress_bars = False  # the ingest shows its own
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # per-dataset notices; failures still raise
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():
        return False
    if address:
        _check_reachable(address)
    try:
        ray.init(
            address=address or None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
        raise EndpointError(
            f"can't join the Ray cluster at {address or 'RAY_ADDRESS or this machine'} ({exc}); start it with "
            "'ray start --head --disable-usage-stats' and pass its address, e.g. --ray HEAD:6379"
        ) from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds on a HEAD:PORT nothing listens on (``ray.init`` would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://… or an address form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EndpointError(
            f"can't reach the Ray cluster at {address} ({exc.strerror or exc}); start its head with "
            "'ray start --head --port PORT --disable-usage-stats' there, or check the address and firewall"
        ) from None


def _actor_count(settings: Settings, resources: dict[str, float]) -> int:
    cpus = int(resources.get("CPU", 0))
    actors = settings.ingest.ray_actors or cpus or FALLBACK_ACTORS
    gpus = settings.ingest.ray_gpus_per_actor
    if gpus and settings.embedding.backend == "local" and settings.embedding.runtime != "torch":
        raise ConfigError(
            "ingest.ray_gpus_per_actor needs an embedder that runs on a GPU: set ASKPAPERS_EMBEDDING__RUNTIME=torch "
            "(the onnx-int8 runtime is CPU-only), and the same for every later ask/search of that index"
        )
    if cpus and actors > cpus:
        raise ConfigError(
            f"ingest.ray_actors is {actors} but the Ray cluster has {cpus} CPUs (each actor takes one); "
            "lower ASKPAPERS_INGEST__RAY_ACTORS or add nodes"
        )
    if gpus and actors * gpus > resources.get("GPU", 0):
        raise ConfigError(
            f"{actors} actors × {gpus} GPUs (ingest.ray_gpus_per_actor) exceeds the cluster's "
            f"{resources.get('GPU', 0):g} GPUs; lower ASKPAPERS_INGEST__RAY_ACTORS or the GPUs per actor"
        )
    return actors


def _embed_window(
    config: dict[str, Any], window: list[list[Paper]], actors: int, gpus: float
) -> Iterator[EmbeddedBatch]:
    import ray
    import ray.data

    rows = [{"seq": seq, "papers": encode_papers(batch)} for seq, batch in enumerate(window)]
    with warnings.catch_warnings():
        # max_restarts has no named parameter in Ray 2.60 (constraints.txt pins it): passing it through
        # **ray_remote_args is deprecated but is the only way
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            EmbedderActor,
            batch_size=1,
            # one batch queued behind the one running, so no actor idles and none hoards the window
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(rows)), max_tasks_in_flight_per_actor=2),
            fn_constructor_kwargs={"config": config, "gpus": gpus},
            num_cpus=ACTOR_CPUS,
            num_gpus=gpus or None,
            batch_format="numpy",
            # A lost actor fails the run rather than restarting: Ray can't promise the restart (and says so on
            # stderr for every pool), and the next run picks up exactly the batches not committed.
            max_restarts=0,
        )
    try:
        for row in dataset.iter_rows():
            yield decode_result(window[int(row["seq"])], row)
    except ray.exceptions.RayError as exc:
        raise _cluster_error(exc) from None


def _cluster_error(exc: BaseException) -> EndpointError:
    """A failure of the cluster itself (a node lost, an actor killed) as one line, not Ray's traceback."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return EndpointError(f"the Ray cluster failed while embedding ({first}); see the Ray logs and run again")
