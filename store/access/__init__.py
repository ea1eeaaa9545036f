"""Access control, audit and encryption: one policy enforced inside the engine for the studio,
the CLI, the Python API and the HTTP server, and an append-only, hash-chained audit log.

- ``policy``: the access file (principals, their roles per group, passwords, API keys).
- ``local`` / ``published``: the policy in force, from the store folder's file or from the
  shared store's tables, followed as it changes.
- ``guard``: ``Guard``, one principal's view, which is the core's ``Policy``
  (``store.core.context``), and the wrapping that checks every public method of the facade
  against ``ACTIONS``.
- ``api``: the calls behind the facade's access methods, each taking a ``StoreContext``.
- ``audit``: the log's table, a persistence leaf (floor 5: imports only ``databases`` and below)
  that the core writes to.
- ``rekey``: encrypting a store, or changing its key.

A capability on floor 10: it imports the floors below the facade (``retrieval``, ``core``, and
what they stand on), never the facade, ``quality`` or ``pipelines``, except that ``guard`` reads
``pipelines.tables`` and ``pipelines.grants`` (a pipeline is checked on the group it writes).
"""
