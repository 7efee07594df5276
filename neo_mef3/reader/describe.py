"""What the Reader reports about a channel without decoding: metadata and block tables.

Each function takes a reader Channel and returns plain dicts or numpy arrays (copies),
the values the Reader's public methods (``info``, ``segments``, ``segment_table``,
``toc``, ``block_table``) hand out.
"""

import operator

import numpy as np

from ..format import fields as metadata_fields
from ..format.layout import RED_DISCONTINUITY, text

_SECTIONS_3_2 = tuple(f.name for f in metadata_fields.SECTION_3 + metadata_fields.SECTION_2)


#: what Reader.info reads of a channel's first .tmet image, in one struct call
_INFO_FIELDS = metadata_fields.ImageReader(
    [("units_description", 2, "units_description"), ("recording_time_offset", 3, "recording_time_offset"),
     ("session_name", "uh", "session_name"), ("anonymized_name", "uh", "anonymized_name")]
    + [(f.name, f.section, f.stored) for f in metadata_fields.FIELDS])


#: Reader.info's keys, in order; those read from the image are picked in one call
_INFO_KEYS = ("name", "sampling_frequency", "units_conversion_factor", "units_description", "start_time", "end_time",
              "number_of_samples", "recording_time_offset", "n_segments", "section3_available") + _SECTIONS_3_2 + (
              "number_of_blocks", "session_name", "anonymized_name")
_PICK_IMAGE = operator.itemgetter(*[_INFO_FIELDS.names.index(k) for k in
                                    ("units_description", "recording_time_offset") + _SECTIONS_3_2
                                    + ("session_name", "anonymized_name")])
_N_32 = len(_SECTIONS_3_2)


def info(ch):
    """``Reader.info``: channel metadata (subject fields None without level-2 access),
    from the channel's rows and its first segment's image (no Segment made)."""
    rows = ch.rows
    raw, s3 = rows.first_image()
    got = _PICK_IMAGE(_INFO_FIELDS.values(raw, s3))
    values = rows.values
    if len(values) == 1:  # (one segment: the usual clinical channel)
        v = values[0]
        factor, samples, blocks = v[1], v[3], v[4]
    else:
        factors = {v[1] for v in values}
        factor = factors.pop() if len(factors) == 1 else None
        samples, blocks = sum([v[3] for v in values]), sum([v[4] for v in values])
    start, end = rows.bounds()
    return dict(zip(_INFO_KEYS, (ch.name, ch.fs, factor, got[0], start, end, samples, got[1], len(values), s3)
                    + got[2 : 2 + _N_32] + (blocks,) + got[2 + _N_32 :]))


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
    rows = ch.rows
    return {
        "segment": np.array(rows.numbers, np.int64),
        "start_sample": np.array(rows.column("start_sample"), np.int64),
        "number_of_samples": np.array(rows.column("number_of_samples"), np.int64),
        "number_of_blocks": np.array(rows.column("number_of_blocks"), np.int64),
        "units_conversion_factor": np.array(rows.column("ufact"), np.float64),
    }


def toc(ch):
    """``Reader.toc``: one dict per RED block."""
    b = ch.blocks()
    numbers = ch.rows.numbers
    return [
        {
            "start_uutc": int(b["time"][i]),
            "start_sample": int(b["start_sample"][i]),
            "number_of_samples": int(b["n"][i]),
            "maximum_sample_value": int(b["max"][i]),
            "minimum_sample_value": int(b["min"][i]),
            "discontinuity": bool(b["flags"][i] & RED_DISCONTINUITY),
            "segment": numbers[int(b["segment"][i])],
        }
        for i in range(len(b["time"]))
    ]


def block_table(ch):
    """``Reader.block_table``: the channel's RED blocks in time order as arrays (copies)."""
    b = ch.blocks()
    numbers = np.array(ch.rows.numbers, np.int64)
    factors = np.array(ch.rows.column("ufact"), np.float64)
    return {
        "start_uutc": b["time"].copy(),
        "number_of_samples": b["n"].copy(),
        "first_sample": b["first"].copy(),
        "segment": numbers[b["segment"]],
        "discontinuity": (b["flags"] & RED_DISCONTINUITY) != 0,
        "maximum_sample_value": b["max"].copy(),
        "minimum_sample_value": b["min"].copy(),
        "units_conversion_factor": factors[b["segment"]],
        "file_offset": b["offset"].copy(),
        "block_bytes": b["nbytes"].copy(),
    }
