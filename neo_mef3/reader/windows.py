"""What a read is asked for: one channel or several on one grid, and the unit slips worth
a warning (a window wholly outside the recording, a time no uUTC clock gives).

``Reader.read(["LA1", "LA2"], t0, t1)`` reads every channel on the grid of the first
one's window: ``N = round((t1 - t0) * fs / 1e6)`` slots from ``t0``, the same for all
because their rates must be equal (a RangeError names them otherwise). Without ``t0`` /
``t1`` the window spans the earliest start to the latest end of the channels.
"""

import warnings
from datetime import datetime, timezone

import numpy as np

from ..errors import MefWarning, RangeError
from . import grid

#: uUTC times outside [1980, 2100) are taken for unit slips (seconds, samples, ms)
PLAUSIBLE_UUTC = (315_532_800_000_000, 4_102_444_800_000_000)


def channel_names(channels, everything):
    """``(names, stacked)``: the channels a read names and whether it returns one row per
    channel (a list, tuple or array of names, or None for `everything`) or one array."""
    if channels is None:
        return list(everything), True
    if isinstance(channels, str):
        return [channels], False
    if isinstance(channels, (list, tuple, np.ndarray)):
        names = [c if isinstance(c, str) else str(c) for c in channels]
        return names, True
    raise TypeError(f"channel must be a name, a list of names or None (all channels), got {type(channels).__name__}")


def common_window(names, chans, t0, t1, path):
    """``(t0, t1, n)`` of a read of several channels (see the module docstring)."""
    rates = {ch.fs for ch in chans}
    if len(rates) > 1:
        listed = ", ".join(f"{name}: {ch.fs:g} Hz" for name, ch in zip(names, chans))
        raise RangeError(f"the channels are sampled at different rates ({listed}); read each rate separately", path)
    if len(chans) > 1 and (t0 is None or t1 is None):
        spans = [grid.span(ch) for ch in chans]
        t0 = min(s[0] for s in spans) if t0 is None else t0
        t1 = max(s[1] for s in spans) if t1 is None else t1
    if not chans:
        return 0, 0, 0
    return grid.window(chans[0], t0, t1, path)


def _when(t):
    try:
        return datetime.fromtimestamp(t / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "not a date"


def warn_slips(given, window, names, chans, path, stacklevel=3):
    """One MefWarning when a given time is implausible for uUTC or the window misses every
    channel's recording (it would read as gaps), naming the recording's span."""
    problems = []
    lo, hi = PLAUSIBLE_UUTC
    odd = [f"{label}={t} ({_when(t)})" for label, t in zip(("t0", "t1"), given) if t is not None and not lo <= t < hi]
    if odd:
        problems.append(f"{' and '.join(odd)} {'is not a plausible uUTC time' if len(odd) == 1 else 'are not plausible uUTC times'}: "
                        "times are microseconds since 1970-01-01 UTC, not seconds or samples")
    t0, t1 = window
    spans = [grid.span(ch) for ch in chans]
    if spans and t1 > t0:
        start, end = min(s[0] for s in spans), max(s[1] for s in spans)
        if t1 <= start or t0 >= end:
            which = names[0] if len(names) == 1 else f"{len(names)} channels"
            problems.append(f"the window [{t0}, {t1}) lies wholly outside the recording of {which} "
                            f"({start} .. {end} uUTC, {_when(start)} .. {_when(end)}): it reads as gaps")
    if problems:
        warnings.warn(f"{path}: " + "; ".join(problems), MefWarning, stacklevel=stacklevel + 1)
