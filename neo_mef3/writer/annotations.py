"""Records a Writer stores: the caller's annotations checked and normalized, then a
level's ``.rdat``/``.ridx`` replaced (both complete on disk before either is renamed)."""

import math
import os

import numpy as np

from .. import fileio
from ..errors import MefError
from ..format import headers, records
from ..format.layout import LEVEL_2_ENCRYPTION, RDAT, RIDX, UNIVERSAL_HEADER_BYTES
from .quantize import check_time

#: universal header segment_number of channel-level and of session-level files
CHANNEL_LEVEL_CODE = -2
SESSION_LEVEL_CODE = -3


def _missing(v):
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        import pandas as pd  # noqa: F401

        return v is pd.NaT or (not isinstance(v, (str, bytes, list, tuple, dict, np.ndarray)) and bool(pd.isna(v)))
    except (ImportError, TypeError, ValueError):
        return False


#: keys of a record dict that are not body fields: the record header, and what
#: ``Reader.records`` adds (so that records read back can be written again)
HEADER_KEYS = ("type", "time", "version_major", "version_minor", "encryption", "level", "channel", "segment")

#: where a field a type cannot hold belongs instead
_INSTEAD = {
    ("Seiz", "text"): "a Seiz record keeps its text in 'annotation'",
    ("Curs", "text"): "a Curs record keeps its label in 'name'",
    ("Note", "duration"): "a record with a duration is an EDFA (or Epoc) record",
    ("SyLg", "duration"): "a record with a duration is an EDFA (or Epoc) record",
}


def check_fields(i, rec):
    """ValueError naming the first field of `rec` (annotation `i`) its type cannot hold:
    stored, it would be silently dropped."""
    rtype = rec["type"]
    allowed = records.BODY_FIELDS.get(rtype, ("body",))
    for key in rec:
        if key in HEADER_KEYS or key in allowed:
            continue
        hint = _INSTEAD.get((rtype, key))
        raise ValueError(
            f"annotation {i}: a {rtype!r} record has no field {key!r} (it holds {', '.join(allowed)}); "
            + (hint if hint else "it would be dropped")
        )


def normalize(annotations, sort=True):
    """Record dicts from an iterable of dicts or a pandas DataFrame: missing values
    dropped, ``time`` checked, ``type`` 4 ASCII letters (default "Note"), ``duration``
    whole microseconds, no field the type cannot hold (:func:`check_fields`); stably
    sorted by time unless ``sort=False``."""
    if hasattr(annotations, "to_dict") and hasattr(annotations, "columns"):
        annotations = annotations.to_dict("records")
    if isinstance(annotations, dict):
        raise TypeError("annotations must be an iterable of dicts (or a DataFrame), not one dict")
    out = []
    for i, r in enumerate(annotations):
        if not isinstance(r, dict):
            raise TypeError(f"annotation {i} is a {type(r).__name__}, not a dict")
        rec = {k: v for k, v in r.items() if not _missing(v)}
        if "time" not in rec:
            raise ValueError(f"annotation {i} has no 'time'")
        rec["time"] = check_time(rec["time"])
        rtype = rec.get("type", "Note")
        if not isinstance(rtype, str) or len(rtype) != 4 or not rtype.isascii():
            raise ValueError(f"annotation {i}: type must be 4 ASCII characters, got {rtype!r}")
        rec["type"] = rtype
        if "text" in rec and not isinstance(rec["text"], str):
            rec["text"] = str(rec["text"])
        if "duration" in rec:
            d = float(rec["duration"])
            if not math.isfinite(d):
                raise ValueError(f"annotation {i}: duration must be finite")
            rec["duration"] = int(math.floor(d + 0.5))
        if rtype not in records.KNOWN_TYPES and "body" not in rec:
            raise ValueError(f"annotation {i}: record type {rtype!r} needs its raw 'body' bytes")
        check_fields(i, rec)
        out.append(rec)
    if sort:
        out.sort(key=lambda rec: rec["time"])
    return out


def name_seizure_channels(recs, names):
    """Give Seiz records without channel entries one per channel in `names`: valid MEF
    without them, but pymef 1.4.8 crashes opening such a session."""
    for i, rec in enumerate(recs):
        if rec["type"] == "Seiz" and not rec.get("channels"):
            if not names:
                raise ValueError(f"annotation {i}: a session-level Seiz record needs 'channels' "
                                 "(the session has no channels yet)")
            onset = rec.get("earliest_onset", rec["time"])
            offset = rec.get("latest_offset")
            if offset is None and rec.get("duration") is not None:
                offset = onset + rec["duration"]
            rec["channels"] = [{"name": n, "onset": onset, "offset": offset} for n in names]


def _level_uuid(rdat):
    """The level UUID of an existing records file (a level keeps its identity), or None."""
    if not os.path.isfile(rdat):
        return None
    try:
        uh = headers.parse_universal_header(fileio.pread(rdat, UNIVERSAL_HEADER_BYTES), rdat, RDAT)
    except MefError:
        return None
    return bytes(uh["level_uuid"]) if any(bytes(uh["level_uuid"])) else None


def replace_records(session, recs, directory, base, channel=None):
    """Replace the records of a level (``channel`` None: the session's) with `recs`
    (normalized); an empty list removes them. Returns the number written."""
    rdat = os.path.join(directory, f"{base}.{RDAT}")
    ridx = os.path.join(directory, f"{base}.{RIDX}")
    if not recs:
        fileio.remove_files([ridx, rdat], session.durable)
        return 0
    rdat_chunks, ridx_chunks = records.build_records_files(
        recs, rto=session.rto, keys=session.keys,
        encryption_level=LEVEL_2_ENCRYPTION if session.keys is not None else 0,
        segment_number=SESSION_LEVEL_CODE if channel is None else CHANNEL_LEVEL_CODE,
        channel=channel or "", session=session.name, level_uuid=_level_uuid(rdat) or headers.new_uuid(),
        fields=session.fields,
    )
    fileio.replace_files({rdat: rdat_chunks, ridx: ridx_chunks}, session.durable)
    return len(recs)
