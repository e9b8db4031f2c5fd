"""Benchmarks of Bitcoin Analyzer, run on demand with ``python -m benchmarks``, never by pytest."""
