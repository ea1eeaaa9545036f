"""The kernel under the facade (floor 8): ``context.StoreContext``, the open store's parts built
once, and the paths every public call runs on: ``groups`` (definitions), ``writes`` (puts,
deletes, bulk ingest and what each write keeps beside its rows), ``batches`` and ``writes_spark``
(ingest of inputs longer than a batch, and of Spark DataFrames), ``lookups`` (online reads),
``reads`` (offline reads: time travel, history, SQL), ``entities`` (entities, and a lookup of one
across its groups), ``upkeep`` (flush, compaction, expiry) and ``background`` (upkeep on a thread
of long-running processes).

May import floors 1-7 (errors, common, model, storage, databases, registry, online, offline,
engines, ingest) and the capabilities' persistence leaves ``quality.tables``,
``pipelines.tables`` and ``access.audit``; never ``access`` otherwise: access checks arrive
through ``context.Policy``. Nothing here names the facade."""
