"""Records (annotations) of every level as a table, and annotations imported from one.

:func:`records_rows` flattens the session's, channels' and segments' records into rows
with fixed columns (:data:`COLUMNS`); :func:`write_table` writes them as CSV or TSV.
:func:`read_annotations` reads a CSV/TSV of annotations (columns ``time`` -- uUTC, ISO
8601 or seconds from the session start --, optional ``type``, ``text``, ``duration``
in seconds, ``channel``) and :func:`add_annotations` appends them to the session with
the Writer (each level's existing records are kept byte for byte; the new ones are
appended after them).
"""

import csv
import io
import json
import os

import numpy as np

from .. import fileio
from ..errors import MefError
from ..format import crypto, headers
from ..format.crc import crc32
from ..format.layout import RECORD_INDEX, UNIVERSAL_HEADER, UNIVERSAL_HEADER_BYTES, UUTC_NO_ENTRY
from ..format.records import build_records
from ..format.times import to_stored, to_uutc
from ..reader import Reader
from ..session import SessionTree
from ..writer import Writer
from .access import unlock_session
from .when import format_time, parse_time

__all__ = ["COLUMNS", "records_rows", "write_table", "format_rows", "read_annotations", "add_annotations"]

COLUMNS = ("level", "channel", "segment", "type", "time_uutc", "time_utc", "duration_s", "text", "details")
_TEXT_KEYS = ("text", "annotation", "name", "task_type")
#: record types an annotation table can add (text and an optional duration)
IMPORTED_TYPES = ("Note", "EDFA", "SyLg")
_PLACE = ("level", "channel", "segment", "type", "time", "version_major", "version_minor", "encryption")


