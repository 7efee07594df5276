"""What one write will do: checked against the channel's last segment, cut into blocks.

:func:`plan_write` raises every conflict (another rate or factor, a start before the
channel's end, an end before the last sample) before any file is touched, and decides
where the blocks go (an append to the last segment, or a new one) and with which flags.
"""

from typing import NamedTuple, Optional

import numpy as np

from ..errors import WriteConflictError
from . import quantize

#: the blocks of an append that writes none (it completes an interrupted one)
NO_BLOCKS = (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
             np.zeros(0, np.uint8))


class FactorChoice(NamedTuple):
    """The conversion factor of a float write, whether it starts a new segment, why, and
    whether values are stored coarser than their own resolution (``lossy``)."""

    factor: float
    new_segment: bool
    reason: Optional[str]
    lossy: bool = False


class WritePlan:
    """``segment`` (number written to), ``append`` (to the last segment), ``blocks``
    (counts, starts, nsamp, times, flags; None when nothing is stored), ``end_time`` and
    ``data_end`` (uUTC), ``rto``, ``n_gaps`` (NaN runs left out)."""

    __slots__ = ("segment", "append", "blocks", "end_time", "data_end", "rto", "n_gaps")

    def __init__(self, segment, append, n_gaps):
        self.segment, self.append, self.n_gaps = segment, append, n_gaps
        self.blocks = self.end_time = self.data_end = self.rto = None

    def result(self):
        """What ``Writer.write`` returns."""
        nsamp = self.blocks[2] if self.blocks is not None else ()
        return {
            "samples_written": int(np.sum(nsamp)),
            "blocks": int(len(nsamp)),
            "gaps_skipped": self.n_gaps,
            "segment": self.segment,
        }


def plan_write(chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc, block_length, session_rto):
    """The :class:`WritePlan` of writing `counts` (`valid` marks stored samples) to the
    channel state `chan`; `block_length` None picks the default (an in-segment append
    keeps the segment's)."""
    if end_uutc is not None:
        end_uutc = quantize.check_time(end_uutc)
    last = chan.last
    append = last is not None and not new_segment
    plan = WritePlan(last.number if append else (0 if last is None else last.number + 1), append,
                     len(quantize.runs(~valid)[0]))
    run_starts, run_stops = quantize.runs(valid)
    _check_continues(chan, fs, ufact, append)
    if len(run_starts) == 0:
        return plan
    first_time = start_uutc + int(quantize.offset_us(run_starts[0], fs))
    _check_not_before_end(chan, first_time, fs)
    plan.data_end = start_uutc + int(quantize.offset_us(run_stops[-1], fs))
    if end_uutc is None:
        plan.end_time = plan.data_end
    else:
        last_sample = start_uutc + int(quantize.offset_us(run_stops[-1] - 1, fs))
        if end_uutc <= last_sample:
            raise ValueError(f"end_uutc {end_uutc} is not after the last stored sample ({last_sample} uUTC)")
        plan.end_time = end_uutc
    length = block_length if block_length is not None else quantize.default_block_length(fs)
    if append and block_length is None and last.n_blocks:
        # keep the segment's block length (a reopened Writer does not know the one used)
        length = max(1, int(last.index["number_of_samples"].max()))
    starts, nsamp, first_of_run = quantize.plan_blocks(run_starts, run_stops, length)
    times = start_uutc + quantize.offset_us(starts, fs)
    flags = quantize.block_flags(first_of_run)
    if append:
        # an append continues the last run only if it starts on the next grid position
        gap = first_time - (last.data_end if last.data_end is not None else last.end_time)
        if run_starts[0] == 0 and gap * fs / 1e6 < 0.5 and last.n_blocks:
            flags[0] = 0
    plan.rto = last.rto if last is not None else session_rto
    plan.blocks = (counts, starts, nsamp, times, flags)
    return plan


def _check_continues(chan, fs, ufact, append):
    """WriteConflictError unless a write at `fs` (and, appending, with `ufact`) may
    continue the channel's last segment."""
    last = chan.last
    if last is None:
        return
    if fs != last.fs:
        raise WriteConflictError(
            f"channel {chan.name!r} is sampled at {last.fs!r} Hz; this write is at {fs!r} Hz "
            "(one channel has one rate)",
            last.files.tmet,
        )
    if append and ufact != last.ufact:
        raise WriteConflictError(
            f"segment {last.number} of {chan.name!r} has conversion factor {last.ufact!r}; this write "
            f"has {ufact!r} (use new_segment=True for a new factor)",
            last.files.tmet,
        )


def _check_not_before_end(chan, first_time, fs):
    """WriteConflictError when a write's first stored sample lies before the channel's end."""
    last = chan.last
    if last is None or last.end_time is None:
        return
    limit = max(last.end_time, last.data_end if last.data_end is not None else last.end_time)
    # 1 us early is rounding, not overlap: a start computed by truncation (mef_tools'
    # int(t + n / fs * 1e6)) is up to 1 us before the rounded end
    slack = 1 if fs < 1e6 else 0
    if first_time < limit - slack:
        raise WriteConflictError(
            f"data starts at {first_time} uUTC, before the end of channel {chan.name!r} "
            f"({limit} uUTC); writes must not overlap or go back in time",
            last.files.tmet,
        )
