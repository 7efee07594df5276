"""The ``neo-mef3`` command: ``demo``, ``info`` and ``check``.

``neo-mef3 demo`` reads the small example session shipped inside the package, so a new
user sees the library work before they have a recording of their own.
``neo-mef3 info PATH`` prints the same summary for any session.
``neo-mef3 check PATH`` reports whether a session's declarations agree with its data
(exit code 0 consistent, 1 problems found, 2 unusable input; see ``neo_mef3.check``).
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


def _demo_signal(n, fs, rng):
    """A plausible iEEG trace in uV: 1/f background plus a waxing and waning 10 Hz rhythm."""
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    pink *= 30.0 / pink.std()
    t = np.arange(n) / fs
    return pink + 20.0 * np.sin(2 * np.pi * 10 * t) * (1 + np.sin(2 * np.pi * 0.1 * t))


def write_demo_session(path):
    """Write a small session with the native Writer; return what was written, per channel."""
    from .writer import Writer

    rng = np.random.default_rng(2024)
    start = 1_700_000_000_000_000
    written = {}
    with Writer(path, overwrite=True) as w:
        for name, fs in (("LA1", 1024.0), ("LA2", 1024.0), ("ECG", 250.0)):
            x = np.round(_demo_signal(int(30 * fs), fs, rng), 2)
            if name == "LA2":
                x[int(12 * fs) : int(14 * fs)] = np.nan  # two seconds of lost data
            w.write(name, x, start, fs, precision=2)
            written[name] = x
        w.write_annotations(
            [
                {"time": start + 1_000_000, "type": "Note", "text": "demo recording starts"},
                {"time": start + 20_000_000, "type": "EDFA", "text": "stimulus", "duration": 2_000_000},
            ]
        )
        w.write_annotations([{"time": start + 12_000_000, "text": "LA2 disconnected"}], channel="LA2")
    return start, written


def _demo(args):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "demo.mefd")
        print("neo_mef3 demo 1/2: write a session with the native Writer, read it back\n")
        start, written = write_demo_session(path)
        summarize(path)
        with Reader(path) as r:
            for name, x in written.items():
                back = r.read(name, start, start + int(round(len(x) * 1e6 / r.info(name)["sampling_frequency"])))
                same = np.array_equal(np.round(back, 2), x, equal_nan=True)
                print(f"  read-back {name}: {len(back)} values, identical to what was written: {same}")
                if not same:
                    raise MefError(f"demo read-back of {name} differs from what was written", path)
    print("\nneo_mef3 demo 2/2: read the example session shipped with the package (written by meflib)\n")
    summarize(EXAMPLE_SESSION)
    return 0


def _info(args):
    summarize(args.path, password=args.password or "")
    return 0


def _check(args):
    from .check import check_session

    report = check_session(args.path, password=args.password or "")
    print(report.json() if args.json else report.text())
    return report.exit_code


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print escaped
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # pragma: no cover - a replaced stream
            pass
    parser = argparse.ArgumentParser(prog="neo-mef3", description="MEF 3.0 sessions from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="read (and write) an example session")
    p.set_defaults(func=_demo)
    p = sub.add_parser("info", help="summarize a session: channels, rates, durations, samples, records")
    p.add_argument("path")
    p.add_argument("--password", default="", help="level-1 or level-2 password of an encrypted session")
    p.set_defaults(func=_info)
    p = sub.add_parser(
        "check",
        help="report what a session holds and whether its declarations agree with its data "
        "(exit 0 consistent, 1 problems found, 2 unusable input)",
    )
    p.add_argument("path")
    p.add_argument("--password", default="", help="level-1 or level-2 password of an encrypted session")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=_check)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MefError as exc:
        print(f"neo-mef3: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
