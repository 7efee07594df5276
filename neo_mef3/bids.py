"""A MEF 3.0 session in a BIDS-iEEG dataset: ``write_bids``.

BIDS-iEEG accepts ``.mefd`` sessions as they are. ``write_bids`` places the session
(a copy, or hard links) at its BIDS path and writes the sidecars from the session's
metadata and records, read with the native Reader (no MNE needed):

- ``_ieeg.json``: TaskName, SamplingFrequency (the rate of most channels),
  PowerLineFrequency, SoftwareFilters, iEEGReference, HardwareFilters, channel counts
  per type, RecordingDuration and RecordingType ("discontinuous" when there are gaps);
- ``_channels.tsv``: name, type, units, low_cutoff, high_cutoff, sampling_frequency, notch;
- ``_events.tsv`` (+ ``.json``): records as "Type: text" (as ``read_raw_mef3`` and MNE
  name them) and gaps as ``BAD_ACQ_SKIP``, onsets from the session's first sample;
- ``_scans.tsv`` (acquisition time), ``participants.tsv``, ``dataset_description.json``;
- ``_electrodes.tsv`` / ``_coordsystem.json`` when coordinates are given.

The session-level record files are renamed with the directory (readers find them by the
session's name: a plain copy under the BIDS name would lose them). Section 3 of the
metadata (subject names and ID) is copied as it is: ``notes`` says when it holds any.
"""

import datetime
import json
import os
import re
import shutil
import warnings

from . import __version__
from .errors import OutputExistsError
from .progress import Tracker
from .reader import Reader
from .timeline import GAP_DESCRIPTION, Grid, acquisition_order, choose_rate, gaps, rate_groups, record_events
from .tools.atomic import atomic_output
from .units import bids_units, volts_per_unit

BIDS_VERSION = "1.10.0"
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_TYPES = {"seeg": "SEEG", "ecog": "ECOG", "dbs": "DBS", "eeg": "EEG", "eog": "EOG", "ecg": "ECG",
          "emg": "EMG", "misc": "MISC", "stim": "TRIG", "trig": "TRIG", "resp": "RESP", "ref": "REF"}
_COUNT_FIELDS = {"ECOG": "ECOGChannelCount", "SEEG": "SEEGChannelCount", "EEG": "EEGChannelCount",
                 "EOG": "EOGChannelCount", "ECG": "ECGChannelCount", "EMG": "EMGChannelCount",
                 "MISC": "MiscChannelCount", "TRIG": "TriggerChannelCount"}
_DEFAULT_TEXTS = ("", "none", "n/a", "unknown", "x")  # (x: EDF+'s "unknown")


def _label(value, what):
    value = str(value)
    if not _LABEL.match(value):
        raise ValueError(f"BIDS {what} labels are letters and digits only, got {value!r}")
    return value


def _number(value):
    return "n/a" if value is None or value <= 0 else f"{value:g}"


def _tsv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(str(row[h]).replace("\t", " ").replace("\n", " ") for h in header) + "\n")


def _json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=4, ensure_ascii=False)
        f.write("\n")


def _types(names, infos, ch_types):
    out = []
    for name in names:
        given = ch_types if isinstance(ch_types, str) else (ch_types or {}).get(name)
        if given is None:
            given = "SEEG" if volts_per_unit(infos[name]["units_description"]) is not None else "MISC"
        out.append(_TYPES.get(given.lower(), given.upper()))
    return out


def _place(src, dst, name, link, tracker):
    """Copy (or hard-link) the session tree `src` to `dst`, renaming its session-level
    record files from the old session name to `name`."""
    old = os.path.basename(src)[: -len(".mefd")]
    for directory, dirs, files in os.walk(src):
        rel = os.path.relpath(directory, src)
        target_dir = os.path.normpath(os.path.join(dst, rel))
        os.makedirs(target_dir, exist_ok=True)
        for f in files:
            target = f
            if rel == "." and f in (f"{old}.rdat", f"{old}.ridx"):
                target = f"{name}.{f.rsplit('.', 1)[1]}"
            s, d = os.path.join(directory, f), os.path.join(target_dir, target)
            if link:
                os.link(s, d)
            else:
                shutil.copy2(s, d)
            tracker.advance(os.path.getsize(d))


