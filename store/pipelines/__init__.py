"""Feature pipelines: transformations defined once and run incrementally, on a schedule, on
input changes or by hand, backfilled over history, with every run recorded.

The room holds ``spec`` (a definition, checked once when saved), ``runner`` (one run: plan what
to read, compute, write through the core's ingest with the watermark in the same transaction),
``schedule`` (cron, on_change and retries, and the scheduler loop), ``preview`` (a run computed
and written nowhere), ``grants`` (who may define, preview and run what under an access policy),
``tables`` (the persistence leaf: definitions, runs, locks) and ``api`` (the bodies of
``FeatureStore``'s pipeline methods). Everything takes a ``StoreContext``, never the facade.

It may import floors 1-9 (``core`` and ``retrieval`` and below), ``quality.tables`` and
``access.audit``; nothing else of ``quality`` or ``access``. The policy arrives as
``ctx.policy``, and the scheduler is handed another principal's context by whoever starts it.
``tables`` imports floors 1-4 only, since ``core`` and ``access.guard`` read it.
"""
