"""From the caller's values to int32 counts and RED blocks: checks, precision, block plan.

Pure functions of arrays. The precision rule (:func:`resolution`) is described in the
package docstring of :mod:`neo_mef3.writer` and in docs/writing.md; nothing here
touches a file.
"""

import math
from typing import NamedTuple

import numpy as np

from ..errors import WriteConflictError
from ..format.layout import RED_DISCONTINUITY, RED_MAXIMUM_SAMPLE_VALUE

#: largest precision (decimal digits) inferred or accepted
MAX_PRECISION = 18
#: smallest precision inferred (conversion factor 1e9, for values beyond int32)
MIN_PRECISION = -9
#: data without an exact decimal form is stored with a resolution this many decimal
#: digits finer than its typical sample-to-sample change (1/1000 of it); an append
#: keeps the segment's factor while it is at least one digit finer (1/100)
STEP_DIGITS = 3
#: exact decimals are kept up to this many digits finer than the precision the typical
#: step calls for (a resolution up to a million times finer than that step)
EXACT_DIGITS_BEYOND = 3
#: largest RED block the codec encodes
MAX_BLOCK_SAMPLES = 0x33333333
#: times a recording plausibly has, in uUTC: 1980-01-01 .. 2100-01-01 (outside: a warning)
PLAUSIBLE_UUTC = (315_532_800_000_000, 4_102_444_800_000_000)
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
    NaN marks a gap (+-inf is a stored value: see :func:`quantize`)."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiub" or arr.ndim > 1 and arr.squeeze().ndim > 1:
        raise TypeError(f"data must be a 1-D array of real numbers, got dtype {arr.dtype} shape {arr.shape}")
    in_dtype = np.float32 if arr.dtype == np.float32 else np.float64
    x = np.ascontiguousarray(arr.reshape(-1), dtype=np.float64)
    valid = ~np.isnan(x)
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


def _pieces(n, overlap=0):
    for a in range(0, n, _WORK):
        yield a, min(n, a + _WORK + overlap)


def _finite_part(x, a, b):
    c = x[a:b]
    finite = np.isfinite(c)
    return c if finite.all() else c[finite]


#: two float64 ulps, relative (2 * 2**-52): the tolerance of "the same float64 value"
_TWO_ULPS = 2.0**-51


def _same_in(back, c, dtype):
    """True when `back` gives the values `c` again in their own float type (float64:
    within two ulps of c's magnitude)."""
    if dtype == np.float32:
        return np.array_equal(back.astype(np.float32), c.astype(np.float32))
    diff = np.abs(back - c)
    return bool(np.all(diff <= np.abs(c) * _TWO_ULPS))


def _exact_at(x, p, dtype):
    """True when every finite value of x is a whole number of 10**-p (in x's own float type)."""
    scale = 10.0**p
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        if not _same_in(np.rint(c * scale) / scale, c, dtype):
            return False
    return True


def exact_at_factor(x, factor, dtype=np.float64):
    """True when every finite value of x is a whole number of `factor` (decimal factors
    ``10**-p`` are judged as :func:`quantize` converts them, by ``x * 10**p``)."""
    p = decimal_precision(factor)
    if p is not None:
        return _exact_at(np.asarray(x, np.float64), p, _float_type(dtype))
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        if not _same_in(np.rint(c / factor) * factor, c, _float_type(dtype)):
            return False
    return True


def _float_type(dtype):
    return np.float32 if np.dtype(dtype) == np.float32 else np.float64


def decimal_precision(factor):
    """p when `factor` is exactly ``10**-p`` (MIN_PRECISION <= p <= MAX_PRECISION), else None."""
    if factor > 0 and math.isfinite(factor):
        p = int(round(-math.log10(factor)))
        if MIN_PRECISION <= p <= MAX_PRECISION and 10.0**-p == factor:
            return p
    return None


def magnitude(x):
    """max |x| over the finite values of x (0.0 when there are none)."""
    amax = 0.0
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        if c.size:
            amax = max(amax, float(c.max()), -float(c.min()))
    return amax


def fit_precision(amax):
    """The finest precision (at most MAX_PRECISION) at which values up to `amax` fit RED's
    sample range; ValueError when not even ``10**-MIN_PRECISION`` holds them."""
    if amax == 0.0:
        return MAX_PRECISION
    p = int(math.floor(math.log10(RED_MAXIMUM_SAMPLE_VALUE / amax)))
    while p > MIN_PRECISION - 1 and amax * 10.0**p > RED_MAXIMUM_SAMPLE_VALUE:
        p -= 1  # (log10 rounding at the edge)
    while p < MAX_PRECISION and amax * 10.0 ** (p + 1) <= RED_MAXIMUM_SAMPLE_VALUE:
        p += 1
    if p < MIN_PRECISION:
        raise ValueError(
            f"values up to {amax:g} do not fit RED's int32 sample range even with a conversion factor "
            f"of {10.0**-MIN_PRECISION:g}"
        )
    return min(p, MAX_PRECISION)


def typical_step(x):
    """Mean |x[k+1] - x[k]| over consecutive finite samples (0.0 when there are none)."""
    total, count = 0.0, 0
    for a, b in _pieces(len(x), overlap=1):
        d = np.abs(np.diff(x[a:b]))
        t = float(d.sum())
        if not math.isfinite(t):  # (gaps: NaN; +-inf)
            d = d[np.isfinite(d)]
            t = float(d.sum())
        total += t
        count += d.size
    return total / count if count else 0.0


