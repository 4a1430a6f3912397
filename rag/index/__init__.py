"""Index access: the manifest (SQLite), vectors (Chroma, through its one owner process), the lexical
index (BM25), chunk ids, and ``IndexStore``, which keeps them in step for one writer and many readers."""
