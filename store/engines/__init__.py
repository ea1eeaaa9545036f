"""Offline query engines: DuckDB in process (the default, ``store.query``) and Apache Spark
(``spark``, the optional extra ``featurestore[spark]``) for work past one machine's memory."""
ENGINES = ("duckdb", "spark")
