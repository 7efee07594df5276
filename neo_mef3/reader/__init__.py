"""The native Reader: exact samples from a MEF 3.0 session, decoded on a thread pool.

Times are uUTC (int microseconds since the Unix epoch). Reads are placed on the uniform
sampling grid of the window ``[t0, t1)``: the sample ``k`` of a block starting at time
``tb`` lands at index ``ceil((tb - t0) * fs / 1e6 - 0.5) + k`` (nearest grid slot, an exact
half rounding down), which is where mef3io puts it and, away from exact halves, meflib
(pymef) too. Positions no block covers are gaps (NaN in :meth:`Reader.read`,
``valid == 0`` in :meth:`Reader.read_raw`). Only the blocks overlapping the window are
read and decoded. Every byte is read through the session's byte source
(:mod:`neo_mef3.source`).

The package: :mod:`.facade` (the Reader's public calls), :mod:`.loading` (opening
channels in batches: session scans and bulk metadata checks), :mod:`.rows` (what opening
keeps of a channel's segments), :mod:`.cache` (the opt-in metadata cache),
:mod:`.channel` and :mod:`.segment` (what is held per channel and segment: block
tables, indices, data files), :mod:`.decode`
(which blocks a read needs, read in pieces and decoded on the threads), :mod:`.grid`
(the time grid of a window), :mod:`.sections` (continuous runs of samples),
:mod:`.describe` (metadata and block tables as dicts and arrays), :mod:`.records`,
:mod:`.skips` (``on_error="skip"``) and :mod:`.spec` (how to open a Reader again).
"""

from .facade import Reader
from .spec import ReaderSpec

__all__ = ["Reader", "ReaderSpec"]
