"""The ``neo-mef3`` command line.

One module per subcommand; each has ``register(subparsers)``, which adds its parser and
sets ``func`` to a function of the parsed arguments that returns the exit code. A new
subcommand is a new module listed in ``COMMANDS``.

Exit codes: 0 done (``check``: consistent), 1 ``check`` found problems, 2 usage error or
unusable input (the message says which), 130 interrupted (Ctrl-C, SIGTERM or a
cancel; nothing is left under the output's name). Output cut short by a closed pipe
(``neo-mef3 info X | head``) ends quietly.
"""

import argparse
import importlib
import os
import signal
import sys

from .. import __version__
from ..errors import CancelledError, MefError
from .common import COMMON, UsageError

COMMANDS = ["demo", "info", "check", "repair", "anonymize", "cut", "merge", "encrypt", "decrypt", "passwords",
            "records", "plot", "convert", "bids", "pack", "unpack"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser():
    parser = argparse.ArgumentParser(
        prog="neo-mef3", parents=[COMMON],
        description="MEF 3.0 sessions from the command line: look, check, de-identify, cut, merge, re-key, plot.",
        epilog="exit codes: 0 done, 1 check found problems, 2 usage error or unusable input, 130 interrupted.\n"
               "Run 'neo-mef3 COMMAND --help' for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"neo-mef3 {__version__}")
    parser.set_defaults(quiet=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _terminate(signum, frame):  # SIGTERM: unwind like Ctrl-C, so partial outputs are removed
    raise KeyboardInterrupt


def _quiet_broken_pipe():
    """stdout's reader went away: send the rest nowhere, and no traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print escaped
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # pragma: no cover - a replaced stream
            pass
    args = build_parser().parse_args(argv)
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_OK
    except (KeyboardInterrupt, CancelledError):
        print("neo-mef3: interrupted; nothing was left under the output's name", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MefError, UsageError, ValueError, OSError, ImportError) as exc:
        print(f"neo-mef3: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
