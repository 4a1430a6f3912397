"""The vector store (rag/index/interfaces.py) on Chroma, always reached over HTTP.

Either the server the user runs (``ASKPAPERS_CHROMA__URL``) or, for the default embedded
directory, the one process that owns it (``rag.index.chroma_owner``): embedded Chroma is not safe
for several processes on one directory, and the chat page, ingests and CLI questions often
share one. Reads and writes go to the Chroma collection directly, not through llama-index's
``ChromaVectorStore``: importing that integration costs ~1.4 s of a cold ``askpapers ask``
(measured with ``python -X importtime``), and its ``add`` can't update an existing id (see
``add``).

Each chunk's metadata holds its paper's filter fields in Chroma's terms (an int year, lists of
categories, sources and author words), and :func:`where` translates a filter into conditions
Chroma evaluates on them itself; a filter never names paper ids, so none grows with the corpus
(a ``paper_id $in [...]`` of 33k+ ids exceeded SQLite's variable limit inside Chroma).

A connection lost mid-session (the owner left or crashed) is re-established once, starting
a new owner if needed; anything else Chroma raises becomes an :class:`EndpointError` that says
what to do, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from rag.errors import ConfigError, EndpointError
from rag.index.chroma_owner import server_url, stop_owner
from rag.index.filtering import LIST_FIELDS, NO_YEAR, Conditions, FilterFields
from rag.index.interfaces import VectorHit
from rag.loopback import bypass_proxy

if TYPE_CHECKING:
    from rag.records import Chunk, Paper
    from rag.settings import Settings
    from rag.types import Filters

#: One chunk's metadata as Chroma stores it; a None value removes the key (upsert merges keys).
Metadata = Mapping[str, str | int | float | bool | list[str] | None]
T = TypeVar("T")


def chroma_metadata(chunk: Chunk, fields: FilterFields) -> dict[str, Any]:
    """Every key, always: an upsert keeps keys it isn't given, and Chroma takes no empty lists."""
    lists = {name: list(getattr(fields, name)) or None for name in LIST_FIELDS}
    year = NO_YEAR if fields.year is None else fields.year
    return {"paper_id": chunk.paper_id, "chunk_index": chunk.idx, "year": year} | lists


