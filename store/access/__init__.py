"""Access control, audit and encryption: one policy (``policy``) enforced inside the engine
(``guard``) for the studio, the CLI, the Python API and the HTTP server, and an append-only,
hash-chained audit log (``audit``)."""
