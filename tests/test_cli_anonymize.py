"""``neo-mef3 anonymize``: no identity left that pymef or mef3io can read, or that the raw
bytes show; identical samples; every time moved by the shift (headers, index, blocks,
records), as both oracles read it."""

import hashlib
import os
import shutil

import numpy as np
import pytest
from support.compare import same_samples
from support.read_oracles import read_mef3io, read_pymef

pytestmark = pytest.mark.timeout(300)

T0 = 1_600_000_000_000_000
SHIFT = -3650 * 86_400_000_000  # what "--shift -3650d" means
IDENTITY = {"subject_name_1": "Gwendolyn", "subject_name_2": "Abernathy", "subject_id": "MRN-77341",
            "recording_location": "Rochester Neurology Clinic"}
#: what must not remain anywhere (every value and its words)
NEEDLES = ("Gwendolyn", "Abernathy", "MRN-77341", "77341", "Rochester", "Neurology")


def _signal(n, seed, gap=None):
    x = np.round(np.random.default_rng(seed).standard_normal(n) * 40, 2)
    if gap:
        x[gap[0]:gap[1]] = np.nan
    return x


def _build_mef_tools(path):
    """Encrypted, recording time offset one hour before the start, plain records naming the subject."""
    import pandas as pd
    from mef_tools.io import MefWriter

    w = MefWriter(str(path), overwrite=True, password1="pass1", password2="pass2")
    w.section3_dict.update(subject_name_1=b"Gwendolyn", subject_name_2=b"Abernathy", subject_ID=b"MRN-77341",
                           recording_location=b"Rochester Neurology Clinic")
    w.record_offset = T0 - 3_600_000_000
    w.write_data(_signal(6000, 1, (2000, 3500)), "LA1", T0, 1000.0, precision=2)
    w.write_data(_signal(1500, 2), "ECG", T0, 250.0, precision=2)
    w.write_annotations(pd.DataFrame([
        {"time": T0 + 1_000_000, "type": "Note", "text": "Gwendolyn Abernathy awake", "duration": 0},
        {"time": T0 + 4_000_000, "type": "EDFA", "text": "onset, seen by Dr. Zbigniew", "duration": 500_000},
    ]))
    w.session.close()
    return "pass2"


def _build_mef3io(path):
    import mef3io

    md = mef3io.Metadata(subject=mef3io.Subject(name_1="Gwendolyn", name_2="Abernathy", id="MRN-77341",
                                                recording_location="Rochester Neurology Clinic"))
    with mef3io.Writer(str(path), overwrite=True, metadata=md, block_length=700) as w:
        w.write("LA1", _signal(6000, 3, (2500, 2600)), T0, 1000.0, precision=2)
        w.write("LA1", _signal(2000, 4), T0 + 9_000_000, 1000.0, precision=2, new_segment=True)
        w.write_annotations([{"time": T0 + 500_000, "type": "Note", "text": "ROCHESTER intake; Dr. Zbigniew"}])
        w.write_annotations([{"time": T0 + 9_500_000, "type": "Note", "text": "gwendolyn asleep"}], channel="LA1")
    return ""


def _build_neo_mef3(path):
    import neo_mef3

    with neo_mef3.Writer(str(path), overwrite=True, password1="pass1", password2="pass2") as w:
        w.write("LA1", _signal(5000, 5, (1000, 1200)), T0, 1000.0, precision=2)
        w.set_metadata(dict(IDENTITY, session_description="EMU bed 3, Abernathy family present"))
        w.write_annotations([
            {"time": T0 + 1_000_000, "type": "Note", "text": "Gwendolyn reports aura; Dr. Zbigniew"},
            {"time": T0 + 2_000_000, "type": "Seiz", "annotation": "Abernathy seizure", "duration": 1_000_000,
             "channels": [{"name": "LA1", "onset": T0 + 2_000_000, "offset": T0 + 3_000_000}]},
            {"time": T0 + 3_000_000, "type": "Epoc", "timestamp": T0 + 3_000_000, "end_timestamp": T0 + 4_000_000,
             "duration": 1_000_000, "epoch_type": "sleep", "text": "N2"},
        ])
    return "pass2"