def _coordinates(electrodes):
    """[(name, x, y, z, size)] from a dict name -> (x, y, z[, size]), rows of dicts, or a TSV path."""
    if isinstance(electrodes, (str, os.PathLike)):
        with open(electrodes, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            electrodes = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    if isinstance(electrodes, dict):
        electrodes = [{"name": k, "x": v[0], "y": v[1], "z": v[2], "size": v[3] if len(v) > 3 else "n/a"}
                      for k, v in electrodes.items()]
    return [(str(e["name"]), e["x"], e["y"], e["z"], e.get("size", "n/a")) for e in electrodes]


def _subject_fields(info):
    return [k for k in ("subject_name_1", "subject_name_2", "subject_id")
            if (info.get(k) or "").strip().lower() not in _DEFAULT_TEXTS]


def _sidecar(task, fs, power_line_frequency, reference, infos, names, types, duration, discontinuous):
    first = infos[names[0]]
    lows = {i["low_frequency_filter_setting"] for i in infos.values() if i["low_frequency_filter_setting"] > 0}
    highs = {i["high_frequency_filter_setting"] for i in infos.values() if i["high_frequency_filter_setting"] > 0}
    hardware = {}
    if len(lows) == 1:
        hardware["HighpassFilter"] = {"CutoffFrequency": lows.pop()}
    if len(highs) == 1:
        hardware["LowpassFilter"] = {"CutoffFrequency": highs.pop()}
    if power_line_frequency is None:
        power_line_frequency = first["AC_line_frequency"] if first["AC_line_frequency"] > 0 else "n/a"
    if reference is None:
        reference = first["reference_description"] or "n/a"
    sidecar = {
        "TaskName": task,
        "SamplingFrequency": fs,
        "PowerLineFrequency": power_line_frequency,
        "SoftwareFilters": "n/a",
        "iEEGReference": reference,
        "HardwareFilters": hardware or "n/a",
    }
    for kind, field in _COUNT_FIELDS.items():
        sidecar[field] = sum(t == kind for t in types)
    sidecar["RecordingDuration"] = round(duration, 6)
    sidecar["RecordingType"] = "discontinuous" if discontinuous else "continuous"
    return sidecar


def write_bids(path, bids_root, *, subject, task, session=None, run=None, power_line_frequency=None,
               reference=None, password=None, ch_types=None, electrodes=None, coordinate_system=None,
               coordinate_units="mm", link=False, overwrite=False, progress=None, cancel=None):
    """Place the MEF 3.0 session `path` in the BIDS dataset `bids_root` with its sidecars.

    Parameters
    ----------
    path : path-like
        The ``.mefd`` session.
    bids_root : path-like
        The dataset's root (created if needed; existing files of other recordings stay).
    subject, task, session, run : str
        BIDS entities (letters and digits; ``session`` and ``run`` optional). ``session`` is
        BIDS's session label, not the MEF session.
    power_line_frequency : float | None
        Hz; default the metadata's AC line frequency, else "n/a".
    reference : str | None
        ``iEEGReference``; default the metadata's reference description.
    password : str | None
        For an encrypted session (level 2 gives the records as events).
    ch_types : str | dict | None
        BIDS channel type(s) (``SEEG``, ``ECOG``... or MNE's lower-case names); default
        SEEG (MISC for channels whose units are no voltage).
    electrodes : dict | list | path | None
        Coordinates: name -> (x, y, z[, size]), rows with name/x/y/z[/size], or a TSV.
    coordinate_system, coordinate_units : str
        ``iEEGCoordinateSystem`` (e.g. ACPC, Other) and its units, with `electrodes`.
    link : bool
        Hard-link the session's files instead of copying them (same file system; the BIDS
        copy then changes if the original is appended to in place).
    overwrite : bool
        Replace this recording's files if they exist.
    progress, cancel
        As in ``neo_mef3.progress`` (the copy, in bytes).

    Returns
    -------
    dict
        ``session_path`` (the ``.mefd`` in the dataset), ``files`` (every file written)
        and ``notes`` (what a curator should know: missing coordinates, locked records,
        subject identity in the metadata).
    """
    src = os.path.abspath(os.fspath(path)).rstrip("/\\")
    root = os.path.abspath(os.fspath(bids_root))
    entities = [f"sub-{_label(subject, 'subject')}"]
    if session is not None:
        entities.append(f"ses-{_label(session, 'session')}")
    entities.append(f"task-{_label(task, 'task')}")
    if run is not None:
        entities.append(f"run-{_label(run, 'run')}")
    subject_dir = os.path.join(root, entities[0], *(entities[1:2] if session is not None else []))
    ieeg_dir = os.path.join(subject_dir, "ieeg")
    stem = "_".join(entities)
    target = os.path.join(ieeg_dir, f"{stem}_ieeg.mefd")
    if os.path.lexists(target) and not overwrite:
        raise OutputExistsError("the output exists; pass --overwrite (overwrite=True) to replace it", target)
    notes, files = [], []
    with Reader(src, password=password or "") as reader:
        names = acquisition_order(reader, reader.channels)
        infos = {n: reader.info(n) for n in names}
        groups = rate_groups(reader, names)
        fs, main, _ = choose_rate(groups)
        t0 = min(i["start_time"] for i in infos.values())
        t_end = max(i["end_time"] for i in infos.values())
        events, locked = record_events(reader, names)
        gap_rows = []
        for rate, members in groups.items():
            grid = Grid(t0, rate, int(round((t_end - t0) * rate / 1e6)))
            for gap in gaps(reader, members, grid):
                chs = "n/a" if len(gap.channels) == len(members) and len(groups) == 1 else ",".join(gap.channels)
                gap_rows.append({"onset": gap.start / rate, "duration": (gap.stop - gap.start) / rate,
                                 "trial_type": GAP_DESCRIPTION, "channel": chs})
    if locked:
        notes.append(f"records not read ({locked}): _events.tsv holds only the gaps")
    if any(_subject_fields(i) for i in infos.values()):
        notes.append("the session's metadata (section 3) holds subject names or an ID and was copied as is: "
                     "anonymize it before sharing the dataset")
    types = _types(names, infos, ch_types)

    os.makedirs(ieeg_dir, exist_ok=True)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs)
    with atomic_output(target, overwrite=overwrite) as built, \
            Tracker(size, os.path.basename(target), progress=progress, cancel=cancel) as tracker:
        _place(src, built, os.path.basename(target)[: -len(".mefd")], link, tracker)
    files.append(target)

    sidecar = _sidecar(task, fs, power_line_frequency, reference, infos, names, types, (t_end - t0) / 1e6,
                       bool(gap_rows))
    files.append(os.path.join(ieeg_dir, f"{stem}_ieeg.json"))
    _json(files[-1], sidecar)
    rows = [{"name": n, "type": t, "units": bids_units(infos[n]["units_description"]),
             "low_cutoff": _number(infos[n]["low_frequency_filter_setting"]),
             "high_cutoff": _number(infos[n]["high_frequency_filter_setting"]),
             "sampling_frequency": f"{infos[n]['sampling_frequency']:g}",
             "notch": _number(infos[n]["notch_filter_frequency_setting"])} for n, t in zip(names, types)]
    files.append(os.path.join(ieeg_dir, f"{stem}_channels.tsv"))
    _tsv(files[-1], ["name", "type", "units", "low_cutoff", "high_cutoff", "sampling_frequency", "notch"], rows)
    files += _write_events(ieeg_dir, stem, events, gap_rows, t0)
    files += _write_scans(subject_dir, entities, target, t0)
    files += _write_dataset_files(root, entities[0])
    if electrodes is not None:
        files += _write_coordinates(ieeg_dir, entities, electrodes, coordinate_system, coordinate_units)
    else:
        written = _write_unknown_coordinates(ieeg_dir, entities, [n for n, t in zip(names, types) if t != "MISC"])
        files += written
        notes.append("no electrode coordinates given: " + (
            "_electrodes.tsv lists the channels with x, y, z 'n/a' and _coordsystem.json says the positions "
            "are unknown (BIDS-iEEG requires the file); pass electrodes= and coordinate_system= to give them"
            if written else "the session's existing _electrodes.tsv was kept"))
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return {"session_path": target, "files": files, "notes": notes}


