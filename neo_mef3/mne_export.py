"""Any ``mne.io.Raw`` to a MEF 3.0 session: ``write_raw_mef3``.

The Raw is read in chunks of whole RED blocks (memory stays bounded however long it is)
and each chunk is appended to the channels' segments. What is kept:

- values in their physical units: volts are stored in uV ("uV" units description),
  other channels in their own SI unit; the resolution per channel is inferred from the
  source (``neo_mef3.resolution``: an EDF/BDF/BrainVision gain, a decimal grid, or for
  float data a thousandth of the typical step) unless ``precision`` is given, and the
  choice is in the returned summary;
- ``meas_date`` as the session's start (a Raw without one needs ``start_uutc=``);
- annotations as records: Note, or EDFA when they have a duration; channel annotations
  at their channels' level. A description "Note: text" / "EDFA: text" / "SyLg: text"
  (as ``read_raw_mef3`` names records) is stored as that type with that text, so
  MEF -> Raw -> MEF keeps the records as they were;
- ``BAD_ACQ_SKIP`` spans as gaps (no samples are stored there);
- filter settings, line frequency, session description, UTC offset and subject
  fields (section 3: level-2 encrypted when passwords are given).

The session is written under a temporary directory next to ``path`` and renamed into
place when complete (``neo_mef3.tools.atomic``), so a failed write leaves what was there.
"""

import datetime
import os
import re
import warnings

import numpy as np

from . import resolution as _resolution
from .errors import MefWarning, OutputExistsError
from .progress import Tracker
from .timeline import GAP_DESCRIPTION
from .tools.atomic import atomic_output
from .writer import Writer

# "Type: detail" descriptions (as read_raw_mef3 names records) go back to their type; the
# detail into the field read_raw_mef3 takes it from, the duration where the type has one
_TYPED = re.compile(r"^(Note|SyLg|EDFA|Seiz|Epoc|Curs|CSti|ESti|LNTP)(?:: (.*))?$", re.DOTALL)
_DETAIL_FIELD = {"Note": "text", "SyLg": "text", "EDFA": "text", "Seiz": "annotation", "Epoc": "text",
                 "Curs": "name"}
_WITH_DURATION = ("EDFA", "Seiz", "Epoc")
_UNIT_NAME = re.compile(r"FIFF_UNIT_(\w+)")
_PROBE_WINDOWS = 10
_PROBE_BYTES = 32 << 20
_SIGNAL_HEADROOM = 4.0  # a lazily read Raw may hold larger values than its probe


def _uutc(when):
    delta = when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _block_length(fs):
    return max(1, int(round(fs)) if fs >= 5000 else int(round(10 * fs)))


def _mef_name(name, taken):
    """A MEF-safe channel name for `name` (path separators, NUL and leading dots replaced)."""
    safe = re.sub(r"[/\\\x00]", "_", name).strip().lstrip(".") or "channel"
    base, k = safe, 1
    while safe in taken:
        k += 1
        safe = f"{base}_{k}"
    taken.add(safe)
    return safe


def _storage(ch, orig_units):
    """(scale from MNE's SI value, units description) of an MNE channel."""
    match = _UNIT_NAME.search(repr(ch["unit"]))
    unit = match.group(1) if match else "NONE"
    if unit == "V":
        return 1e6, "uV"
    if unit == "NONE":
        return 1.0, orig_units.get(ch["ch_name"], "") or ""
    return 1.0, {"T_M": "T/m", "AM": "Am", "CEL": "degC"}.get(unit, unit)


def _origin(raw, start_uutc):
    """uUTC of the Raw's first sample."""
    if start_uutc is not None:
        return int(start_uutc)
    if raw.info["meas_date"] is None:
        raise ValueError("the Raw has no meas_date: MEF needs the recording's start; pass start_uutc= "
                         "(microseconds since 1970-01-01 UTC)")
    return _uutc(raw.info["meas_date"]) + int(round(raw.first_samp * 1e6 / raw.info["sfreq"]))


def _annotations(raw, foreign):
    """The Raw's annotations but those of channels it does not hold: an EDF read one rate at
    a time (``write_raws_mef3``) leaves "description@@channel" for the others' channels."""
    ann = raw.annotations
    for onset, duration, desc, chs in zip(ann.onset, ann.duration, ann.description, ann.ch_names):
        if "@@" in desc and desc.rsplit("@@", 1)[1] in foreign:
            continue
        yield onset, duration, desc, chs


