"""Reads by stored-sample number (:meth:`Reader.read_samples` and
:meth:`Reader.read_samples_many`): a request checked, decoded, and its result judged."""

from typing import NamedTuple, Optional

import numpy as np

from ..errors import FormatError, RangeError
from . import grid


class StoredRead(NamedTuple):
    """One checked request: samples [start, stop) of channel `name` (its loaded channel
    `ch` and block table `blocks`) into `samples`, `valid` beside them; `out` is the
    caller's array when one was given (then `samples` is it)."""

    name: str
    ch: object
    blocks: object
    start: int
    stop: int
    samples: np.ndarray
    valid: np.ndarray
    out: Optional[np.ndarray]


def prepare(name, ch, start, stop, out, path):
    """The StoredRead of a request, its range and `out` checked (nothing decoded yet)."""
    b = ch.blocks()
    total = int(b["first"][-1] + b["n"][-1]) if len(b["n"]) else 0
    stop = total if stop is None else int(stop)
    start = int(start)
    if not 0 <= start <= stop <= total:
        raise RangeError(f"stored samples [{start}, {stop}) are outside 0..{total} of channel {name!r}", path)
    grid.check_fits(stop - start, 5, f"stored samples [{start}, {stop}) of channel {name!r}", path)
    if out is None:
        samples = np.zeros(stop - start, np.int32)
    else:
        samples = out
        if (not isinstance(out, np.ndarray) or out.dtype != np.int32 or out.shape != (stop - start,)
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"out must be a writeable contiguous int32 array of {stop - start} values")
    return StoredRead(name, ch, b, start, stop, samples, np.zeros(stop - start, np.uint8), out)


def decode(decoder, r, n_threads=None):
    """Decode the blocks of request `r` into its arrays."""
    decoder.decode_at(r.ch, r.blocks, r.blocks["first"] - r.start, r.stop - r.start, r.samples, r.valid,
                      n_threads=n_threads)
    if r.out is not None and not r.valid.all():
        r.out[r.valid == 0] = 0  # (as a fresh array holds where nothing was decoded)


def result(r, return_valid, path):
    """What read_samples returns for `r`: samples, or (samples, valid); FormatError if
    samples of skipped damaged blocks would pass for values."""
    if return_valid:
        return r.samples, r.valid
    if not r.valid.all():
        raise FormatError(
            f"stored samples [{r.start}, {r.stop}) of channel {r.name!r} include damaged blocks that "
            "were skipped; read them with return_valid=True",
            path,
        )
    return r.samples
