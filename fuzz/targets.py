"""Fuzz targets over the RED decoder, the record parser, the header parsers and whole
sessions, from the command line (the long runs; ``tests/test_fuzz.py`` is the short one):

    PYTHONPATH=tests python fuzz/targets.py random     red|records|headers|session [--n N] [--seed S]
    PYTHONPATH=tests python fuzz/targets.py hypothesis red|records|headers|session [--n N]
    PYTHONPATH=tests python fuzz/targets.py atheris    red|records|headers|session [-max_total_time=S ...]

The targets and drivers are ``support.fuzz_targets`` (tests/support/), run here as the
main module so that atheris instruments the modules as they load; see fuzz/README.md.
"""
import runpy
import sys

try:
    import support  # noqa: F401  (tests/support/)
except ImportError:
    sys.exit("fuzz/targets.py needs tests/ on PYTHONPATH: PYTHONPATH=tests python fuzz/targets.py ... (fuzz/README.md)")

if __name__ == "__main__":
    runpy.run_module("support.fuzz_targets", run_name="__main__", alter_sys=True)
