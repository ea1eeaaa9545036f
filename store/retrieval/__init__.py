"""Reading features back out for people and models: point-in-time training sets (``dataset``)
and the recorded ones (``saved``), lineage as a principal sees it (``lineage``), statistics of a
group (``stats``) and the studio's views of its records and history (``browse``).

The room sits on floor 9, above the core: every function takes the store's context
(``core.context.StoreContext``) or narrower arguments, never the facade, and reads the offline
store through ``ctx.snapshots``, which makes the policy's read check. It may import ``core``,
``engines``, ``ingest``, ``offline``, ``online``, ``registry`` and the floors below them, never
``quality``, ``pipelines``, ``access`` or the facade (those above may import it). ``browse`` and
``stats`` are studio-facing: the studio calls them, and uses ``stats``' value types.
"""
