"""Benchmarks of the conformance suite: mutation testing (mutations.py) and timing (timing.py)."""
