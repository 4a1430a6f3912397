"""The vector store behind one small interface; Chroma (embedded or server) is the backend.

Writes go through llama-index's ``ChromaVectorStore``. Queries go to the Chroma
collection directly: importing llama-index's Chroma integration costs ~1.4 s (it pulls
in all of llama-index core), which was a third of a cold ``askpapers ask``
(measured with ``python -X importtime``). We open the Chroma client ourselves, to choose
between ``PersistentClient`` and ``HttpClient`` and to turn telemetry off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from rag.errors import ConfigError, EndpointError

if TYPE_CHECKING:
    from ingest.manifest import Chunk
    from rag.settings import Settings

Metadata = Mapping[str, str | int | float | bool]


@dataclass(frozen=True)
class VectorHit:
    chunk_id: str
    score: float  # cosine similarity, higher is closer
    text: str
    metadata: Mapping[str, Any]


class VectorStore(Protocol):
    def add(
        self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]], metadatas: Sequence[Metadata]
    ) -> None: ...

    def delete(self, chunk_ids: Sequence[str]) -> None: ...

    def query(
        self, embedding: Sequence[float], k: int, where: Mapping[str, Any] | None = None
    ) -> list[VectorHit]: ...

    def count(self) -> int: ...


def chroma_client(settings: Settings) -> Any:
    """A Chroma client for the configured location (imports chromadb lazily)."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma.url:
        url = urlparse(settings.chroma.url)
        if not url.hostname:
            raise ConfigError(f"chroma.url {settings.chroma.url!r} is not a URL like http://127.0.0.1:8000")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=config,
            )
        except Exception as exc:  # chromadb raises bare exceptions for connection problems
            raise EndpointError(
                f"can't reach the Chroma server at {settings.chroma.url} ({exc}); start it with "
                "'chroma run --host 127.0.0.1 --port 8000' or unset ASKPAPERS_CHROMA__URL"
            ) from None
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=config)


class ChromaStore:
    def __init__(self, settings: Settings) -> None:
        self.client = chroma_client(settings)
        self.collection = self.client.get_or_create_collection(
            settings.collection_name, metadata={"hnsw:space": "cosine"}
        )
        self._batch = settings.chroma.add_batch_size

    @cached_property
    def _store(self) -> Any:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    def add(
        self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]], metadatas: Sequence[Metadata]
    ) -> None:
        from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

        nodes: list[BaseNode] = []
        for chunk, vector, meta in zip(chunks, embeddings, metadatas, strict=True):
            node = TextNode(id_=chunk.id, text=chunk.text, embedding=list(vector), metadata=dict(meta))
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.paper_id)
            nodes.append(node)
        for start in range(0, len(nodes), self._batch):
            self._store.add(nodes[start : start + self._batch])

    def delete(self, chunk_ids: Sequence[str]) -> None:
        ids = list(chunk_ids)
        for start in range(0, len(ids), self._batch):
            self.collection.delete(ids=ids[start : start + self._batch])

    def query(
        self, embedding: Sequence[float], k: int, where: Mapping[str, Any] | None = None
    ) -> list[VectorHit]:
        result = self.collection.query(
            query_embeddings=[list(embedding)],
            n_results=k,
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        ids, docs = result["ids"][0], (result.get("documents") or [[]])[0]
        metas, dists = (result.get("metadatas") or [[]])[0], (result.get("distances") or [[]])[0]
        return [
            VectorHit(cid, 1.0 - float(dist), doc or "", dict(meta or {}))  # cosine distance → similarity
            for cid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def count(self) -> int:
        return int(self.collection.count())
