"""Floor 2, the ground the rest stands on: event times (``timeutil``: every accepted form to UTC
microseconds and back), the process's shared DuckDB database (``duck``), and the SQL text the store
writes itself (``sqltext``: quoted names and literals, DuckDB's errors in words). Nothing here
knows a feature group.

May import: ``store.errors`` only.
"""
