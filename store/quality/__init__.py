"""Data quality: validation rules applied on every write path (``rules``), quarantine of the rows
they refuse and a record of every validation run (``tables``), suggestions from a profile of the
data (``suggest``), and monitoring of freshness, volume and drift (``monitor``, ``drift``).
``api`` holds the ``FeatureStore`` methods, which delegate here."""
