"""MEF time conventions: every conversion between stored and absolute times.

Times are uUTC (int64 microseconds since the Unix epoch). meflib stores a time with the
recording time offset (``rto``, metadata section 3) "applied" as the negative number
``-(t - rto)``; a non-negative stored time is taken as already absolute. INT64_MIN means
"no entry", for a time and for ``rto`` (which then counts as 0).
"""

import numpy as np

from .layout import UUTC_NO_ENTRY


def effective_rto(rto):
    """The offset a time is de-negated with: ``rto``, or 0 for "no entry"."""
    return 0 if rto == UUTC_NO_ENTRY else rto


def to_uutc(stored, rto=0):
    """Absolute uUTC from a stored time (None for "no entry")."""
    stored = int(stored)
    if stored == UUTC_NO_ENTRY:
        return None
    if stored >= 0:
        return stored
    return -stored + int(effective_rto(rto))


def span_uutc(start_stored, end_stored, rto=0):
    """``(start, end)`` in uUTC of two stored times (a file's), or None when either is
    "no entry": :func:`to_uutc` of both, in one call for loops over many segments."""
    if start_stored == UUTC_NO_ENTRY or end_stored == UUTC_NO_ENTRY:
        return None
    if rto == UUTC_NO_ENTRY:
        rto = 0
    return (rto - start_stored if start_stored < 0 else start_stored,
            rto - end_stored if end_stored < 0 else end_stored)


def to_uutc_array(stored, rto=0):
    """Vectorised :func:`to_uutc` for int64 arrays ("no entry" stays INT64_MIN).

    ``rto`` may be an int64 array of the same length (one offset per time, already
    :func:`effective_rto`) or a scalar.
    """
    stored = np.asarray(stored, dtype=np.int64)
    if np.ndim(rto) == 0:
        rto = np.int64(effective_rto(int(rto)))
    out = np.where(stored < 0, rto - stored, stored)
    out[stored == UUTC_NO_ENTRY] = UUTC_NO_ENTRY
    return out


def to_stored(uutc, rto=0):
    """Stored (offset-applied, negated) form of an absolute uUTC time, as meflib writes it."""
    if uutc is None:
        return UUTC_NO_ENTRY
    return -(int(uutc) - int(rto))


def to_stored_array(uutc, rto=0):
    """Vectorised :func:`to_stored` for int64 arrays of absolute times."""
    return -(np.asarray(uutc, dtype=np.int64) - np.int64(rto))
