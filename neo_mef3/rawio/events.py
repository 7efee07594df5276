"""neo's event channels of a session: one per record type (Events, or Epochs for types
with a duration), and with ``on_error="skip"`` the ``bad blocks`` epochs of the damaged
blocks met so far. The functions serve :class:`~neo_mef3.rawio.MEF3RawIO`'s event hooks
(`io`: the parsed MEF3RawIO)."""

import numpy as np

from .records import is_epoch, record_duration, record_label
from .skips import BAD_BLOCKS


def event_channel_rows(event_types, on_error):
    """neo's ``event_channels`` rows: the record types, then ``bad blocks`` in skip mode
    (after the record types: their channel indices stay the same)."""
    rows = [(rt, rt, "epoch" if is_epoch(rt) else "event") for rt in event_types]
    if on_error == "skip":
        rows.append((BAD_BLOCKS, BAD_BLOCKS, "epoch"))
    return rows


def _event_list(io, seg_index, event_channel_index):
    return io._seg_records[seg_index].get(io._event_types[event_channel_index], [])


def _is_bad_blocks(io, event_channel_index):
    return event_channel_index == len(io._event_types)


def event_count(io, seg_index, event_channel_index):
    """How many events/epochs an event channel has in a segment."""
    if _is_bad_blocks(io, event_channel_index):
        return len(io.bad_blocks.in_segment(io._seg_start, seg_index, io._session_start))
    return len(_event_list(io, seg_index, event_channel_index))


def event_timestamps(io, seg_index, event_channel_index, t_start, t_stop):
    """``(times uUTC, durations us or None, labels)`` of an event channel in a segment,
    kept to [t_start, t_stop] (seconds on neo's axis) when given."""
    if _is_bad_blocks(io, event_channel_index):
        spans = io.bad_blocks.in_segment(io._seg_start, seg_index, io._session_start)
        ts = np.array([a for a, _, _ in spans], np.int64)
        keep = np.ones(len(ts), bool)
        if t_start is not None:
            keep &= io._seconds(ts) >= t_start
        if t_stop is not None:
            keep &= io._seconds(ts) <= t_stop
        return (ts[keep], np.array([z - a for a, z, _ in spans], np.int64)[keep],
                np.array([c for _, _, c in spans], dtype="U")[keep])
    lst = _event_list(io, seg_index, event_channel_index)
    ts = np.array([r["_t"] for r in lst], dtype=np.int64)
    labels = np.array([record_label(r) for r in lst], dtype="U")
    if is_epoch(io._event_types[event_channel_index]):
        durations = np.array([record_duration(r) for r in lst], dtype=np.int64)
    else:
        durations = None
    keep = np.ones(len(ts), bool)
    if t_start is not None:
        keep &= io._seconds(ts) >= t_start
    if t_stop is not None:
        keep &= io._seconds(ts) <= t_stop
    if not keep.all():
        ts, labels = ts[keep], labels[keep]
        if durations is not None:
            durations = durations[keep]
    return ts, durations, labels
