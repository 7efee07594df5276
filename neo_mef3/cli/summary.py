"""The plain-text summary of a session that ``info`` and ``demo`` print."""

import datetime
import sys

import numpy as np

from ..errors import PasswordError
from ..reader import Reader


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