def _write_events(ieeg_dir, stem, events, gap_rows, t0):
    rows = [{"onset": (e["time"] - t0) / 1e6, "duration": e["duration"] / 1e6, "trial_type": e["description"],
             "channel": e["channel"] or "n/a"} for e in events] + gap_rows
    rows.sort(key=lambda r: r["onset"])
    for r in rows:
        r["onset"] = f"{r['onset']:.6f}"
        r["duration"] = f"{r['duration']:.6f}"
    tsv = os.path.join(ieeg_dir, f"{stem}_events.tsv")
    _tsv(tsv, ["onset", "duration", "trial_type", "channel"], rows)
    sidecar = os.path.join(ieeg_dir, f"{stem}_events.json")
    _json(sidecar, {
        "trial_type": {"Description": "MEF 3.0 record as 'Type: text' (Note, EDFA, Seiz, ...), or "
                                      f"{GAP_DESCRIPTION} for a gap in the recording"},
        "channel": {"Description": "Channel(s) the record or gap belongs to (n/a: the whole session)"},
    })
    return [tsv, sidecar]


def _write_scans(subject_dir, entities, target, t0):
    scans = os.path.join(subject_dir, "_".join(entities[:2] if entities[1].startswith("ses-") else entities[:1])
                         + "_scans.tsv")
    when = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=t0)
    row = {"filename": os.path.relpath(target, subject_dir).replace(os.sep, "/"),
           "acq_time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    rows = []
    if os.path.exists(scans):
        with open(scans, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
        rows = [{"filename": r.get("filename", ""), "acq_time": r.get("acq_time", "n/a")} for r in rows
                if r.get("filename") != row["filename"]]
    _tsv(scans, ["filename", "acq_time"], rows + [row])
    return [scans]


def _write_dataset_files(root, participant):
    out = []
    description = os.path.join(root, "dataset_description.json")
    if not os.path.exists(description):
        _json(description, {"Name": "iEEG recordings (MEF 3.0)", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
                            "GeneratedBy": [{"Name": "neo_mef3", "Version": __version__}]})
        out.append(description)
    participants = os.path.join(root, "participants.tsv")
    known = []
    if os.path.exists(participants):
        with open(participants, encoding="utf-8") as f:
            lines = f.read().splitlines()
        known = [line.split("\t")[0] for line in lines[1:] if line.strip()]
        if participant not in known:
            with open(participants, "a", encoding="utf-8") as f:
                f.write(participant + "\t" * (len(lines[0].split("\t")) - 1) + "\n")
    else:
        _tsv(participants, ["participant_id"], [{"participant_id": participant}])
    out.append(participants)
    return out


def _write_unknown_coordinates(ieeg_dir, entities, names):
    """An electrodes.tsv without positions (BIDS-iEEG requires one), unless the subject's
    session already has an electrodes file."""
    stem = "_".join(e for e in entities if e.startswith(("sub-", "ses-")))
    if any(f.startswith(stem) and f.endswith("_electrodes.tsv") for f in os.listdir(ieeg_dir)):
        return []
    tsv = os.path.join(ieeg_dir, f"{stem}_electrodes.tsv")
    _tsv(tsv, ["name", "x", "y", "z", "size"], [dict.fromkeys(["x", "y", "z", "size"], "n/a") | {"name": n}
                                               for n in names])
    js = os.path.join(ieeg_dir, f"{stem}_coordsystem.json")
    _json(js, {"iEEGCoordinateSystem": "Other", "iEEGCoordinateUnits": "n/a",
               "iEEGCoordinateSystemDescription": "electrode positions unknown: no coordinates were given when "
                                                  "this recording was added (neo_mef3.bids.write_bids)"})
    return [tsv, js]


def _write_coordinates(ieeg_dir, entities, electrodes, system, units):
    if not system:
        raise ValueError("electrode coordinates need coordinate_system= (e.g. 'ACPC' or 'Other')")
    space = _label(system, "space")
    stem = "_".join([e for e in entities if e.startswith(("sub-", "ses-"))] + [f"space-{space}"])
    tsv = os.path.join(ieeg_dir, f"{stem}_electrodes.tsv")
    rows = [{"name": n, "x": x, "y": y, "z": z, "size": s} for n, x, y, z, s in _coordinates(electrodes)]
    _tsv(tsv, ["name", "x", "y", "z", "size"], rows)
    sidecar = {"iEEGCoordinateSystem": system, "iEEGCoordinateUnits": units}
    if system == "Other":
        sidecar["iEEGCoordinateSystemDescription"] = "coordinates as given to neo_mef3.bids.write_bids"
    js = os.path.join(ieeg_dir, f"{stem}_coordsystem.json")
    _json(js, sidecar)
    return [tsv, js]
