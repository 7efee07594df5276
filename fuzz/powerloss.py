"""Power loss during writes and appends, from the command line (the long run;
``tests/test_reliability_powerloss.py`` is the short one):

    PYTHONPATH=tests python fuzz/powerloss.py [--points N] [--non-durable N] [--scripts K] [--seed S] [--workers W]

The work is done by ``support.power_loss`` and its model disk ``support.model_disk``
(tests/support/); see fuzz/README.md. Prints one JSON summary line; exit status 1 when
committed data was lost, a sample read wrong, or a Writer could not resume.
"""
import sys

try:
    from support import power_loss
except ImportError:
    sys.exit("fuzz/powerloss.py needs tests/ on PYTHONPATH: PYTHONPATH=tests python fuzz/powerloss.py ... "
             "(fuzz/README.md)")

if __name__ == "__main__":
    sys.exit(power_loss.main(sys.argv[1:]))