def _gap_spans(raw, names, foreign=()):
    """BAD_ACQ_SKIP annotations as (first, stop, channel names or None) in data samples."""
    fs = raw.info["sfreq"]
    spans = []
    for onset, duration, desc, chs in _annotations(raw, foreign):
        if desc != GAP_DESCRIPTION:
            continue
        a = int(round((onset - raw.first_time) * fs))
        z = int(round((onset + duration - raw.first_time) * fs))
        a, z = max(a, 0), min(z, raw.n_times)
        if z > a:
            spans.append((a, z, set(chs) & set(names) if len(chs) else None))
    return spans


def _probe(raw, picks_count):
    """Windows spread over the Raw (the whole Raw when short) for resolution inference."""
    n = raw.n_times
    window = max(1, int(_PROBE_BYTES / 8 / max(picks_count, 1) / _PROBE_WINDOWS))
    if n <= window * _PROBE_WINDOWS:
        return [(0, n)]
    starts = np.linspace(0, n - window, _PROBE_WINDOWS).astype(np.int64)
    return [(int(a), int(a) + window) for a in starts]


def _resolutions(raw, scales, precision, gap_spans):
    names = raw.ch_names
    if precision is not None and not isinstance(precision, dict):
        fixed = _resolution.given(precision)
        return [fixed] * len(names)
    chosen = dict(precision or {})
    values = [[] for _ in names]
    for a, z in _probe(raw, len(names)):
        block = raw.get_data(start=a, stop=z)
        _mask_gaps(block, a, z, gap_spans, names)
        for i in range(len(names)):
            values[i].append(block[i] * scales[i])
    float32 = getattr(raw, "orig_format", None) == "single"
    headroom = 1.0 if raw.preload else _SIGNAL_HEADROOM
    out = []
    for i, name in enumerate(names):
        if name in chosen:
            out.append(_resolution.given(chosen[name]))
        else:
            x = np.concatenate(values[i])
            out.append(_resolution.infer(x, float32=float32, headroom=headroom))
    return out


def _mask_gaps(block, a, z, spans, names):
    for ga, gz, chs in spans:
        lo, hi = max(ga, a), min(gz, z)
        if hi <= lo:
            continue
        rows = range(len(names)) if chs is None else [names.index(c) for c in chs]
        for r in rows:
            block[r, lo - a:hi - a] = np.nan


def _metadata(raw):
    info = raw.info
    fields = {}
    if info["highpass"]:
        fields["low_frequency_filter_setting"] = float(info["highpass"])
    if info["lowpass"] and info["lowpass"] < info["sfreq"] / 2:
        fields["high_frequency_filter_setting"] = float(info["lowpass"])
    if info["line_freq"]:
        fields["AC_line_frequency"] = float(info["line_freq"])
    if info["description"]:
        fields["session_description"] = str(info["description"])[:2000]
    offset = info.get("utc_offset")
    if offset and re.fullmatch(r"[+-]\d{4}", offset):
        sign = -1 if offset[0] == "-" else 1
        fields["GMT_offset"] = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    subject = info.get("subject_info") or {}
    for key, field in (("his_id", "subject_id"), ("first_name", "subject_name_1"), ("last_name", "subject_name_2")):
        if subject.get(key) and str(subject[key]).strip() not in ("X", "x"):  # (EDF+'s "unknown")
            fields[field] = str(subject[key])[:120]
    return fields


def _record(description, time, duration):
    """The MEF record of an annotation: its own type when the description is "Type: detail"
    and that type holds the detail and the duration, else a Note (EDFA with a duration)."""
    match = _TYPED.match(description)
    if match:
        rtype, detail = match.group(1), match.group(2)
        holds_detail = detail is None or rtype in _DETAIL_FIELD
        if holds_detail and (duration == 0 or rtype in _WITH_DURATION):
            record = {"time": time, "type": rtype}
            if detail is not None:
                record[_DETAIL_FIELD[rtype]] = detail
            if rtype == "Seiz":
                record.update(earliest_onset=time, latest_offset=time + duration)
            elif rtype == "Epoc":
                record.update(timestamp=time, end_timestamp=time + duration)
            if rtype in _WITH_DURATION:
                record["duration"] = duration
            return record
    if duration > 0:
        return {"time": time, "type": "EDFA", "text": description, "duration": duration}
    return {"time": time, "type": "Note", "text": description}


