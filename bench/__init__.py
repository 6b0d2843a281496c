"""Benchmarks and the data generator, run on demand, never as timed tests (docs/benchmarks.md)."""
