"""The one owner of the chunk-id format: ``<paper id>#<index>.<hash of the chunk text>``.

The id changes exactly when the chunk's text changes, so a changed paper's new chunks never
overwrite its old ones: the old vectors keep answering until the manifest commits the new
version, and only then are they deleted (see rag/index/store.py). The id is a pure function of
the paper id, the position and the text, so any machine that chunks the same input (a Ray
worker included) makes the same ids.
"""

from __future__ import annotations

import hashlib


def chunk_id(paper_id: str, index: int, text: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return f"{paper_id}#{index}.{digest}"


def paper_of(chunk_id_: str) -> str:
    """The paper a chunk belongs to (paper ids may themselves contain '#')."""
    return chunk_id_.rsplit("#", 1)[0]
