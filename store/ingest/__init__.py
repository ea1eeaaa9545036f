"""Floor 7, turning what users bring into checked Arrow: reading their files as the tools that
wrote them meant them (``files``), proposing a group from data (``infer``), and the bulk path that
loads, validates and shapes a batch for the two stores (``prepare``, with its ``IngestReport``).

May import: floors 1-6 (``online``, ``offline``, ``registry``, ``databases``, ``model``,
``storage``, ``common``, ``errors``); not ``store.engines``, which sits beside it.
"""
