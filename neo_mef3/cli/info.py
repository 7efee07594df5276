"""``neo-mef3 info PATH``: channels, rates, durations, first samples and records."""

from .summary import summarize


def register(sub):
    p = sub.add_parser("info", help="summarize a session: channels, rates, durations, samples, records")
    p.add_argument("path")
    p.add_argument("--password", default="", help="level-1 or level-2 password of an encrypted session")
    p.set_defaults(func=run)


def run(args):
    summarize(args.path, password=args.password or "")
    return 0
