"""neo's annotations of a session: the Block's session identity, start and description
(and subject fields when the password opens them), each Segment's start, the channels'
metadata as array annotations, and where each record came from."""

import math
import os
from datetime import datetime, timezone

import numpy as np

from ..errors import RangeError
from ..format import fields as metadata_fields
from .skips import BAD_BLOCKS


def annotate(io):
    """Fill neo's raw annotations of a parsed MEF3RawIO (`io`): the session's identity
    and description on the Block, each Segment's start, the channels' metadata as
    array annotations of the signals, where each record came from on the events."""
    reader, infos, tables = io._reader, io._infos, io._tables
    names = [n for st in io._streams for n in st]
    first = infos[reader.channels[0]] if reader.channels else {}
    bl = io.raw_annotations["blocks"][0]
    start_dt = utc(io._session_start, io.dirname)
    bl["name"] = first.get("session_name") or os.path.basename(io._source_name().rstrip("/\\"))
    bl["rec_datetime"] = start_dt
    bl["mef_session_start_uutc"] = int(io._session_start)
    ends = [infos[n]["end_time"] for n in names if infos[n]["end_time"] is not None]
    if ends:
        bl["mef_session_end_uutc"] = int(max(ends))
    if first:
        bl["session_description"] = first.get("session_description", "")
        bl["anonymized_name"] = first.get("anonymized_name", "")
        if first.get("section3_available"):
            for field in metadata_fields.SECTION_3:
                if first.get(field.name) is not None:
                    bl[field.name] = first[field.name]
    bl["mef_channels"] = list(reader.channels)
    bl["keep_original_times"] = io.keep_original_times
    if io.records_error:
        bl["mef_records_error"] = io.records_error

    keys_str = ("units_description",) + tuple(f.name for f in metadata_fields.CHANNEL if f.kind == "text")
    keys_num = tuple(f.name for f in metadata_fields.CHANNEL if f.kind != "text")
    per_stream = []  # the channels' array annotations of each stream (the same in every segment)
    for st in io._streams:
        arr = {key: np.array([infos[n][key] or "" for n in st]) for key in keys_str}
        arr.update((key, np.array([infos[n][key] for n in st])) for key in keys_num)
        arr["units_conversion_factor"] = np.array([tables[n].gain for n in st], np.float64)
        per_stream.append(arr)
    for g, seg in enumerate(bl["segments"]):
        seg["name"] = f"segment {g}"
        seg_uutc = io._session_start + int(math.floor(io._seg_start[g]))
        seg["rec_datetime"] = utc(seg_uutc, io.dirname)
        seg["mef_start_uutc"] = seg_uutc
        signals = []
        for si in range(len(io._streams)):
            d = dict(seg["signals"][si])
            arr = dict(d["__array_annotations__"])
            arr.update((key, a.copy()) for key, a in per_stream[si].items())
            d["__array_annotations__"] = arr
            signals.append(d)
        seg["signals"] = signals
        events = []
        for c, rt in enumerate(io._event_types + ([BAD_BLOCKS] if io.on_error == "skip" else [])):
            if rt == BAD_BLOCKS:
                events.append(dict(seg["events"][c]))
                continue
            d = dict(seg["events"][c])
            lst = io._seg_records[g].get(rt, [])
            d["__array_annotations__"] = {
                "mef_channel": np.array([r.get("channel") or "" for r in lst], dtype="U"),
                "mef_level": np.array([r.get("level") or "" for r in lst], dtype="U"),
            }
            events.append(d)
        seg["events"] = events


def utc(uutc, where):
    """A uUTC time as an aware datetime; RangeError (naming the session) for a time
    no datetime holds (damaged times that every check let through; `where`: the session)."""
    try:
        return datetime.fromtimestamp(uutc / 1e6, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise RangeError(f"time {uutc} uUTC is outside the years a datetime holds", where) from None
