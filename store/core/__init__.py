"""Keeping the offline store in shape while it is used: flushing buffered puts to Parquet within
a bounded time, compacting small files into files sized for reading (sorted by record and
event time), applying each group's offline retention, repartitioning a group's layout, and
measuring storage use. ``background`` runs the first three in long-lived processes."""
