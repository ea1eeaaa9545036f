"""Offline query engines behind one interface (``base.Engine``, chosen with ``base.get``): DuckDB
in process (the default, ``duckdb_engine``) and Apache Spark (``spark``, the optional extra
``featurestore[spark]``) for work past one machine; ``spark_ingest`` writes Spark DataFrames."""
