"""The session's records as neo sees them: which are read (every level, and each clip of
each video channel), which become epochs, their labels and durations, and the segment
each one belongs to."""

import bisect
import warnings

from ..errors import MefError, MefWarning, PasswordError

#: record types that become neo Epochs (they carry a duration); all others become Events
EPOCH_RECORD_TYPES = ("EDFA", "Seiz", "Epoc")

#: video clips become epochs on one event channel per video channel: "video <name>"
VIDEO_EPOCHS = "video "


def is_epoch(record_type):
    """Whether records of this type become Epochs (a duration) rather than Events."""
    return record_type in EPOCH_RECORD_TYPES or record_type.startswith(VIDEO_EPOCHS)


def record_label(r):
    """The text a record shows as an Event/Epoch label."""
    rt = r.get("type")
    if rt in ("Note", "SyLg", "EDFA"):
        return r.get("text") or ""
    if rt == "Seiz":
        return r.get("annotation") or " ".join(x for x in (r.get("marker_name_1"), r.get("marker_name_2")) if x)
    if rt == "Epoc":
        return r.get("text") or r.get("epoch_type") or ""
    if rt == "CSti":
        return " / ".join(x for x in (r.get("task_type"), r.get("stimulus_type"), r.get("patient_response")) if x)
    if rt == "ESti":
        parts = [r.get("waveform") or ""]
        if r.get("amplitude") is not None:
            parts.append(f"{r['amplitude']:g}")
        if r.get("frequency") is not None:
            parts.append(f"{r['frequency']:g} Hz")
        return " ".join(p for p in parts if p)
    if rt == "Curs":
        return r.get("name") or ""
    return r.get("text") or ""


def record_duration(r):
    """Duration in microseconds of a record that becomes an Epoch (>= 0)."""
    rt = r.get("type")
    d = None
    if rt == "Epoc":
        if r.get("end_timestamp") is not None and r.get("timestamp") is not None:
            d = r["end_timestamp"] - r["timestamp"]
        else:
            d = r.get("duration")
    elif rt == "Seiz":
        d = r.get("duration")
        if (d is None or d < 0) and r.get("latest_offset") is not None and r.get("earliest_onset") is not None:
            d = r["latest_offset"] - r["earliest_onset"]
    else:
        d = r.get("duration")
    try:
        d = int(d)
    except (TypeError, ValueError):
        return 0
    return max(d, 0)


def load_records(reader):
    """Every record of the session, its channels and its video channels (as
    :func:`video_clips`): ``(records, error)``, error the text of a PasswordError when
    the password does not open the records (then there are none)."""
    recs = []
    error = None
    sources = [None] + list(reader.channels)
    for ch in sources:
        try:
            got = reader.records(ch)
        except PasswordError as exc:
            error = str(exc)
            warnings.warn(f"MEF3RawIO: records are not readable with this password ({exc}); no events/epochs")
            recs = []
            break
        except MefError as exc:
            where = "session" if ch is None else f"channel {ch!r}"
            warnings.warn(f"MEF3RawIO: the {where} records cannot be read ({exc}); they are skipped")
            continue
        recs.extend(got)
    return recs + video_clips(reader), error


def video_clips(reader):
    """Each clip of each video channel as a record of type ``video <channel>`` (an
    epoch: its span; label: clip number and frames). A video channel that cannot be
    read is left out with a warning: the signals never depend on it."""
    out = []
    for name in reader.video_channels:
        try:
            channel = reader.video(name)
        except MefError as exc:
            warnings.warn(f"MEF3RawIO: video channel {name!r} cannot be read ({exc}); its clips are left out",
                          MefWarning)
            continue
        for seg in channel["segments"]:
            c = seg["clips"]
            for k in range(len(c["start_time"])):
                out.append({"type": f"{VIDEO_EPOCHS}{name}", "time": int(c["start_time"][k]),
                            "duration": max(int(c["end_time"][k] - c["start_time"][k]), 0),
                            "text": f"segment {seg['segment']} clip {k}: frames {int(c['start_frame'][k])}-"
                                    f"{int(c['end_frame'][k])}",
                            "channel": name, "level": "video"})
    return out


def assign_records(records, seg_start, seg_stop, session_start):
    """Each record to the last segment starting at or before it; widen the segment
    (`seg_start`, `seg_stop`: us after `session_start`, changed in place). Returns
    ``[{record type: records in time order}]``, one dict per segment; each record gets
    its time (uUTC) as ``"_t"``."""
    starts = seg_start
    ref = session_start
    per_seg = [dict() for _ in starts]
    for r in records:
        t = r["time"] if r["time"] is not None else ref
        r["_t"] = int(t)
        g = max(0, bisect.bisect_right(starts, float(int(t) - ref)) - 1)
        per_seg[g].setdefault(r["type"], []).append(r)
    for g, d in enumerate(per_seg):
        for rt, lst in d.items():
            lst.sort(key=lambda r: r["_t"])
            seg_start[g] = min(seg_start[g], float(lst[0]["_t"] - ref))
            seg_stop[g] = max(seg_stop[g], float(lst[-1]["_t"] - ref))
    return per_seg
