"""Index access: the three parts' interfaces (``interfaces``: manifest, vector store, lexical index, in
our own types), their real implementations (SQLite ``manifest``, Chroma ``vectors`` through its one
owner process, BM25 ``lexical``) and in-memory ones (``memory``), what filters mean (``filtering``),
chunk ids, and ``IndexStore``, which keeps the parts in step for one writer and many readers."""
