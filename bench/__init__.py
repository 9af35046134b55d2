"""Benchmarks: each ``<area>_bench`` module exposes ``run(argv) -> int`` for ``arbtree bench``."""
