"""The time grid of a read: where each block's samples land in the output window.

Sample ``k`` of a block starting at ``tb`` lands at index ``ceil((tb - t0) * fs / 1e6 -
0.5) + k`` of a window starting at ``t0`` (nearest grid slot, an exact half rounding
down, as mef3io), or with ``rounding="meflib"`` half away from zero (as pymef).
"""

import os

import numpy as np

from ..errors import RangeError


def grid_positions(times, t0, fs, rounding="nearest"):
    """Grid index of each block's first sample in a window starting at t0.

    "nearest" (default, as mef3io): ``ceil((tb - t0) * fs / 1e6 - 0.5)``, an exact half
    rounds down. "meflib" (as pymef / mef_tools): ``(tb - t0) / 1e6 * fs`` rounded half
    away from zero, for code that must match those readers sample for sample.
    """
    dt = (np.asarray(times) - t0).astype(np.float64)
    if rounding == "meflib":
        x = dt / 1e6 * fs
        return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
    return np.ceil(dt * fs / 1e6 - 0.5).astype(np.int64)


def covered_runs(starts, counts, n):
    """The runs [a, z) of [0, n) that blocks starting at ``starts`` cover (adjacent
    blocks merged), as a list of pairs."""
    a = np.minimum(np.maximum(starts, 0), n)
    z = np.minimum(np.maximum(starts + counts, 0), n)
    if len(a) > 1 and (a[1:] == z[:-1]).all() and (z > a).all():
        return [(int(a[0]), int(z[-1]))]  # (the usual case: blocks end to end)
    keep = z > a
    a, z = a[keep], z[keep]
    if len(a) > 1:
        order = np.argsort(a, kind="stable")
        a, z = a[order], np.maximum.accumulate(z[order])
        new = np.flatnonzero(a[1:] > z[:-1]) + 1  # a gap before these
        a = a[np.concatenate(([0], new))]
        z = z[np.concatenate((new - 1, [len(z) - 1]))]
    return list(zip(a.tolist(), z.tolist()))


def physical_memory():
    """Bytes of RAM (a huge number where it cannot be asked)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def span(ch, t0=None, t1=None):
    """``(t0, t1)`` with None ends replaced by the channel's first start and last end (the
    end of the blocks of an interrupted append included): the default window."""
    if t0 is None or t1 is None:
        b = ch.blocks()
        if t0 is None:
            starts = [t for t, _ in ch.rows.times() if t is not None]
            t0 = min(starts) if starts else (int(b["time"][0]) if len(b["time"]) else 0)
        if t1 is None:
            ends = [t for _, t in ch.rows.times() if t is not None]
            t1 = max(ends) if ends else t0
            if len(b["time"]):  # blocks of an interrupted append may end after the metadata's end
                with np.errstate(over="ignore"):  # a damaged rate may push this past any time
                    block_end = float((b["time"] + b["n"] * 1e6 / ch.fs).max())
                if block_end > t1 + 0.5e6 / ch.fs:
                    t1 = int(np.ceil(min(block_end, 2.0**63)))
    return t0, t1


def window(ch, t0, t1, path=None):
    """``(t0, t1, n)``: a read's window on channel `ch` (a reader Channel) as ints, and
    its sample count ``round((t1 - t0) * fs / 1e6)``. None ends default to the channel's
    :func:`span`. RangeError (naming `path`) for an inverted or impossible window."""
    t0, t1 = span(ch, t0, t1)
    try:
        t0 = int(round(t0)) if isinstance(t0, float) else int(t0)
        t1 = int(round(t1)) if isinstance(t1, float) else int(t1)
    except (TypeError, ValueError):
        raise TypeError("t0 and t1 must be integers (uUTC microseconds) or None") from None
    if t1 < t0:
        raise RangeError(f"inverted time range: t1 ({t1}) is before t0 ({t0})", path)
    if not (-(2**62) <= t0 and t1 <= 2**62):  # a damaged time offset can push times past int64
        raise RangeError(f"the window [{t0}, {t1}) lies outside the times MEF can hold (|t| <= 2**62 us)", path)
    n = int(np.floor((t1 - t0) * ch.fs / 1e6 + 0.5))
    check_fits(n, 13, f"the window [{t0}, {t1}) is {n} samples at {ch.fs} Hz", path)
    return t0, t1, n


def check_fits(n, bytes_each, what, path=None):
    """RangeError ("`what`, more than this machine can hold") when `n` values of
    `bytes_each` bytes would not fit in RAM: a damaged count never becomes an allocation."""
    if n * bytes_each > physical_memory():
        raise RangeError(f"{what}, more than this machine can hold", path)
