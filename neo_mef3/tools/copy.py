"""Sample-exact copies of channels through the public Reader and Writer (``cut``, ``merge``).

A channel's stored samples come in *runs*: blocks of one segment that follow each other
without a gap. A run starting at ``T`` holds sample ``j`` at ``T + j * 1e6 / fs``. A copy
writes each run (or the part of it inside a window) with ``Writer.write_int32``: the
same int32 counts, conversion factor and times, a new segment wherever the source
starts one. The window rule is the Reader's: a read of ``[t0, t1)`` has
``round((t1 - t0) * fs / 1e6)`` slots and a run lands at the slot nearest its start
(halves down), so the copy of a window holds exactly the samples a read of that window
returns, at the same times. RED blocks are re-encoded (their boundaries may differ);
the values never change.
"""

import collections
import math

import numpy as np

from ..writer import Writer

__all__ = ["Run", "channel_runs", "metadata_fields", "copy_runs", "copy_records", "open_writer"]

Run = collections.namedtuple("Run", "segment start_uutc first_sample count factor")

#: Reader.info names that Writer.set_metadata takes (section 2, then section 3)
SECTION_2_FIELDS = ("channel_description", "session_description", "reference_description",
                    "acquisition_channel_number", "low_frequency_filter_setting", "high_frequency_filter_setting",
                    "notch_filter_frequency_setting", "AC_line_frequency")
SECTION_3_FIELDS = ("subject_name_1", "subject_name_2", "subject_id", "recording_location", "GMT_offset")
_CHUNK = 1 << 21
_RECORD_PLACE = ("level", "channel", "segment", "encryption")


def channel_runs(reader, channel, t0=None, t1=None):
    """The runs of ``channel`` (a list of :data:`Run`), clipped to the slots of a read of
    ``[t0, t1)`` when both are given."""
    table = reader.block_table(channel)
    fs = reader.info(channel)["sampling_frequency"]
    period = 1e6 / fs
    start = table["start_uutc"].astype(np.int64)
    n = table["number_of_samples"].astype(np.int64)
    seg = table["segment"]
    if not len(start):
        return []
    follows = np.zeros(len(start), bool)
    follows[1:] = (seg[1:] == seg[:-1]) & (np.abs(start[1:] - (start[:-1] + n[:-1] * period)) < 0.5 * period)
    heads = np.flatnonzero(~follows)
    stops = np.concatenate((heads[1:], [len(start)]))
    runs = []
    for a, z in zip(heads, stops):
        runs.append(Run(int(seg[a]), int(start[a]), int(table["first_sample"][a]), int(n[a:z].sum()),
                        float(table["units_conversion_factor"][a])))
    if t0 is None or t1 is None:
        return runs
    slots = int(math.floor((t1 - t0) * fs / 1e6 + 0.5))
    clipped = []
    for r in runs:
        i0 = int(math.ceil((r.start_uutc - t0) * fs / 1e6 - 0.5))
        j0, j1 = max(0, -i0), min(r.count, slots - i0)
        if j1 > j0:
            clipped.append(r._replace(start_uutc=int(round(r.start_uutc + j0 * period)), first_sample=r.first_sample + j0,
                                      count=j1 - j0))
    return clipped


def metadata_fields(info):
    """The ``Writer.set_metadata`` fields of a ``Reader.info`` dict (section 3 only when readable)."""
    names = SECTION_2_FIELDS + (SECTION_3_FIELDS if info.get("section3_available") else ())
    return {k: info[k] for k in names if info.get(k) is not None}


def open_writer(path, passwords, units):
    """A Writer appending to ``path`` (created if new) with a channel's units."""
    p1, p2 = passwords
    return Writer(path, overwrite=False, password1=p1, password2=p2, units=units or "", durable=False)


def copy_runs(reader, writer, channel, runs, tracker, new_segment_first=False):
    """Write ``runs`` of ``reader``'s ``channel`` to ``writer``; a new segment wherever
    the source segment changes (and at the first run with ``new_segment_first``)."""
    fs = reader.info(channel)["sampling_frequency"]
    period = 1e6 / fs
    last_segment = None
    for k, run in enumerate(runs):
        new = (k == 0 and new_segment_first) or (last_segment is not None and run.segment != last_segment)
        for a in range(0, run.count, _CHUNK):
            tracker.check()
            b = min(run.count, a + _CHUNK)
            counts = reader.read_samples(channel, run.first_sample + a, run.first_sample + b)
            writer.write_int32(channel, counts, run.factor, int(round(run.start_uutc + a * period)), fs,
                               new_segment=new and a == 0)
            tracker.advance(b - a)
        last_segment = run.segment


def plain_records(records, t0=None, t1=None):
    """Records as ``write_annotations`` takes them, inside ``[t0, t1)`` when given."""
    out = []
    for r in records:
        if t0 is not None and (r["time"] is None or not t0 <= r["time"] < t1):
            continue
        out.append({k: v for k, v in r.items() if k not in _RECORD_PLACE})
    return out


def copy_records(writer, by_level):
    """Write ``{None or channel: [records]}`` (duplicates dropped) with ``writer``."""
    for level, recs in by_level.items():
        unique, seen = [], set()
        for r in recs:
            key = repr(sorted((k, repr(v)) for k, v in r.items()))
            if key not in seen:
                seen.add(key)
                unique.append(r)
        if unique:
            writer.write_annotations(unique, channel=level)
