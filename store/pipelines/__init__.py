"""Feature pipelines: transformations defined once and run incrementally, on a schedule, on
input changes or by hand, backfilled over history, with every run recorded."""
