"""The resolution samples really have, so that a conversion to MEF never inflates a file.

MEF stores int32 counts times a conversion factor. Too fine a factor makes every count
(and every RED difference) larger for nothing; too coarse loses data. :func:`infer`
looks at (a probe of) the values, in the units they will be stored in, and picks:

1. ``decimal``: every value is a whole number of ``10**-p`` (the smallest such ``p``):
   the data came from a decimal grid (a MEF session, a text format) and is kept exactly;
2. ``grid``: the values sit on a uniform grid of step ``q`` (an ADC's gain: EDF/BDF's
   physical range / digital range, BrainVision's resolution, integer FIF): the factor is
   ``q``, so a count is a source sample (exact when the grid passes through 0, else within
   ``q / 2``, the source's own resolution). A grid counts as real when it has at most
   2**24 steps over the signal's range (a 24-bit converter). It wins over a decimal step
   when it is exact and coarser (values on 0.02 steps are stored at 0.02, not 0.01);
3. ``signal``: float data on no such grid: ``10**-p`` at most a thousandth of the typical
   sample-to-sample step (quantization error 60 dB below the signal's own changes), and
   never finer than float32 resolves when the source is float32.

Every choice keeps the largest count within RED's sample range (``2**31 - 2``).
"""

import collections
import math

import numpy as np

MAX_COUNT = 2**31 - 2
MAX_PRECISION = 18
_GRID_STEPS = 2**24
_TOLERANCE = 1e-4  # of a step: how far from a whole number of steps a value may be

Resolution = collections.namedtuple("Resolution", "step precision rule")
Resolution.__doc__ = """``step``: units per count; ``precision``: decimal digits when ``step`` is
``10**-precision`` (else None); ``rule``: "decimal", "grid", "signal" or "given"."""


def given(precision):
    """The resolution of a precision chosen by the caller (decimal digits)."""
    p = int(precision)
    if not 0 <= p <= MAX_PRECISION:
        raise ValueError(f"precision must be 0..{MAX_PRECISION} decimal digits, got {precision!r}")
    return Resolution(10.0**-p, p, "given")


def largest_precision(amax):
    """The largest decimal precision at which values up to `amax` fit RED's range."""
    if amax > MAX_COUNT:
        raise ValueError(f"values up to {amax:g} do not fit MEF's int32 counts even at precision 0")
    p = 0
    while p < MAX_PRECISION and amax * 10.0 ** (p + 1) <= MAX_COUNT:
        p += 1
    return p


def _on_decimal_grid(x, p):
    y = x * 10.0**p
    return bool(np.all(np.abs(y - np.rint(y)) <= _TOLERANCE))


def _uniform_step(x, amax):
    """The step q of a uniform grid the values sit on (possibly offset from 0), or None."""
    u = np.unique(x)
    if len(u) > 1:  # values equal but for float rounding are one value
        u = u[np.concatenate(([True], np.diff(u) > amax * 1e-12))]
    if len(u) < 2:
        return abs(float(u[0])) if len(u) and u[0] != 0 else None
    d = np.diff(u)
    q0 = float(d.min())
    for m in range(1, 11):
        q = q0 / m
        if amax / q > _GRID_STEPS:
            return None
        r = d / q
        if np.all(np.abs(r - np.rint(r)) <= 1e-3):
            return _shortest(u, q)
    return None


def _shortest(u, q):
    """The step with the fewest significant digits that puts every value of `u` on the grid
    of `q` (a step measured from float differences: 0.19499999999 is 0.195, a stored
    factor)."""
    span = float(u[-1] - u[0])
    q = span / round(span / q)  # the whole range measures the step best
    offsets = u - u[0]
    for digits in range(1, 16):
        candidate = float(f"{q:.{digits}g}")
        if abs(candidate - q) > q * _TOLERANCE / _GRID_STEPS:  # (off by a step over 2**24 steps)
            continue
        r = offsets / candidate
        if np.all(np.abs(r - np.rint(r)) <= _TOLERANCE):
            return candidate
    return q


def _decimal_snap(step):
    """p when `step` is 10**-p (to float rounding), else None."""
    if step <= 0:
        return None
    p = -math.log10(step)
    k = round(p)
    return int(k) if abs(p - k) < 1e-9 and 0 <= k <= MAX_PRECISION else None


def infer(values, float32=False, headroom=1.0):
    """The :data:`Resolution` for `values` (a probe in storage units; NaNs ignored).

    `float32` says the source kept its samples as float32; `headroom` is how much larger
    than the probe's largest value the whole signal may be (for the "signal" rule: the
    other rules are the source's own grid, which its values cannot leave).
    """
    x = np.asarray(values, np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    amax = float(np.abs(x).max()) if x.size else 0.0
    if amax == 0.0:
        return Resolution(1.0, 0, "decimal")
    p_fit = largest_precision(amax)
    sample = x[:: max(1, x.size // 4096)]  # a quick look first: most precisions fail on it
    decimal = next((p for p in range(p_fit + 1) if _on_decimal_grid(sample, p) and _on_decimal_grid(x, p)), None)
    q = _uniform_step(x, amax)
    if q is not None:
        through_zero = bool(np.all(np.abs(x / q - np.rint(x / q)) <= _TOLERANCE))
        # a coarser exact grid than the decimal one (EDF values on a 0.02 uV step: 0.01 would
        # double every count), or the only grid there is (then within q / 2 when off zero)
        if decimal is None or (through_zero and q > 10.0**-decimal * (1 + 1e-9)):
            p = _decimal_snap(q)
            return Resolution(10.0**-p if p is not None else q, p, "grid")
    if decimal is not None:
        return Resolution(10.0**-decimal, decimal, "decimal")
    steps = np.abs(np.diff(x))
    steps = steps[steps > 0]
    typical = float(np.median(steps)) if steps.size else amax
    p = max(0, math.ceil(-math.log10(typical / 1000.0)))
    if float32:  # finer than float32's resolution at the largest value is noise
        p = min(p, max(0, math.ceil(-math.log10(amax * 2.0**-24))))
    p = min(p, largest_precision(amax * headroom) if amax * headroom <= MAX_COUNT else 0)
    return Resolution(10.0**-p, p, "signal")


def counts(x, resolution):
    """int64 counts of `x` at `resolution` (NaN -> 0), rounding halves up; ValueError
    when a count leaves RED's range."""
    with np.errstate(invalid="ignore"):
        c = np.floor(np.nan_to_num(x, nan=0.0) / resolution.step + 0.5)
    if c.size and (c.max() > MAX_COUNT or c.min() < -MAX_COUNT):
        raise ValueError(
            f"a value of {float(np.nanmax(np.abs(x))):g} does not fit MEF's int32 counts at a step of "
            f"{resolution.step:g}: pass a coarser precision"
        )
    return c.astype(np.int64)


def describe(resolution, units):
    """Human words for a resolution: "0.01 uV (decimal)"."""
    return f"{resolution.step:.6g} {units} per count ({resolution.rule})"
