"""Records as pymef's ``read_records`` returns them (keys, order, numpy types), and
record dicts of mef_tools' DataFrames handed back to the native Writer."""

import warnings

import numpy as np

_INT64_MIN = np.iinfo(np.int64).min

# (field, kind) in pymef's dtype order; kind: i8/i4 -> numpy ints, f8 -> numpy float, s -> str
_RECORD_FIELDS = {
    "Note": (("text", "s"),),
    "SyLg": (("text", "s"),),
    "EDFA": (("duration", "i8"), ("text", "s")),
    "LNTP": (("length", "i8"), ("template", "a8")),
    "Seiz": (
        ("earliest_onset", "i8"),
        ("latest_offset", "i8"),
        ("duration", "i8"),
        ("number_of_channels", "i4"),
        ("onset_code", "i4"),
        ("marker_name_1", "s"),
        ("marker_name_2", "s"),
        ("annotation", "s"),
    ),
    "CSti": (("task_type", "s"), ("stimulus_duration", "i8"), ("stimulus_type", "s"), ("patient_response", "s")),
    "ESti": (
        ("amplitude", "f8"),
        ("frequency", "f8"),
        ("pulse_width", "i8"),
        ("ampunit_code", "i4"),
        ("mode_code", "i4"),
        ("waveform", "s"),
        ("anode", "s"),
        ("catode", "s"),
    ),
    "Curs": (("id_number", "i8"), ("trace_timestamp", "i8"), ("latency", "i8"), ("value", "f8"), ("name", "s")),
    "Epoc": (
        ("id_number", "i8"),
        ("timestamp", "i8"),
        ("end_timestamp", "i8"),
        ("duration", "i8"),
        ("epoch_type", "s"),
        ("text", "s"),
    ),
}


def _typed(value, kind):
    if kind == "s":
        return "" if value is None else str(value)
    if kind == "f8":
        return np.float64(np.nan if value is None else value)
    if kind == "a8":
        return np.asarray(value if value is not None else [], dtype=np.int64)
    if value is None:
        value = _INT64_MIN if kind == "i8" else -1
    return np.int64(value) if kind == "i8" else np.int32(value)


def _pymef_record(rec):
    """A native record dict as pymef's ``read_records`` builds it (keys, order, numpy types)."""
    rtype = rec.get("type")
    fields = _RECORD_FIELDS.get(rtype)
    if fields is None:
        warnings.warn("Unrecognized record type: " + str(rtype), RuntimeWarning, stacklevel=4)
        return {"type": rtype}
    out = {"type": rtype, "time": _typed(rec.get("time"), "i8")}
    for name, kind in fields:
        out[name] = _typed(rec.get(name), kind)
    if rtype == "Seiz" and rec.get("channels"):
        out["channels"] = [
            {
                "name": str(c.get("name") or ""),
                "onset": _typed(c.get("onset"), "i8"),
                "offset": _typed(c.get("offset"), "i8"),
            }
            for c in rec["channels"]
        ]
    return out


def _records_present(reader, channel=None):
    """pymef maps a level's records only when both its .ridx and .rdat files exist."""
    tree = reader.source.list_session()
    if channel is None:
        files = (tree.ridx, tree.rdat)
    else:
        files = tree.channel_records(channel)
    return all(reader.source.exists(f) for f in files)


def _read_pymef_records(reader, channel=None):
    """pymef ``MefSession.read_records(channel)`` on top of the native Reader."""
    if channel is not None:
        if channel not in reader.channels:
            raise ValueError("No channel %s in this session" % channel)
        if not _records_present(reader, channel):
            raise KeyError("records_info")
        recs = [r for r in reader.records(channel) if r.get("level") == "channel"]
    else:
        if not _records_present(reader):
            raise KeyError("records_info")
        recs = reader.records()
    return [_pymef_record(r) for r in recs]


def _native_value(v):
    """numpy scalars -> Python scalars (record fields handed to the native Writer)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return [_native_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _native_value(x) for k, x in v.items()}
    return v


def _native_record(rec):
    """A record dict of mef_tools' (a DataFrame row or a pymef record) as the native
    Writer takes it: its type's known fields only, as Python values."""
    if "type" not in rec or rec.get("type") is None:
        raise ValueError("Record does not contain 'type' field")
    fields = _RECORD_FIELDS.get(rec["type"], ())
    out = {"type": rec["type"]}
    if "time" in rec:
        out["time"] = int(rec["time"])
    for name, _kind in fields:
        if name in rec:
            out[name] = _native_value(rec[name])
    if rec["type"] == "Seiz" and "channels" in rec:
        out["channels"] = _native_value(rec["channels"])
    return out
