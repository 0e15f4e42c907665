"""Benchmarks: each prints what it measured beside a baseline measured in the same run."""
