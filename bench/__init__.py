"""Benchmarks for the feature store: ``python -m bench.run [--size small|large] [--out bench/results]``.

Every measurement runs in its own subprocess (``python -m bench.steps <step>``) so its peak RSS
can be read on its own; ``bench.run`` orchestrates them, prints a table and writes JSON.
"""
