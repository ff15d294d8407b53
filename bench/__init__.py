"""Benchmarks: `clearance bench` (the pipeline against two baselines) and the quality and
micro-benchmark scripts (``bench/cel_implementations.py``, ``bench/detectors_quality.py``).

``clearance bench`` is :func:`main`; :func:`run_bench` runs it from Python and returns the
:class:`BenchReport`. Results go to ``docs/benchmarks.md``.
"""

from .harness import SCENARIOS, BenchOptions, BenchReport, main, parse_options, run_bench

__all__ = ["SCENARIOS", "BenchOptions", "BenchReport", "main", "parse_options", "run_bench"]
