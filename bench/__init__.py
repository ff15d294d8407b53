"""Benchmarks: `clearance bench` and the quality and micro-benchmark scripts."""
