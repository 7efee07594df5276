"""Several sessions as one: ``merge_sessions([a, b, ...], dst)``.

Sources may hold different channels of the same period, consecutive recordings of the
same channels, or both. Every channel keeps its stored samples and times exactly (see
:mod:`neo_mef3.tools.copy`); each source's part of a channel starts a new segment.
Records of every level are merged (identical records once). Refused before anything
is written, with a message naming the sources and times:

* a channel whose parts overlap in time, or are sampled at different rates;
* sources of different subjects (subject names or ID differ where both are set);
* sources with different passwords (re-key them first with ``neo-mef3 passwords``).
"""

import os

from ..errors import WriteConflictError
from ..progress import Tracker
from ..reader import Reader
from .access import writer_passwords
from .atomic import atomic_output, check_output_outside
from .copy import channel_runs, copy_records, copy_runs, metadata_fields, open_writer, plain_records
from .when import format_time

__all__ = ["merge_sessions", "plan_merge"]

_SUBJECT = ("subject_name_1", "subject_name_2", "subject_id")


def _name(path):
    return os.path.basename(os.path.normpath(path))


def plan_merge(readers):
    """``{channel: [(source index, info), ...]}`` in time order; WriteConflictError on an
    overlap, a rate that differs or sources of different subjects."""
    parts = {}
    subject = {}
    for i, r in enumerate(readers):
        for ch in r.channels:
            info = r.info(ch)
            parts.setdefault(ch, []).append((i, info))
            if info.get("section3_available"):
                for key in _SUBJECT:
                    value = info.get(key)
                    if value:
                        seen = subject.setdefault(key, (value, i))
                        if seen[0] != value:
                            raise WriteConflictError(
                                f"{_name(readers[i].path)} and {_name(readers[seen[1]].path)} record different "
                                f"subjects ({key} differs); merge refuses to mix patients")
    for ch, items in parts.items():
        items.sort(key=lambda item: (item[1]["start_time"] is None, item[1]["start_time"] or 0))
        for (ia, a), (ib, b) in zip(items, items[1:]):
            if a["sampling_frequency"] != b["sampling_frequency"]:
                raise WriteConflictError(
                    f"channel {ch!r} is sampled at {a['sampling_frequency']} Hz in {_name(readers[ia].path)} and at "
                    f"{b['sampling_frequency']} Hz in {_name(readers[ib].path)}")
            if b["start_time"] is not None and a["end_time"] is not None and b["start_time"] < a["end_time"]:
                raise WriteConflictError(
                    f"channel {ch!r} overlaps: {_name(readers[ib].path)} starts at {format_time(b['start_time'])}, "
                    f"before {_name(readers[ia].path)} ends at {format_time(a['end_time'])}; merge takes recordings "
                    "that do not overlap (cut one of them first)")
    return parts


def merge_sessions(sources, dst, *, password="", overwrite=False, progress=None, cancel=None):
    """Merge the sessions ``sources`` into the new session ``dst`` (``password``: the
    level-2 password shared by encrypted sources). Returns a dict: destination,
    channels, samples, records."""
    if len(sources) < 2:
        raise ValueError("merge needs at least two sessions")
    check_output_outside(dst, sources)
    passwords = {writer_passwords(s, password) for s in sources}
    if len(passwords) > 1:
        raise WriteConflictError("the sources have different passwords; give them the same ones first "
                                 "(neo-mef3 passwords / decrypt)")
    passwords = passwords.pop()
    readers = [Reader(s, password=password) for s in sources]
    try:
        parts = plan_merge(readers)
        runs = {ch: [channel_runs(readers[i], ch) for i, _ in items] for ch, items in parts.items()}
        total = sum(run.count for per in runs.values() for rs in per for run in rs)
        records = {None: [rec for r in readers for rec in plain_records(r.records(None))]}
        for ch, items in parts.items():
            records[ch] = [rec for i, _ in items for rec in plain_records(readers[i].records(ch))]
        with Tracker(total, "merge", unit="samples", progress=progress, cancel=cancel) as tracker:
            with atomic_output(dst, overwrite=overwrite) as tmp:
                for ch, items in parts.items():
                    first = items[0][1]
                    with open_writer(tmp, passwords, first["units_description"]) as w:
                        w.set_metadata(metadata_fields(first), channel=ch)
                        for k, (i, _info) in enumerate(items):
                            copy_runs(readers[i], w, ch, runs[ch][k], tracker, new_segment_first=k > 0)
                with open_writer(tmp, passwords, None) as w:
                    copy_records(w, records)
    finally:
        for r in readers:
            r.close()
    return {"destination": os.path.abspath(dst), "channels": sorted(parts), "samples": total,
            "records": sum(len(v) for v in records.values())}
