"""The channel level: its directory, segment numbering without gaps, segments that follow
each other at one rate, start samples that continue the earlier segments; each segment
in turn (``segment.py``)."""

import os

from ..errors import MefError
from .report import _note_temporaries, _plain, _safe, _when
from .segment import _check_segment


def _check_channel(keyring, tree, name, report, tracker=None):
    d = tree.channel_dirs[name]
    out = {"name": _safe(name), "path": _safe(d), "segments": [], "sampling_frequency": None}
    first_problem = len(report.problems)
    try:
        entries = sorted(os.listdir(d))
    except OSError as exc:
        report.problem(d, f"cannot list the channel directory ({exc.strerror})")
        out["verdict"] = "UNREADABLE"
        return out
    _note_temporaries(report, d, entries)
    try:
        files = tree.segments(name)
    except MefError as exc:  # (two segment folders claiming one number)
        report.problem(d, _plain(exc, d))
        out["verdict"] = "PROBLEMS"
        return out
    if not files:
        report.problem(d, "the channel has no segments")
    numbers = [f.number for f in files]
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers)) if numbers else []
    if numbers and numbers[0] != 0:
        missing = list(range(0, numbers[0])) + missing
    if missing:
        shown = ", ".join(str(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        report.problem(d, f"segment numbering has gaps: no segment {shown}")
    fs_seen = set()
    prev = None
    for sf in files:
        seg = _check_segment(keyring, sf, report, tracker)
        out["segments"].append(seg)
        if tracker is not None:
            tracker.advance(1)
        if seg.get("sampling_frequency"):
            fs_seen.add(seg["sampling_frequency"])
        if prev is not None and seg.get("found") and prev.get("found"):
            pe, ss = prev["found"]["end_time"], seg["found"]["start_time"]
            if pe is not None and ss is not None and ss < pe:
                report.problem(sf.directory, f"segment {sf.number} starts at {_when(ss)}, before the previous "
                               f"segment ends ({_when(pe)})")
        prev = seg
    if len(fs_seen) > 1:
        report.problem(d, f"segments are sampled at different rates: {sorted(fs_seen)} Hz")
    _check_start_samples(out["segments"], report)
    out["sampling_frequency"] = min(fs_seen) if fs_seen else None
    out["verdict"] = "consistent" if len(report.problems) == first_problem else "PROBLEMS"
    return out


def _check_start_samples(segments, report):
    """index.start-sample: each segment's declared start sample is the number of samples
    the channel's earlier segments hold (meflib's channel-wide numbering)."""
    stored = 0
    for seg in segments:
        d, f = seg.get("declared"), seg.get("found")
        if not d or not f:
            return
        if d["start_sample"] != stored:
            report.note(seg["path"], f"metadata declares start sample {d['start_sample']}; the channel's earlier "
                        f"segments hold {stored} samples [index.start-sample]")
        stored += f["indexed_samples"]
