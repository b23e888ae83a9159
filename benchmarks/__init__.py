"""gpunet's benchmark suites (pytest-benchmark) and their report.

``pytest benchmarks/`` runs the suites; ``python -m benchmarks.report`` runs
them and writes ``benchmarks/RESULTS.md`` and ``benchmarks/results.png``.
``GPUNET_BENCH_SMOKE=1`` (or ``--smoke``) shrinks every size and runs each
benchmark once, which is what CI does.
"""
