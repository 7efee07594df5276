"""Interrupted writes and readers racing a writer, from the command line (the long runs;
``tests/test_reliability_kill.py`` and ``tests/test_concurrency.py`` are the short ones):

    PYTHONPATH=tests python fuzz/kill.py kill    [--points N] [--seed S] [--scale K] [--durable SHARE]
    PYTHONPATH=tests python fuzz/kill.py readers [--readers N] [--seconds S] [--seed S]

The work is done by ``support.kill_points`` and ``support.racing_readers`` (tests/support/);
see fuzz/README.md. Prints one JSON summary line; exit status 1 when something was lost
or wrong.
"""
import sys

try:
    from support import kill_points, racing_readers
except ImportError:
    sys.exit("fuzz/kill.py needs tests/ on PYTHONPATH: PYTHONPATH=tests python fuzz/kill.py ... (fuzz/README.md)")

COMMANDS = {"kill": kill_points.main, "readers": racing_readers.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]]([sys.argv[0]] + sys.argv[2:]))
