"""The time grid of a read: where a stored sample lands in the readers' output
(``tests/ORACLES.md``, section 1), with the two rounding rules of mef3io and pymef."""
from __future__ import annotations

import math

import numpy as np


def grid_index(t, t0, fs, rule="mef3io"):
    """Where a sample at uUTC ``t`` lands in a read starting at ``t0``.

    mef3io 2.0.1: ``x = (t - t0) * fs / 1e6``, ``ceil(x - 0.5)`` (nearest,
    exact ties toward -inf). pymef 1.4.8: ``x = ((t - t0) / 1e6) * fs``,
    nearest with ties away from zero (so a tie in the first block, which
    starts before t0, goes left while the later blocks go right, leaving a
    one-sample NaN hole; and whether x is an exact tie depends on float
    rounding of that expression). See ORACLES.md.
    """
    dt = np.asarray(t, dtype=np.int64) - np.int64(t0)
    if rule == "mef3io":
        x = dt.astype(np.float64) * fs / 1e6
        return np.ceil(x - 0.5).astype(np.int64)
    if rule == "pymef":
        # meflib's order of operations, ((t - t0) / 1e6) * fs, matters at ties:
        # (4005500 / 1e6) * 1000 = 4005.4999999999995 -> 4005, not 4006.
        x = (dt.astype(np.float64) / 1e6) * fs
        return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
    raise ValueError(rule)


def grid_model_read(block_starts, block_sizes, stored, fs, t0, t1, rule="mef3io"):
    """The documented read model: ``n = floor((t1 - t0) * fs / 1e6 + 0.5)``
    output samples, NaN everywhere, then sample ``k`` of each block (start
    uUTC ``block_starts[b]``, ``block_sizes[b]`` samples, values taken in order
    from ``stored``) is put at ``grid_index(block_start, t0, fs, rule) + k``
    when that is inside ``[0, n)``. Returns float64 (counts, not scaled).
    Reproduces mef3io ``read_raw`` (rule "mef3io") and pymef
    ``read_ts_channels_uutc`` (rule "pymef") on every window tried, except
    pymef's windows entirely outside the channel (None -> truncated length).
    """
    n = max(int(math.floor((t1 - t0) * fs / 1e6 + 0.5)), 0)
    out = np.full(n, np.nan)
    stored = np.asarray(stored, dtype=np.float64)
    k = 0
    for bt, bn in zip(block_starts, block_sizes):
        bn = int(bn)
        i0 = int(grid_index(int(bt), t0, fs, rule))
        lo, hi = max(0, -i0), min(bn, n - i0)
        if hi > lo:
            out[i0 + lo:i0 + hi] = stored[k + lo:k + hi]
        k += bn
    return out
