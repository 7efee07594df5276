"""The ``neo-mef3`` command: ``demo`` and ``info``.

``neo-mef3 demo`` reads the small example session shipped inside the package, so a new
user sees the library work before they have a recording of their own.
``neo-mef3 info PATH`` prints the same summary for any session.
"""

import argparse
import datetime
import os
import sys

import numpy as np

from .errors import MefError, PasswordError
from .reader import Reader

EXAMPLE_SESSION = os.path.join(os.path.dirname(__file__), "data", "example.mefd")


def _when(uutc):
    if uutc is None:
        return "-"
    dt = datetime.datetime.fromtimestamp(uutc / 1e6, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _fmt_samples(values, n=5):
    shown = ", ".join("nan" if np.isnan(v) else f"{v:.3f}" for v in values[:n])
    return f"[{shown}{', ...' if len(values) > n else ''}]"


def summarize(path, password="", out=None, n_samples=5):
    """Print channels, rates, durations, a few samples and the records of a session."""
    out = out or sys.stdout
    with Reader(path, password=password) as r:
        print(f"session   {r.path}", file=out)
        print(f"channels  {len(r.channels)}", file=out)
        for ch in r.channels:
            info = r.info(ch)
            fs = info["sampling_frequency"]
            start, end = info["start_time"], info["end_time"]
            duration = (end - start) / 1e6 if start is not None and end is not None else float("nan")
            print(
                f"  {ch:<16} {fs:>10.3f} Hz  {duration:>10.3f} s  {info['number_of_samples']:>10d} samples  "
                f"{info['n_segments']} segment(s)  units {info['units_description'] or '?'}",
                file=out,
            )
            if start is not None:
                head = r.read(ch, start, start + int(round(n_samples * 1e6 / fs)) + 1)[:n_samples]
                print(f"  {'':<16} starts {_when(start)}  first samples {_fmt_samples(head, n_samples)}", file=out)
        try:
            levels = [("session", None)] + [(ch, ch) for ch in r.channels]
            total = 0
            for label, ch in levels:
                for rec in r.records(ch):
                    total += 1
                    extra = rec.get("text") or rec.get("annotation") or ""
                    dur = rec.get("duration")
                    dur = f" ({dur / 1e6:g} s)" if isinstance(dur, (int, np.integer)) and dur > 0 else ""
                    print(f"  record [{label}] {rec['type']} at {_when(rec['time'])}{dur}: {extra}", file=out)
            if total == 0:
                print("  no records", file=out)
        except PasswordError as exc:
            print(f"  records locked: {exc}", file=out)


def _demo(args):
    print("neo_mef3 demo: reading the example session shipped with the package\n")
    summarize(EXAMPLE_SESSION)
    return 0


def _info(args):
    summarize(args.path, password=args.password or "")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="neo-mef3", description="MEF 3.0 sessions from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="read (and write) an example session")
    p.set_defaults(func=_demo)
    p = sub.add_parser("info", help="summarize a session: channels, rates, durations, samples, records")
    p.add_argument("path")
    p.add_argument("--password", default="", help="level-1 or level-2 password of an encrypted session")
    p.set_defaults(func=_info)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MefError as exc:
        print(f"neo-mef3: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
