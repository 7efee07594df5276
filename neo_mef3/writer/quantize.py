"""From the caller's values to int32 counts and RED blocks: checks, precision, block plan.

Pure functions of arrays. The precision rule ("lossless first") is described in the
package docstring of :mod:`neo_mef3.writer`; nothing here touches a file.
"""

import math

import numpy as np

from ..errors import WriteConflictError
from ..format.layout import RED_DISCONTINUITY, RED_MAXIMUM_SAMPLE_VALUE

#: largest precision (decimal digits) inferred or accepted
MAX_PRECISION = 18
#: largest RED block the codec encodes
MAX_BLOCK_SAMPLES = 0x33333333
_INT32_MAX = 2**31 - 1
_WORK = 1 << 20  # values per pass in the float path (bounds temporary memory)


def default_block_length(fs):
    """RED block length for rate `fs`: fs samples at >= 5 kHz, else 10 * fs (at least 1)."""
    n = int(fs) if fs >= 5000 else int(fs * 10)
    return max(1, min(n, MAX_BLOCK_SAMPLES))


def check_fs(fs):
    """`fs` as a float rate in (0, 1e9] Hz (TypeError / ValueError otherwise)."""
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise TypeError("fs must be a number (Hz)") from None
    if not math.isfinite(fs) or fs <= 0 or fs > 1e9:
        raise ValueError(f"fs must be a finite rate in (0, 1e9] Hz, got {fs!r}")
    return fs


def check_time(uutc):
    """An int uUTC time in [0, 2**62) from an int or a float (rounded to the nearest us)."""
    if isinstance(uutc, (bool, np.bool_)):
        raise TypeError("start_uutc must be a number of microseconds (uUTC)")
    if isinstance(uutc, (int, np.integer)):
        t = int(uutc)
    else:
        try:
            f = float(uutc)
        except (TypeError, ValueError):
            raise TypeError("start_uutc must be a number of microseconds (uUTC)") from None
        if not math.isfinite(f):
            raise ValueError("start_uutc must be finite")
        t = int(math.floor(f + 0.5))
    if not 0 <= t < 2**62:
        raise ValueError(f"start_uutc {t} is outside the times MEF can store (0 .. 2**62 us)")
    return t


def check_precision(precision):
    """`precision` as an int in -1 (infer) .. MAX_PRECISION."""
    if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
        raise TypeError("precision must be an int (-1 = infer)")
    precision = int(precision)
    if precision < -1 or precision > MAX_PRECISION:
        raise ValueError(f"precision must be -1 (infer) or 0..{MAX_PRECISION}")
    return precision


def float_samples(data):
    """(float64 values, validity mask, the caller's float type) of 1-D real `data`;
    NaN marks a gap, infinities raise ValueError."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiub" or arr.ndim > 1 and arr.squeeze().ndim > 1:
        raise TypeError(f"data must be a 1-D array of real numbers, got dtype {arr.dtype} shape {arr.shape}")
    in_dtype = np.float32 if arr.dtype == np.float32 else np.float64
    x = np.ascontiguousarray(arr.reshape(-1), dtype=np.float64)
    valid = ~np.isnan(x)
    if np.isinf(x).any():
        raise ValueError("data holds +-inf; MEF stores finite values (NaN marks gaps)")
    return x, valid, in_dtype


def integer_samples(data, valid=None):
    """(int32 counts, validity mask) of integer `data` stored verbatim; `valid` (nonzero =
    stored) marks gaps. Floating input raises TypeError; stored values outside int32 or
    equal to INT32_MIN (RED's NaN marker) raise ValueError."""
    arr = np.asarray(data)
    if arr.dtype.kind == "f" or arr.dtype.kind == "c":
        raise TypeError("write_int32 takes integer counts; use write() for floating-point data")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"write_int32 takes integer counts, got dtype {arr.dtype}")
    arr = arr.reshape(-1)
    if valid is None:
        mask = None
    else:
        mask = np.asarray(valid).reshape(-1)
        if mask.shape != arr.shape:
            raise ValueError(f"valid has {mask.size} entries for {arr.size} samples")
        mask = mask != 0
    stored = arr if mask is None else arr[mask]
    if stored.size:
        lo, hi = int(stored.min()), int(stored.max())
        if lo <= -(2**31) or hi > _INT32_MAX:
            raise ValueError(
                f"counts must lie in [-(2**31 - 1), 2**31 - 1] (INT32_MIN is RED's NaN marker); got {lo}..{hi}"
            )
    if mask is None:
        return np.ascontiguousarray(arr, dtype=np.int32), np.ones(arr.shape, bool)
    return np.where(mask, arr, 0).astype(np.int32), mask  # (gap samples may hold anything)


def check_ufact(ufact):
    """A finite, nonzero units conversion factor as a float."""
    try:
        ufact = float(ufact)
    except (TypeError, ValueError):
        raise TypeError("ufact must be a number") from None
    if not math.isfinite(ufact) or ufact == 0.0:
        raise ValueError("ufact must be a finite, nonzero conversion factor")
    return ufact


