"""neo_mef3 benchmarks: ``python -m benchmarks`` (see benchmarks/run.py)."""
