"""Records (annotations) of every level as a table, and annotations imported from one.

:func:`records_rows` flattens the session's, channels' and segments' records into rows
with fixed columns (:data:`COLUMNS`); :func:`write_table` writes them as CSV or TSV.
:func:`read_annotations` reads a CSV/TSV of annotations (columns ``time`` -- uUTC, ISO
8601 or seconds from the session start --, optional ``type``, ``text``, ``duration``
in seconds, ``channel``) and :func:`add_annotations` appends them to the session with
the Writer (each level's existing records are kept).
"""

import csv
import io
import json

from ..errors import MefError
from ..reader import Reader
from ..writer import Writer
from .copy import plain_records
from .when import format_time, parse_time

__all__ = ["COLUMNS", "records_rows", "write_table", "format_rows", "read_annotations", "add_annotations"]

COLUMNS = ("level", "channel", "segment", "type", "time_uutc", "time_utc", "duration_s", "text", "details")
_TEXT_KEYS = ("text", "annotation", "name", "task_type")
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
            rec = {"time": parse_time(when, session_start, tz), "type": (row.get("type") or "Note").strip() or "Note",
                   "text": row.get("text") or ""}
            if (row.get("duration") or row.get("duration_s") or "").strip():
                rec["duration"] = int(round(float(row.get("duration") or row.get("duration_s")) * 1e6))
        except ValueError as exc:
            raise MefError(f"line {i}: {exc}", path) from None
        out.append((rec, (row.get("channel") or "").strip() or None))
    return out


def add_annotations(session, annotations, password=""):
    """Append ``[(record, channel or None), ...]`` to the session's records; returns the
    number added. An encrypted session needs its level-2 password."""
    by_level = {}
    for rec, channel in annotations:
        by_level.setdefault(channel, []).append(rec)
    with Reader(session, password=password) as r:
        for level in by_level:
            if level is not None and level not in r.channels:
                raise MefError(f"no channel {level!r} for an annotation", r.path)
        existing = {level: plain_records([rec for rec in r.records(level) if rec.get("level") != "segment"])
                    for level in by_level}
    with Writer(session, overwrite=False, password2=password) as w:
        for level, recs in by_level.items():
            w.write_annotations(existing[level] + recs, channel=level)
    return sum(len(v) for v in by_level.values())