def _fits(amax, p):
    return amax * 10.0**p <= RED_MAXIMUM_SAMPLE_VALUE


def _pieces(n):
    for a in range(0, n, _WORK):
        yield a, min(n, a + _WORK)


def _finite_part(x, a, b):
    c = x[a:b]
    return c[~np.isnan(c)]


def _exact_at(x, p, dtype):
    """True when every non-NaN value of x is a whole number of 10**-p (in x's own float type)."""
    scale = 10.0**p
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        back = np.rint(c * scale) / scale
        if dtype == np.float32:
            ok = np.array_equal(back.astype(np.float32), c.astype(np.float32))
        else:
            ok = np.all(np.abs(back - c) <= 2.0 * np.spacing(np.abs(c)))
        if not ok:
            return False
    return True


def infer_precision(values, dtype=np.float64):
    """The precision ``write(precision=-1)`` picks for `values` (NaNs ignored).

    See the package docstring: the smallest exact decimal precision that fits RED's
    sample range, else the largest that fits. `dtype` is the caller's float type
    (float32 input is judged at float32 resolution). Infinite values raise ValueError.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    amax = 0.0
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        if c.size:
            if not np.isfinite(c).all():
                raise ValueError("values hold +-inf; MEF stores finite values (NaN marks gaps)")
            amax = max(amax, float(c.max()), -float(c.min()))
    if amax == 0.0:
        return 0
    if not _fits(amax, 0):
        raise ValueError(
            f"values up to {amax:g} do not fit RED's int32 sample range even at precision 0"
        )
    p_fit = 0
    while p_fit < MAX_PRECISION and _fits(amax, p_fit + 1):
        p_fit += 1
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    # candidate from a sample, confirmed on everything
    probe = x if x.size <= 65536 else x[:: max(1, x.size // 65536)]
    p = 0
    while p < p_fit and not _exact_at(probe, p, dtype):
        p += 1
    while p <= p_fit and not _exact_at(x, p, dtype):
        p += 1
    return min(p, p_fit)


def segment_precision(ufact, number, path):
    """The precision of a segment whose conversion factor is `ufact` (10**-p), for an
    in-segment append of float data; WriteConflictError for any other factor."""
    if ufact > 0:
        p = int(round(-math.log10(ufact)))
        if 0 <= p <= MAX_PRECISION and 10.0**-p == ufact:
            return p
    raise WriteConflictError(
        f"segment {number}'s conversion factor {ufact!r} is not 10**-p; append with write_int32 "
        "or pass new_segment=True",
        path,
    )


def quantize(x, valid, p):
    """int32 counts of x at precision p (0 where not valid); ValueError if any overflows."""
    out = np.zeros(len(x), np.int32)
    scale = 10.0**p
    for a, b in _pieces(len(x)):
        v = valid[a:b]
        y = np.rint(x[a:b][v] * scale)
        if y.size:
            lo, hi = float(y.min()), float(y.max())
            if hi > RED_MAXIMUM_SAMPLE_VALUE or lo < -RED_MAXIMUM_SAMPLE_VALUE:
                worst = hi if hi > -lo else lo
                raise ValueError(
                    f"a value quantizes to {worst:.0f} counts at precision {p}, outside RED's sample "
                    f"range +-{RED_MAXIMUM_SAMPLE_VALUE}; lower the precision (values are never clipped)"
                )
            out[a:b][v] = y
    return out


def runs(valid):
    """(starts, stops) of the maximal runs of True in a bool array."""
    if valid.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = np.diff(np.concatenate(([False], valid, [False])).astype(np.int8))
    return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)


def plan_blocks(run_starts, run_stops, block_length):
    """Block (start, count, first-of-run) for contiguous runs cut into block_length pieces."""
    lengths = run_stops - run_starts
    per_run = (lengths + block_length - 1) // block_length
    total = int(per_run.sum())
    run_of = np.repeat(np.arange(len(run_starts)), per_run)
    first = np.zeros(total, bool)
    if total:
        first_idx = np.concatenate(([0], np.cumsum(per_run)[:-1]))
        first[first_idx] = True
        within = np.arange(total) - np.repeat(first_idx, per_run)
    else:
        within = np.zeros(0, np.int64)
    starts = run_starts[run_of] + within * block_length
    counts = np.minimum(block_length, run_stops[run_of] - starts)
    return starts.astype(np.int64), counts.astype(np.int64), first


def block_flags(first_of_run):
    """RED block flags of planned blocks: a discontinuity at the start of every run."""
    return first_of_run.astype(np.uint8) * np.uint8(RED_DISCONTINUITY)


def offset_us(k, fs):
    """Microseconds from a write's start to its sample k, rounded to nearest (k array)."""
    return np.floor(np.asarray(k, np.float64) * 1e6 / fs + 0.5).astype(np.int64)
