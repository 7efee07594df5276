"""Signals for fixture sessions: iEEG-looking data, and values both reference writers
(mef_tools and mef3io) quantize to the same stored counts."""
from typing import Sequence

import numpy as np


def pink_noise(n: int, rng: np.random.Generator, alpha: float = 1.0) -> np.ndarray:
    """Unit-variance 1/f**alpha noise (spectral shaping of white noise)."""
    n = int(n)
    if n < 2:
        return rng.standard_normal(n)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    spec /= f ** (alpha / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (x.std() or 1.0)


def ieeg_like(n: int, fs: float, rng: np.random.Generator, amp_uv: float = 40.0,
              rhythm_hz: float = 10.0, rhythm_uv: float = 15.0) -> np.ndarray:
    """iEEG-looking float signal in uV: 1/f noise plus a waxing/waning rhythm."""
    t = np.arange(int(n)) / float(fs)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 2 * np.pi))
    rhythm = rhythm_uv * envelope * np.sin(2 * np.pi * rhythm_hz * t + rng.uniform(0, 2 * np.pi))
    return amp_uv * pink_noise(n, rng) + rhythm


def exact_decimal(x: np.ndarray, precision: int):
    """Quantize ``x`` to ``precision`` decimals so BOTH writers store the same counts.

    mef3io stores ``round(x * 10**p)``; mef_tools stores
    ``int32(10**p * np.round(x, p))`` (a truncating cast), which is one count
    low whenever ``10**p * (k / 10**p)`` lands just below ``k`` in float64.
    Counts where the two would differ are nudged by one until they agree.
    Returns ``(data, counts)``: float64 data (NaN kept) and the int64 counts
    (0 at NaN) both writers store for it.
    """
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    scale = 10 ** int(precision)
    counts = np.where(nan, 0, np.rint(np.where(nan, 0, x) * scale)).astype(np.int64)
    for _ in range(8):
        data = counts / scale
        m3 = np.rint(data * scale)
        mt = np.trunc(scale * np.round(data, int(precision)))
        bad = ((m3 != counts) | (mt != counts)) & ~nan
        if not bad.any():
            break
        counts[bad] += np.where(counts[bad] >= 0, 1, -1)
    else:  # pragma: no cover - never seen
        raise ValueError("could not find writer-exact decimal values")
    data = counts / scale
    data[nan] = np.nan
    return data, counts


def float_channel_data(n, fs, rng, precision=2, **kw):
    """iEEG-like float data both writers store as the same counts (see :func:`exact_decimal`)."""
    return exact_decimal(ieeg_like(n, fs, rng, **kw), precision)[0]


def with_gaps(x: np.ndarray, gaps: Sequence[tuple]) -> np.ndarray:
    """Set ``x[a:b] = NaN`` for every ``(a, b)`` in ``gaps`` (sample indices)."""
    x = np.array(x, dtype=np.float64)
    for a, b in gaps:
        x[a:b] = np.nan
    return x


def start_after(start_uutc: int, n: int, fs: float, gap_s: float = 0.0) -> int:
    """Start time of a write following ``n`` samples from ``start_uutc``."""
    return int(start_uutc + round(n * 1e6 / fs) + round(gap_s * 1e6))
