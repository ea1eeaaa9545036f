"""Floor 6, the offline store: append-only Hive-partitioned Parquet plus a staging buffer and a
manifest in the store's database (``files``); consistent DuckDB snapshots of it and time travel
(``snapshot``); the decoded-file cache (``filecache``); compaction and retention, which rewrite
history without changing an answer inside the window (``compaction``, ``retention``); and disk use
(``usage``).

May import: floors 1-5 (``registry``, ``databases``, ``model``, ``storage``, ``common``, ``errors``);
not ``store.online``, which sits beside it.
"""