@pytest.fixture(scope="module")
def identity_sessions(tmp_path_factory):
    for mod in ("pymef", "mef_tools", "mef3io", "pandas"):
        pytest.importorskip(mod)
    base = tmp_path_factory.mktemp("identity")
    out = {}
    for writer, build in (("mef_tools", _build_mef_tools), ("mef3io", _build_mef3io), ("neo_mef3", _build_neo_mef3)):
        path = base / writer / "Bed3_recording.mefd"
        path.parent.mkdir()
        out[writer] = (str(path), build(path))
    return out


def _strings(obj, out):
    """Every text an oracle returns, however nested (dicts, lists, numpy records)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _strings(v, out)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.names:
            for name in obj.dtype.names:
                _strings(obj[name], out)
        elif obj.dtype.kind in "SUO":
            for v in obj.ravel():
                _strings(v, out)
    elif isinstance(obj, np.void) and obj.dtype.names:
        for name in obj.dtype.names:
            _strings(obj[name], out)
    elif isinstance(obj, (bytes, np.bytes_)):
        out.append(bytes(obj).decode("latin-1"))
    elif isinstance(obj, str):
        out.append(obj)
    elif hasattr(obj, "to_dict"):
        _strings(obj.to_dict(), out)
    return out


def _pymef_strings(path, password):
    from pymef.mef_session import MefSession

    s = MefSession(str(path), password or None)
    try:
        out = _strings(s.session_md, [])
        out += _strings(s.read_records(), [])
        for ch in s.session_md["time_series_channels"]:
            if "records_info" in s.session_md["time_series_channels"][ch]:
                out += _strings(s.read_records(ch), [])
    finally:
        s.close()
    return out


def _mef3io_strings(path, password):
    import warnings

    import mef3io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mef3io.Reader(str(path), password=password or "")
        try:
            out = _strings(r.metadata, [])
            out += _strings(r.records(level="all"), [])
            for ch in r.channels:
                out += _strings([r.info(ch), r.segments(ch), r.records(ch)], [])
        finally:
            r.close()
    return out


def _found(strings):
    text = "\n".join(strings).lower()
    return sorted(n for n in NEEDLES if n.lower() in text)


def _raw_hits(path):
    hits = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read().lower()
            hits += [(f, n) for n in NEEDLES if n.lower().encode() in data]
    return hits


def _digest(path):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


_RECORD_TIMES = ("time", "earliest_onset", "latest_offset", "onset", "offset", "trace_timestamp", "timestamp",
                 "end_timestamp")


def _moved(value, shift):
    """A record (dict) with every time field moved by ``shift``; texts dropped. pymef
    returns the times inside Seiz bodies as stored: negative is MEF's "offset applied"
    form -(t - offset), which moves the other way."""
    if isinstance(value, dict):
        return {k: ((v + shift if v >= 0 else v - shift) if k in _RECORD_TIMES and isinstance(v, (int, np.integer))
                    else _moved(v, shift))
                for k, v in value.items() if not isinstance(v, str)}
    if isinstance(value, list):
        return [_moved(v, shift) for v in value]
    return value


def _check_times_and_samples(src, out, password, shift):
    a, b = read_pymef(src, password or None), read_pymef(out, password or None)
    assert not b["errors"], b["errors"]
    assert sorted(a["channels"]) == sorted(b["channels"])
    for ch, ca in a["channels"].items():
        cb = b["channels"][ch]
        assert same_samples(ca["data"], cb["data"]) and len(ca["data"]) > 0
        assert same_samples(ca["samples"], cb["samples"])
        assert cb["start_time"] == ca["start_time"] + shift and cb["end_time"] == ca["end_time"] + shift
        np.testing.assert_array_equal(cb["toc"]["start_time"], ca["toc"]["start_time"] + shift)
        for sa, sb in zip(ca["segments"], cb["segments"]):
            np.testing.assert_array_equal(sb["block_start_times"], sa["block_start_times"] + shift)
            assert (sb["start_time"], sb["end_time"]) == (sa["start_time"] + shift, sa["end_time"] + shift)
        assert _moved(cb["records"], 0) == _moved(ca["records"], shift)
    assert _moved(b["records"], 0) == _moved(a["records"], shift)
    a3, b3 = read_mef3io(src, password), read_mef3io(out, password)
    assert not b3["errors"], b3["errors"]
    for ch, ca in a3["channels"].items():
        cb = b3["channels"][ch]
        assert same_samples(ca["read"], cb["read"])
        np.testing.assert_array_equal(ca["read_raw"]["samples"], cb["read_raw"]["samples"])
        assert cb["info"]["start_time"] == ca["info"]["start_time"] + shift
        assert [t["start_uutc"] for t in cb["toc"]] == [t["start_uutc"] + shift for t in ca["toc"]]
    assert _moved(b3["records_all"], 0) == _moved(a3["records_all"], shift)


@pytest.mark.parametrize("writer", ["mef_tools", "mef3io", "neo_mef3"])
def test_anonymize_leaves_no_identity_and_shifts_every_time(identity_sessions, run_cli, tmp_path, oracles_installed, writer):
    src, password = identity_sessions[writer]
    # the oracles read the identity in the source (so the checks below can fail)
    assert _found(_pymef_strings(src, password)) and _found(_mef3io_strings(src, password))
    assert _raw_hits(src) if not password else True
    before = _digest(src)
    res = run_cli("anonymize", src, "S01.mefd", "--shift=-3650d", "--redact", "Zbigniew",
                  "--password-env", "MEF_PW", env={"MEF_PW": password})
    assert res.returncode == 0, res.stderr
    assert "samples verified identical" in res.stdout and str(SHIFT) in res.stdout
    out = str(tmp_path / "S01.mefd")
    assert _raw_hits(out) == []
    assert _found(_pymef_strings(out, password)) == []
    assert _found(_mef3io_strings(out, password)) == []
    assert "zbigniew" not in "\n".join(_mef3io_strings(out, password)).lower()
    _check_times_and_samples(src, out, password, SHIFT)
    assert _digest(src) == before  # the source is untouched
    check = run_cli("check", out, "--password-env", "MEF_PW", env={"MEF_PW": password})
    assert "CRC" not in check.stdout.split("result")[-1] and " bad" not in check.stdout.replace(" 0 bad", "")


def test_anonymize_keeps_times_without_shift_and_in_place(identity_sessions, run_cli, tmp_path, oracles_installed):
    src, password = identity_sessions["mef3io"]
    work = tmp_path / os.path.basename(src)
    shutil.copytree(src, work)
    res = run_cli("anonymize", work, "--in-place", "--drop-text")
    assert res.returncode == 0, res.stderr
    assert _raw_hits(work) == [] and _found(_pymef_strings(work, "")) == []
    _check_times_and_samples(src, str(work), "", 0)
    texts = [r.get("text") for r in read_mef3io(str(work), "")["records_all"]]
    assert texts and all(t == "" for t in texts)  # --drop-text clears record free text
    assert os.listdir(tmp_path) == [os.path.basename(src)]  # nothing left beside it


def test_anonymize_refuses_an_identifying_output_name_and_an_existing_output(identity_sessions, run_cli, tmp_path):
    src, password = identity_sessions["mef3io"]
    res = run_cli("anonymize", src, "abernathy_g.mefd")
    assert res.returncode == 2 and "identity" in res.stderr
    assert os.listdir(tmp_path) == []
    (tmp_path / "S02.mefd").mkdir()
    res = run_cli("anonymize", src, "S02.mefd")
    assert res.returncode == 2 and "--overwrite" in res.stderr
    assert os.listdir(tmp_path / "S02.mefd") == []
    res = run_cli("anonymize", src, "S02.mefd", "--overwrite", "--shift", "random", "-q")
    assert res.returncode == 0, res.stderr
    assert "secret random shift" in res.stdout and res.stderr == ""


def test_anonymize_moves_the_times_inside_every_record_type(oracle_sessions, oracles_installed, run_cli, tmp_path):
    """Seiz (onsets, per-channel times), Curs, Epoc bodies and LNTP, written by pymef."""
    src = oracle_sessions("records", "mef_tools")
    res = run_cli("anonymize", src, "R.mefd", "--shift", "+52w")
    assert res.returncode == 0, res.stderr
    _check_times_and_samples(src, str(tmp_path / "R.mefd"), "", 52 * 7 * 86_400_000_000)
