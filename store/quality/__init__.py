"""Data quality (floor 10, a capability beside ``pipelines`` and ``access``): the quality calls as
functions of the store's context (``api``; ``FeatureStore`` delegates to them), suggestions from
a profile of a group's latest records (``suggest``), rules imported from Great Expectations or
SageMaker Model Monitor (``imports``), monitoring of freshness, volume and drift (``monitor``,
with the figures in ``drift``), and the tables of rules, monitor settings, quarantine and
validation runs (``tables``, a persistence leaf that ``core`` writes through on every write path).
The rules themselves are checked in ``store.model.rules``.

It imports the floors below it (``retrieval``, ``core`` and lower) and ``pipelines.tables`` (the
monitor alerts on failed pipeline runs); nothing else of ``pipelines`` or ``access``. Functions
take a ``StoreContext``, never the facade; the principal was checked once on the facade, and a
sweep over groups (``monitor.check``) reads only those ``ctx.policy`` lets it see.
"""
