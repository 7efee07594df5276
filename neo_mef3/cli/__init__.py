"""The ``neo-mef3`` command line.

One module per subcommand; each has ``register(subparsers)``, which adds its parser and
sets ``func`` to a function of the parsed arguments that returns the exit code. A new
subcommand is a new module listed in ``COMMANDS``.
"""

import argparse
import importlib
import sys

from ..errors import MefError

COMMANDS = ["demo", "info", "check"]


def build_parser():
    parser = argparse.ArgumentParser(prog="neo-mef3", description="MEF 3.0 sessions from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print escaped
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # pragma: no cover - a replaced stream
            pass
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MefError as exc:
        print(f"neo-mef3: error: {exc}", file=sys.stderr)
        return 2
