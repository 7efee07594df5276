"""What the Reader reports about a channel without decoding: metadata and block tables.

Each function takes a reader Channel and returns plain dicts or numpy arrays (copies),
the values the Reader's public methods (``info``, ``segments``, ``segment_table``,
``toc``, ``block_table``) hand out.
"""

import numpy as np

from ..format import fields as metadata_fields
from ..format.layout import RED_DISCONTINUITY, text
from ..format.times import to_uutc


def info(ch):
    """``Reader.info``: channel metadata (subject fields None without level-2 access)."""
    first = ch.segments[0]
    s2 = first.meta.s2
    s3 = first.meta.s3
    metas = [seg.meta for seg in ch.segments]
    factors = {m.ufact for m in metas}
    starts = [t for t in (to_uutc(m.start_stored, m.rto) for m in metas) if t is not None]
    ends = [t for t in (to_uutc(m.end_stored, m.rto) for m in metas) if t is not None]
    return {
        "name": ch.name,
        "sampling_frequency": ch.fs,
        "units_conversion_factor": factors.pop() if len(factors) == 1 else None,
        "units_description": text(s2["units_description"]),
        "start_time": min(starts) if starts else None,
        "end_time": max(ends) if ends else None,
        "number_of_samples": int(sum(m.number_of_samples for m in metas)),
        "recording_time_offset": int(s3["recording_time_offset"]) if s3 is not None else None,
        "n_segments": len(ch.segments),
        "section3_available": s3 is not None,
        **{f.name: metadata_fields.value(f, s2, s3) for f in metadata_fields.SECTION_3},
        **{f.name: metadata_fields.value(f, s2, s3) for f in metadata_fields.SECTION_2},
        "number_of_blocks": int(sum(m.number_of_blocks for m in metas)),
        "session_name": text(first.meta.uh["session_name"]),
        "anonymized_name": text(first.meta.uh["anonymized_name"]),
    }


def segment_dicts(ch):
    """``Reader.segments``: one dict per segment, from its metadata (sections included)."""
    return [
        {
            "segment": seg.number,
            "start_time": seg.time("start_time"),
            "end_time": seg.time("end_time"),
            "start_sample": seg.meta.start_sample,
            "number_of_samples": seg.meta.number_of_samples,
            "number_of_blocks": seg.meta.number_of_blocks,
            "units_conversion_factor": seg.ufact,
            "units_description": text(seg.meta.s2["units_description"]),
            "channel_description": text(seg.meta.s2["channel_description"]),
            "path": seg.files.directory,
        }
        for seg in ch.segments
    ]


def segment_table(ch):
    """``Reader.segment_table``: per segment, as arrays, the numbers read when the channel
    was opened (no metadata section is read again, unlike :func:`segment_dicts`)."""
    segs = ch.segments
    return {
        "segment": np.array([seg.number for seg in segs], np.int64),
        "start_sample": np.array([seg.meta.start_sample for seg in segs], np.int64),
        "number_of_samples": np.array([seg.meta.number_of_samples for seg in segs], np.int64),
        "number_of_blocks": np.array([seg.meta.number_of_blocks for seg in segs], np.int64),
        "units_conversion_factor": np.array([seg.ufact for seg in segs], np.float64),
    }


def toc(ch):
    """``Reader.toc``: one dict per RED block."""
    b = ch.blocks()
    return [
        {
            "start_uutc": int(b["time"][i]),
            "start_sample": int(b["start_sample"][i]),
            "number_of_samples": int(b["n"][i]),
            "maximum_sample_value": int(b["max"][i]),
            "minimum_sample_value": int(b["min"][i]),
            "discontinuity": bool(b["flags"][i] & RED_DISCONTINUITY),
            "segment": ch.segments[int(b["segment"][i])].number,
        }
        for i in range(len(b["time"]))
    ]


def block_table(ch):
    """``Reader.block_table``: the channel's RED blocks in time order as arrays (copies)."""
    b = ch.blocks()
    numbers = np.array([seg.number for seg in ch.segments], np.int64)
    factors = np.array([seg.ufact for seg in ch.segments], np.float64)
    return {
        "start_uutc": b["time"].copy(),
        "number_of_samples": b["n"].copy(),
        "first_sample": np.concatenate(([0], np.cumsum(b["n"])[:-1])).astype(np.int64),
        "segment": numbers[b["segment"]],
        "discontinuity": (b["flags"] & RED_DISCONTINUITY) != 0,
        "maximum_sample_value": b["max"].copy(),
        "minimum_sample_value": b["min"].copy(),
        "units_conversion_factor": factors[b["segment"]],
        "file_offset": b["offset"].copy(),
        "block_bytes": b["nbytes"].copy(),
    }