class Resolution(NamedTuple):
    """What a chunk of float values needs (see "Precision" in :mod:`neo_mef3.writer`).

    ``precision``: what a new segment for them gets; ``needed``: the coarsest precision
    that still keeps them (an append to a segment at least this fine loses nothing the
    rule cares about); ``exact``: they are whole numbers of ``10**-precision`` in their
    float type; ``fit``: the finest precision whose counts fit int32; ``lossy``: int32
    cannot hold them at ``needed``; ``amax``: their largest magnitude; ``step``: their
    typical sample-to-sample change.
    """

    precision: int
    needed: int
    exact: bool
    fit: int
    lossy: bool
    amax: float
    step: float


def resolution(values, dtype=np.float64):
    """The :class:`Resolution` of `values` (NaN and +-inf ignored); `dtype` is the
    caller's float type (float32 input is judged at float32 resolution)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    dtype = _float_type(dtype)
    amax = magnitude(x)
    if amax == 0.0:
        return Resolution(0, 0, True, MAX_PRECISION, False, 0.0, 0.0)
    fit = fit_precision(amax)
    step = typical_step(x)
    scale = step if step > 0 else amax * 1e-3
    noise = int(math.ceil(STEP_DIGITS - math.log10(scale) - 1e-12))  # 10**-noise <= scale / 1000
    noise = min(max(noise, MIN_PRECISION), MAX_PRECISION)
    # exact decimals: up to a million times finer than the typical step (finer digits are
    # the float type's rounding, not the signal's); whole numbers always
    top = min(fit, max(noise + EXACT_DIGITS_BEYOND, 0))
    low = min(0, fit)
    if top >= low:
        probe = x if x.size <= 65536 else x[:: max(1, x.size // 65536)]
        p = low
        while p <= top and not _exact_at(probe, p, dtype):
            p += 1
        while p <= top and not _exact_at(x, p, dtype):
            p += 1
        if p <= top:
            return Resolution(p, p, True, fit, False, amax, step)
    precision = min(noise, fit)
    needed = min(noise - 1, precision)
    return Resolution(precision, needed, False, fit, noise - 1 > fit, amax, step)


def infer_precision(values, dtype=np.float64):
    """The precision ``write(precision=-1)`` gives a new segment for `values` (NaNs and
    infinities ignored): see "Precision" in :mod:`neo_mef3.writer`."""
    return resolution(values, dtype).precision


def fits_factor(x, dtype, res, factor):
    """True when values `x` (of :class:`Resolution` `res`) can be stored with conversion
    factor `factor` losing nothing the precision rule keeps: their counts fit int32 and
    the factor is at least as fine as they need."""
    if res.amax / factor > RED_MAXIMUM_SAMPLE_VALUE:
        return False
    if res.exact:
        return exact_at_factor(x, factor, dtype)
    return factor <= 10.0**-res.needed * (1 + 1e-9)


def segment_precision(ufact, number, path):
    """The precision of a segment whose conversion factor is `ufact` (10**-p), for an
    in-segment append of float data; WriteConflictError for any other factor."""
    p = decimal_precision(ufact)
    if p is not None and p >= 0:
        return p
    raise WriteConflictError(
        f"segment {number}'s conversion factor {ufact!r} is not 10**-p; append with write_int32 "
        "or pass new_segment=True",
        path,
    )


class Counts(NamedTuple):
    """int32 ``counts`` (0 where not stored) and how many values were ``clamped`` to
    RED's range (``infinite`` of them +-inf)."""

    counts: np.ndarray
    clamped: int
    infinite: int


def quantize(x, valid, factor, clamp=False, checkpoint=None):
    """int32 counts of x with conversion factor `factor`: ``rint(x * 10**p)`` for a decimal
    factor ``10**-p``, else ``rint(x / factor)``; 0 where not `valid`.

    +-inf becomes the largest storable count of its sign, always; a finite value whose
    count leaves RED's range is clamped the same way with `clamp`, else ValueError (and
    nothing is returned). ``checkpoint()`` is called between pieces (cancel, Ctrl-C).
    """
    out = np.zeros(len(x), np.int32)
    p = decimal_precision(factor)
    clamped = infinite = 0
    for a, b in _pieces(len(x)):
        if checkpoint is not None:
            checkpoint()
        v = valid[a:b]
        c = x[a:b][v]
        y = np.rint(c * 10.0**p) if p is not None else np.rint(c / factor)
        if y.size:
            lo, hi = float(y.min()), float(y.max())
            if hi > RED_MAXIMUM_SAMPLE_VALUE or lo < -RED_MAXIMUM_SAMPLE_VALUE:
                inf = np.isinf(c)
                over = np.abs(y) > RED_MAXIMUM_SAMPLE_VALUE
                if (over & ~inf).any() and not clamp:
                    worst = hi if hi > -lo else lo
                    raise ValueError(
                        f"a value quantizes to {worst:.0f} counts with conversion factor {factor:g}, outside "
                        f"RED's sample range +-{RED_MAXIMUM_SAMPLE_VALUE}; lower the precision (or leave it "
                        "to the Writer: precision=-1)"
                    )
                infinite += int(inf.sum())
                clamped += int(over.sum())
                y = np.clip(y, -RED_MAXIMUM_SAMPLE_VALUE, RED_MAXIMUM_SAMPLE_VALUE)
            out[a:b][v] = y
    return Counts(out, clamped, infinite)


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
