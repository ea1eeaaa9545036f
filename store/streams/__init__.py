"""Streams: Kafka topics read into feature groups exactly once (``consumer``), their offsets
and state kept in the store's tables (``tables``). confluent-kafka is imported only when a
stream runs (the ``kafka`` extra)."""