def _row(rec, level, channel):
    duration = rec.get("duration")
    text = next((rec[k] for k in _TEXT_KEYS if rec.get(k)), "")
    details = {k: v for k, v in rec.items() if k not in _PLACE and k not in _TEXT_KEYS and k != "duration"}
    return {
        "level": level, "channel": channel or "", "segment": "" if rec.get("segment") is None else rec["segment"],
        "type": rec["type"], "time_uutc": rec["time"], "time_utc": format_time(rec["time"], with_zone=False),
        "duration_s": "" if not isinstance(duration, int) or duration < 0 else duration / 1e6,
        "text": text, "details": json.dumps(details, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
        if details else "",
    }


def records_rows(reader):
    """Every record of the session open in ``reader`` as a row dict, session level first."""
    rows = [_row(r, "session", None) for r in reader.records(None)]
    for ch in reader.channels:
        rows += [_row(r, r.get("level", "channel"), ch) for r in reader.records(ch)]
    return rows


def write_table(rows, stream, delimiter=","):
    w = csv.DictWriter(stream, fieldnames=COLUMNS, delimiter=delimiter, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)


def format_rows(rows, tz=None):
    """An aligned text table for a terminal."""
    if not rows:
        return "no records"
    out = [f"{'level':<8} {'channel':<12} {'type':<5} {'time':<28} {'duration':>9}  text"]
    for r in rows:
        dur = "" if r["duration_s"] == "" else f"{r['duration_s']:g} s"
        out.append(f"{r['level']:<8} {r['channel'] or '-':<12} {r['type']:<5} {format_time(r['time_uutc'], tz):<28} "
                   f"{dur:>9}  {r['text']}")
    return "\n".join(out)


def read_annotations(path, session_start=None, tz=None):
    """Annotation dicts (``time`` in uUTC, ``duration`` in us) from a CSV or TSV file."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read()
    delimiter = "\t" if sample.split("\n", 1)[0].count("\t") > sample.split("\n", 1)[0].count(",") else ","
    rows = list(csv.DictReader(io.StringIO(sample), delimiter=delimiter))
    if rows and "time" not in rows[0] and "time_uutc" not in rows[0]:
        raise MefError("the annotation table needs a 'time' column", path)
    out = []
    for i, row in enumerate(rows, start=2):
        when = (row.get("time") or row.get("time_uutc") or "").strip()
        try:
            rtype = (row.get("type") or "Note").strip() or "Note"
            if rtype not in IMPORTED_TYPES:
                raise ValueError(f"type {rtype!r}: a table can add {', '.join(IMPORTED_TYPES)} records")
            rec = {"time": parse_time(when, session_start, tz), "type": rtype, "text": row.get("text") or ""}
            if (row.get("duration") or row.get("duration_s") or "").strip():
                rec["duration"] = int(round(float(row.get("duration") or row.get("duration_s")) * 1e6))
        except ValueError as exc:
            raise MefError(f"line {i}: {exc}", path) from None
        out.append((rec, (row.get("channel") or "").strip() or None))
    return out


def _append_to_level(rdat, ridx, records, rto, keys):
    """Append records to an existing ``.rdat``/``.ridx`` pair, leaving every existing
    record byte for byte (decoding and re-encoding them could change how a reader that
    keeps a writer's own conventions sees them). Both files are written to temporary
    names and renamed, ``.rdat`` first, as the Writer does."""
    raw = _read(rdat)
    uh = headers.parse_universal_header(raw, rdat, "rdat")
    headers.check_body_crc(raw, uh, rdat)
    raw_idx = _read(ridx) if os.path.isfile(ridx) else None
    level = 2 if crypto.is_encrypted_header(uh["level_1_password_validation_field"]) else 0
    body, index, largest = build_records(records, rto, keys, encryption_level=level)
    index["file_offset"] += len(raw) - UNIVERSAL_HEADER_BYTES
    times = [to_uutc(uh["start_time"], rto), to_uutc(uh["end_time"], rto)] + [r["time"] for r in records]
    times = [t for t in times if t is not None]

    def header(image, count, entry_size, tail):
        head = bytearray(image[:UNIVERSAL_HEADER_BYTES])
        fields = np.frombuffer(head, UNIVERSAL_HEADER, 1, 0)
        negative = int(fields["start_time"][0]) < 0 or int(fields["start_time"][0]) == UUTC_NO_ENTRY
        fields["start_time"] = to_stored(min(times), rto) if negative else min(times)
        fields["end_time"] = to_stored(max(times), rto) if negative else max(times)
        fields["number_of_entries"] = max(int(fields["number_of_entries"][0]), 0) + count
        fields["maximum_entry_size"] = max(int(fields["maximum_entry_size"][0]), entry_size)
        return headers.seal(head, crc32(tail, crc=crc32(memoryview(image)[UNIVERSAL_HEADER_BYTES:])))

    out = [(rdat, [header(raw, len(records), largest, body), raw[UNIVERSAL_HEADER_BYTES:], body])]
    if raw_idx is not None:
        tail = index.tobytes()
        out.append((ridx, [header(raw_idx, len(records), RECORD_INDEX.itemsize, tail),
                           raw_idx[UNIVERSAL_HEADER_BYTES:], tail]))
    fileio.replace_files(dict(out))  # (both complete on disk before either replaces its predecessor)


def _read(path):
    return fileio.read_file(path)


def add_annotations(session, annotations, password=""):
    """Append ``[(record, channel or None), ...]`` to the session's records; returns the
    number added. The existing records stay as they are on disk. An encrypted session
    needs its level-2 password."""
    by_level = {}
    for rec, channel in annotations:
        by_level.setdefault(channel, []).append(rec)
    keys = unlock_session(session, password, need_level=2)
    tree = SessionTree(session)
    with Reader(session, password=password) as r:
        for level in by_level:
            if level is not None and level not in r.channels:
                raise MefError(f"no channel {level!r} for an annotation", r.path)
        first = None
        if r.channels:
            first = r.info(r.channels[0])["recording_time_offset"] or 0
        level_of = {level: (first if level is None else r.info(level)["recording_time_offset"] or 0)
                    for level in by_level}
    fresh = {}
    for level, recs in by_level.items():
        rdat, ridx = (tree.rdat, tree.ridx) if level is None else tree.channel_records(level)
        if os.path.isfile(rdat):
            _append_to_level(rdat, ridx, recs, level_of[level], keys)
        else:
            fresh[level] = recs
    if fresh:
        with Writer(session, overwrite=False, password2=password) as w:
            for level, recs in fresh.items():
                w.write_annotations(recs, channel=level)
    return sum(len(v) for v in by_level.values())
