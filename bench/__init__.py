"""Benchmarks on PostgreSQL at 1M+ rows: `python -m bench <name> [options]`. Results go in docs/PERFORMANCE.md."""
