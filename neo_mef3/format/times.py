"""MEF time conventions.

Times are uUTC (int64 microseconds since the Unix epoch). meflib stores a time with the
recording time offset (``rto``, metadata section 3) "applied" as the negative number
``-(t - rto)``; a non-negative stored time is taken as already absolute. INT64_MIN means
"no entry".
"""

import numpy as np

from .layout import UUTC_NO_ENTRY


def to_uutc(stored, rto=0):
    """Absolute uUTC from a stored time (None for "no entry")."""
    stored = int(stored)
    if stored == UUTC_NO_ENTRY:
        return None
    if stored >= 0:
        return stored
    if rto == UUTC_NO_ENTRY:
        rto = 0
    return -stored + int(rto)


def to_uutc_array(stored, rto=0):
    """Vectorised :func:`to_uutc` for int64 arrays ("no entry" stays INT64_MIN)."""
    stored = np.asarray(stored, dtype=np.int64)
    if rto == UUTC_NO_ENTRY:
        rto = 0
    out = np.where(stored < 0, -stored + np.int64(rto), stored)
    out[stored == UUTC_NO_ENTRY] = UUTC_NO_ENTRY
    return out


def to_stored(uutc, rto=0):
    """Stored (offset-applied, negated) form of an absolute uUTC time, as meflib writes it."""
    if uutc is None:
        return UUTC_NO_ENTRY
    return -(int(uutc) - int(rto))
