"""The search index of a vault: a disposable cache under .mem/ that keeps itself in step with the
files and answers queries. It knows nothing of the vault's layout: the memory layer hands it a
listing of files and a loader, and reads it only through the methods of SearchIndex (core.py).

    core.py     SearchIndex: the one object the memory layer talks to
    options.py  SearchOptions: every weight of the ranking in one place
    store.py    the on-disk rows (SQLite) and vectors (raw float32)
    sync.py     files -> rows -> vectors; rows -> the loaded columns
    columns.py  the loaded columnar view search reads
    search.py   ranking with a complete explain trace; candidates for a new fact
    signals.py  conversation context, a memory that asks, the "former" qualifier; fusion.py, bm25.py: the maths
    chunk.py    notes cut into chunks; embed.py: the embedding model (onnxruntime, on first use)
"""