def _records(raw, origin, mef_names, foreign=()):
    """Session-level records and {MEF channel: records} of the Raw's annotations."""
    session, by_channel = [], {}
    for onset, duration, desc, chs in _annotations(raw, foreign):
        if desc == GAP_DESCRIPTION:
            continue
        time = origin + int(round((onset - raw.first_time) * 1e6))
        dur = int(round(duration * 1e6))
        record = _record(desc, time, dur)
        if len(chs):
            for ch in chs:
                by_channel.setdefault(mef_names[ch], []).append(dict(record))
        else:
            session.append(record)
    return session, by_channel


def _fsync_tree(root):
    for directory, _, files in os.walk(root):
        for f in files:
            fd = os.open(os.path.join(directory, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover - file systems that cannot sync a directory
            pass
        finally:
            os.close(fd)


def write_raw_mef3(raw, path, precision=None, password1="", password2="", overwrite=False, start_uutc=None,
                   chunk_bytes=64 << 20, progress=None, cancel=None):
    """Write `raw` (any ``mne.io.Raw``) to the MEF 3.0 session `path` (``.mefd``).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Read in chunks (a lazy Raw is never loaded whole).
    path : path-like
        The session directory to create.
    precision : int | dict | None
        Decimal digits per count for every channel, or a dict channel -> digits; None
        infers each channel's resolution from the data (see ``neo_mef3.resolution``).
    password1, password2 : str
        Both to encrypt (metadata section 2 at level 1; section 3 and records at level 2).
    overwrite : bool
        Replace an existing session (only once the new one is complete).
    start_uutc : int | None
        uUTC of the first sample, for a Raw without ``meas_date`` (or to override it).
    chunk_bytes : int
        Memory for one chunk of float64 samples of all channels.
    progress, cancel
        As everywhere in the package (``neo_mef3.progress``): a bar (True) or a callable
        ``(samples done, total)``; a callable or Event that stops the write (CancelledError,
        nothing left under ``path``).

    Returns
    -------
    summary : dict
        ``path``, ``start_uutc``, ``sfreq``, ``n_samples``, ``channels`` (per channel:
        ``name`` in the session, ``units``, ``step`` (units per count), ``precision``
        (decimal digits or None), ``rule``), ``gaps``, ``records`` and ``text`` (the
        same in words).
    """
    return write_raws_mef3([raw], path, precision=precision, password1=password1, password2=password2,
                           overwrite=overwrite, start_uutc=start_uutc, chunk_bytes=chunk_bytes, progress=progress,
                           cancel=cancel)


def write_raws_mef3(raws, path, precision=None, password1="", password2="", overwrite=False, start_uutc=None,
                    chunk_bytes=64 << 20, progress=None, cancel=None):
    """Write the channels of one recording, one Raw per sampling rate (an MNE Raw has one
    rate), to one MEF 3.0 session. Parameters as :func:`write_raw_mef3`; the first Raw's
    annotations without channels become the session's records (each Raw's channel
    annotations go to its channels). Returns :func:`write_raw_mef3`'s summary, with
    ``sfreq`` and ``n_samples`` of the first Raw and ``channels`` of all."""
    path = os.path.abspath(os.fspath(path).rstrip("/\\"))
    if not path.endswith(".mefd"):
        raise ValueError(f"a MEF 3.0 session directory must end with '.mefd': {path!r}")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError("the output exists; pass --overwrite (overwrite=True) to replace it", path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    parts, taken = [], set()
    everyone = {name for raw in raws for name in raw.ch_names}
    total = sum(raw.n_times * len(raw.ch_names) for raw in raws)
    with atomic_output(path, overwrite=overwrite) as built, \
            Tracker(total, os.path.basename(path), unit="samples", progress=progress, cancel=cancel) as tracker:
        for k, raw in enumerate(raws):
            parts.append(_write_one(raw, built, precision, (password1, password2), start_uutc, chunk_bytes,
                                    session_records=k == 0, taken=taken, first_number=len(taken) + 1,
                                    foreign=everyone - set(raw.ch_names), tracker=tracker))
        _fsync_tree(built)
    summary = parts[0]
    for part in parts[1:]:
        summary["channels"].update(part["channels"])
        summary["gaps"] += part["gaps"]
        summary["records"] += part["records"]
        summary["lines"] += part["lines"]
    summary["path"] = path
    summary["text"] = "\n".join([f"{path}: {summary['lines'][0]}"] + summary.pop("lines")[1:])
    return summary


def _write_one(raw, built, precision, passwords, start_uutc, chunk_bytes, session_records, taken, first_number,
               foreign, tracker):
    """Write one Raw's channels into the session being built; its summary."""
    fs = float(raw.info["sfreq"])
    origin = _origin(raw, start_uutc)
    names = list(raw.ch_names)
    mef_names = {n: _mef_name(n, taken) for n in names}
    orig_units = getattr(raw, "_orig_units", None) or {}
    storage = [_storage(ch, orig_units) for ch in raw.info["chs"]]
    scales = [s for s, _ in storage]
    spans = _gap_spans(raw, names, foreign)
    resolutions = _resolutions(raw, scales, precision, spans)
    block = _block_length(fs)
    chunk = max(1, int(chunk_bytes // (8 * max(len(names), 1)) // block)) * block
    writers = {}
    fields = _metadata(raw)

    def writer_for(units):
        if units not in writers:
            w = Writer(built, password1=passwords[0], password2=passwords[1], units=units, block_length=block,
                       durable=False)
            w.set_metadata(fields)
            writers[units] = w
        return writers[units]

    stored = set()
    for a in range(0, raw.n_times, chunk):
        z = min(a + chunk, raw.n_times)
        data = raw.get_data(start=a, stop=z)
        _mask_gaps(data, a, z, spans, names)
        t_a = origin + int(round(a * 1e6 / fs))
        t_z = origin + int(round(z * 1e6 / fs))
        for i, name in enumerate(names):
            x = data[i] * scales[i]
            valid = ~np.isnan(x)
            if not valid.any():
                continue
            w = writer_for(storage[i][1])
            if name not in stored:  # (the Raw's channel order, which MEF keeps as acquisition numbers)
                w.set_metadata({"acquisition_channel_number": first_number + i}, channel=mef_names[name])
            try:
                counts = _resolution.counts(x, resolutions[i])
            except ValueError as exc:
                raise ValueError(f"channel {name!r}: {exc}") from None
            w.write_int32(mef_names[name], counts, resolutions[i].step, t_a, fs, valid=valid, end_uutc=t_z)
            stored.add(name)
        tracker.advance((z - a) * len(names))
    empty = [n for n in names if n not in stored]
    if empty:
        warnings.warn(f"channels without any sample (all in gaps) are not in the session: {', '.join(empty)}",
                      MefWarning, stacklevel=3)
    session, by_channel = _records(raw, origin, {n: mef_names[n] for n in stored}, foreign)
    if session_records and session:
        (next(iter(writers.values())) if writers else writer_for(storage[0][1])).write_annotations(session)
    units_of = {mef_names[n]: storage[i][1] for i, n in enumerate(names)}
    for ch, recs in by_channel.items():
        writer_for(units_of[ch]).write_annotations(recs, channel=ch)
    for w in writers.values():
        w.close()
    n_records = (len(session) if session_records else 0) + sum(map(len, by_channel.values()))
    return _summary(origin, fs, raw.n_times, names, mef_names, storage, resolutions, spans, n_records)


def _summary(origin, fs, n, names, mef_names, storage, resolutions, spans, n_records):
    channels = {
        name: {"name": mef_names[name], "units": units, "step": res.step, "precision": res.precision,
               "rule": res.rule}
        for name, (_, units), res in zip(names, storage, resolutions)
    }
    lines = [f"{len(names)} channel{'' if len(names) == 1 else 's'} at {fs:g} Hz, {n} samples from "
             f"{datetime.datetime.fromtimestamp(origin / 1e6, datetime.timezone.utc).isoformat()}, "
             f"{len(spans)} gap(s), {n_records} record(s)"]
    for name, c in channels.items():
        renamed = f" (stored as {c['name']!r})" if c["name"] != name else ""
        res = _resolution.Resolution(c["step"], c["precision"], c["rule"])
        lines.append(f"  {name}{renamed}: {_resolution.describe(res, c['units'])}")
    return {"start_uutc": origin, "sfreq": fs, "n_samples": n, "channels": channels, "gaps": len(spans),
            "records": n_records, "lines": lines}