def where(conditions: Conditions) -> dict[str, Any]:
    """Conditions as a Chroma ``where``: a year range on the int field, list membership with ``$contains``."""
    clauses: list[dict[str, Any]] = []
    if conditions.has_year:  # papers without a year (NO_YEAR) never pass a year condition
        clauses.append({"year": {"$gte": max(conditions.year_from or 0, NO_YEAR + 1)}})
        if conditions.year_to is not None:
            clauses.append({"year": {"$lte": conditions.year_to}})
    clauses += [{name: {"$contains": value}} for name, value in conditions.terms()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _connection_lost(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError) or "could not connect" in str(exc).lower()


def chroma_client(settings: Settings) -> Any:
    """An HTTP client for the configured Chroma server, or for the owner of the embedded directory."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
    bypass_proxy()  # the owner listens on 127.0.0.1 (and a user's server may too): no proxy for those
    if settings.chroma.url:
        url = urlparse(settings.chroma.url)
        if not url.hostname:
            raise ConfigError(f"chroma.url {settings.chroma.url!r} is not a URL like http://127.0.0.1:8000")
        where, hint = (
            settings.chroma.url,
            "start it with 'chroma run --host 127.0.0.1 --port 8000' or unset ASKPAPERS_CHROMA__URL",
        )
    else:
        url = urlparse(
            server_url(
                settings.chroma_path,
                idle_s=settings.chroma.owner_idle_s,
                start_timeout_s=settings.chroma.owner_start_timeout_s,
            )
        )
        where, hint = str(settings.chroma_path), "run the command again"
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=config,
        )
    except Exception as exc:  # chromadb raises bare exceptions for connection problems
        raise EndpointError(f"can't reach the Chroma server for {where} ({exc}); {hint}") from None
    # chromadb's HTTP client waits forever (timeout=None, chromadb/api/fastapi.py); a server that
    # stopped answering must end in an error, not a hung ingest or page.
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        import httpx

        session.timeout = httpx.Timeout(settings.chroma.request_timeout_s)
    return client


class ChromaStore:
    """One collection; implements VectorStore. ``create=False`` (readers) never creates it: an index
    nobody has written yet simply has no vectors."""

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self.settings = settings
        self._create = create
        self._batch = settings.chroma.add_batch_size
        self.client: Any = None
        self._collection: Any = None
        self._connect()

    def _connect(self) -> None:
        self.client = chroma_client(self.settings)
        self._collection = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            name = self.settings.collection_name
            if self._create:
                self._collection = self.client.get_or_create_collection(
                    name, metadata={"hnsw:space": "cosine"}
                )
            else:
                from chromadb.errors import NotFoundError

                try:
                    self._collection = self.client.get_collection(name)
                except (NotFoundError, ValueError):
                    return None
        return self._collection

    def _call(self, what: str, fn: Callable[[], T], *, write: bool = False) -> T:
        """Run one Chroma operation; reconnect once if the server went away; explain failures."""
        import httpx
        from chromadb.errors import ChromaError, InternalError

        for attempt in (0, 1):
            try:
                return fn()
            except Exception as exc:
                if attempt == 0 and _connection_lost(exc) and not isinstance(exc, httpx.TimeoutException):
                    self._connect()  # the owner left (idle) or crashed: find or start a new one
                    continue
                if isinstance(exc, EndpointError):
                    raise
                if isinstance(exc, ChromaError) or _connection_lost(exc):
                    wedged = isinstance(exc, InternalError | httpx.TimeoutException)
                    if write and wedged and not self.settings.chroma.url:
                        self._restart_owner()
                    if isinstance(exc, httpx.TimeoutException):
                        raise EndpointError(
                            f"Chroma did not answer within {self.settings.chroma.request_timeout_s:g} s when "
                            f"asked to {what} (ASKPAPERS_CHROMA__REQUEST_TIMEOUT_S); try again"
                        ) from None
                    raise EndpointError(f"Chroma failed to {what}: {type(exc).__name__}: {exc}") from None
                raise
        raise AssertionError("unreachable")

    def _restart_owner(self) -> None:
        """After a failed write the owner's server may hold a database lock (measured: the next write
        after a full disk hung); the next call starts a fresh owner."""

        stop_owner(self.settings.chroma_path)

    def upsert(
        self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], papers: Sequence[Paper]
    ) -> None:
        fields = {p.id: FilterFields.of(p) for p in papers}
        self.add(chunks, vectors, [chroma_metadata(c, fields[c.paper_id]) for c in chunks])

    def add(
        self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]], metadatas: Sequence[Metadata]
    ) -> None:
        """Upsert chunks with metadata already in Chroma's terms (the half of :meth:`upsert` that
        talks to Chroma). Straight to the collection rather than through llama-index's
        ``ChromaVectorStore.add``: that calls ``collection.add``, which keeps an existing id's old
        metadata, and a paper whose metadata changed keeps the ids of its unchanged chunks
        (rag/index/chunk_ids.py); writing directly measured no slower (bench/ingest.py).

        No chunk text is sent: the manifest holds it (and BM25 its terms), nothing reads it back from
        Chroma, and Chroma would store it twice more (its SQLite table and a full-text index on it)."""
        for start in range(0, len(chunks), self._batch):
            part = slice(start, start + self._batch)
            ids = [c.id for c in chunks[part]]
            vecs = [list(v) for v in embeddings[part]]
            metas = [dict(m) for m in metadatas[part]]
            self._call(
                "store vectors",
                lambda ids=ids, vecs=vecs, metas=metas: self.collection.upsert(  # type: ignore[misc]
                    ids=ids, embeddings=vecs, metadatas=metas
                ),
                write=True,
            )

    def delete(self, chunk_ids: Sequence[str]) -> None:
        ids = list(chunk_ids)
        for start in range(0, len(ids), self._batch):
            part = ids[start : start + self._batch]
            self._call("delete vectors", lambda part=part: self.collection.delete(ids=part), write=True)  # type: ignore[misc]

    def query(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[VectorHit]:
        conditions = Conditions.of(filters)

        def run() -> Any:
            collection = self.collection
            if collection is None:
                return None
            return collection.query(
                query_embeddings=[list(vector)],
                n_results=k,
                where=None if conditions is None else where(conditions),
                include=["distances"],
            )

        result = self._call("search vectors", run)
        if result is None:
            return []
        ids, dists = result["ids"][0], (result.get("distances") or [[]])[0]
        # cosine distance → similarity
        return [VectorHit(cid, 1.0 - float(dist)) for cid, dist in zip(ids, dists, strict=True)]

    def ids(self) -> set[str]:
        """Every chunk id in the collection (consistency checks and tests; pages through it)."""
        out: set[str] = set()
        page, offset = 5000, 0
        while True:
            got = self._call(
                "list vectors",
                lambda offset=offset: (
                    self.collection.get(include=[], limit=page, offset=offset)  # type: ignore[misc]
                    if self.collection is not None
                    else {"ids": []}
                ),
            )
            out.update(got["ids"])
            offset += len(got["ids"])
            if len(got["ids"]) < page:
                return out

    def count(self) -> int:
        return int(self._call("count vectors", lambda: self.collection.count() if self.collection else 0))
