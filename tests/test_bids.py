"""neo_mef3.bids.write_bids and ``neo-mef3 bids``: a BIDS-iEEG dataset from MEF sessions.

Checked against the BIDS schema by the validator from the package index
(``bids-validator-deno``, in a subprocess under a timeout) and read back with mne-bids.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

mne = pytest.importorskip("mne")
mne_bids = pytest.importorskip("mne_bids")

import neo_mef3  # noqa: E402
from neo_mef3.bids import write_bids  # noqa: E402
from neo_mef3.mne import read_raw_mef3  # noqa: E402

from support import mne_sessions as ms  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")
VALIDATOR = shutil.which("bids-validator-deno") or os.path.join(os.path.dirname(sys.executable),
                                                                 "bids-validator-deno")


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _validate(root):
    p = subprocess.run([VALIDATOR, str(root), "--format", "json"], capture_output=True, text=True, timeout=120,
                       cwd=str(root))
    report = json.loads(p.stdout)
    return [(i["code"], i.get("location")) for i in report["issues"]["issues"] if i["severity"] == "error"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("bids")
    clinical = ms.build_clinical(str(base / "clinical.mefd"))
    clean = ms.build_clean(str(base / "clean.mefd"))
    root = base / "bids"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = {
            "clinical": write_bids(clinical, root, subject="01", session="01", task="rest", run="1",
                                   power_line_frequency=60, reference="common average",
                                   electrodes={n: (i, 2.0 * i, -1.5) for i, n in enumerate(ms.FAST)},
                                   coordinate_system="ACPC"),
            "clean": write_bids(clean, root, subject="02", task="rest", link=True),
            "encrypted": write_bids(os.path.join(DATA, "encrypted.mefd"), root, subject="03", task="rest",
                                    password="pass2", ch_types="ecog"),
        }
    return {"root": root, "clinical": clinical, "clean": clean, "results": results,
            "warnings": [str(w.message) for w in caught]}


@pytest.mark.timeout(120)
def test_the_dataset_validates(dataset):
    assert _validate(dataset["root"]) == []


def test_sidecars_say_what_the_session_holds(dataset):
    ieeg = os.path.join(dataset["root"], "sub-01", "ses-01", "ieeg")
    stem = os.path.join(ieeg, "sub-01_ses-01_task-rest_run-1")
    with open(stem + "_ieeg.json", encoding="utf-8") as f:
        sidecar = json.load(f)
    assert {k: sidecar[k] for k in ("TaskName", "SamplingFrequency", "PowerLineFrequency", "SoftwareFilters",
                                    "iEEGReference", "SEEGChannelCount", "ECOGChannelCount",
                                    "RecordingDuration", "RecordingType")} == {
        "TaskName": "rest", "SamplingFrequency": 1000.0, "PowerLineFrequency": 60, "SoftwareFilters": "n/a",
        "iEEGReference": "common average", "SEEGChannelCount": 5, "ECOGChannelCount": 0,
        "RecordingDuration": 10.0, "RecordingType": "discontinuous"}
    assert sidecar["HardwareFilters"] == {"HighpassFilter": {"CutoffFrequency": 0.5},
                                          "LowpassFilter": {"CutoffFrequency": 300.0}}
    channels = _rows(stem + "_channels.tsv")
    assert [(c["name"], c["type"], c["units"], c["low_cutoff"], c["high_cutoff"], c["sampling_frequency"])
            for c in channels] == [(n, "SEEG", "\N{MICRO SIGN}V", "0.5", "300", "5000" if n == "MICRO" else "1000")
                                   for n in sorted(ms.FAST + ["MICRO"])]
    events = _rows(stem + "_events.tsv")
    raw = read_raw_mef3(dataset["clinical"], sfreq=1000)  # the 1 kHz channels: the gaps are theirs
    want = sorted((round(a["onset"], 6), round(a["duration"], 6), a["description"],
                   ",".join(a["ch_names"]) or ("LA1,LA2,LA3,RH1" if a["description"] == "BAD_ACQ_SKIP" else "n/a"))
                  for a in raw.annotations)
    assert sorted((float(e["onset"]), float(e["duration"]), e["trial_type"], e["channel"]) for e in events) == want
    electrodes = _rows(os.path.join(ieeg, "sub-01_ses-01_space-ACPC_electrodes.tsv"))
    assert [(e["name"], float(e["x"]), float(e["y"]), float(e["z"])) for e in electrodes] == [
        (n, float(i), 2.0 * i, -1.5) for i, n in enumerate(ms.FAST)]
    scans = _rows(os.path.join(dataset["root"], "sub-01", "ses-01", "sub-01_ses-01_scans.tsv"))
    assert scans == [{"filename": "ieeg/sub-01_ses-01_task-rest_run-1_ieeg.mefd",
                      "acq_time": "2023-11-14T22:13:20.000000Z"}]
    assert [r["participant_id"] for r in _rows(os.path.join(dataset["root"], "participants.tsv"))] == [
        "sub-01", "sub-02", "sub-03"]


def test_the_placed_session_keeps_its_records_and_samples(dataset):
    placed = dataset["results"]["clinical"]["session_path"]
    with neo_mef3.Reader(dataset["clinical"]) as a, neo_mef3.Reader(placed) as b:
        assert b.records() == a.records() and len(b.records()) == 3  # session-level files renamed with it
        assert b.records("LA1") == a.records("LA1")
        np.testing.assert_array_equal(b.read("RH1"), a.read("RH1"))
    clean = dataset["results"]["clean"]["session_path"]
    for sub in ("A1.timd/A1-000000.segd/A1-000000.tdat", ):
        assert os.stat(os.path.join(clean, sub)).st_ino == os.stat(os.path.join(dataset["clean"], sub)).st_ino


def test_mne_bids_reads_it_back(dataset):
    path = mne_bids.BIDSPath(subject="02", task="rest", datatype="ieeg", suffix="ieeg", extension=".mefd",
                             root=dataset["root"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = mne_bids.read_raw_bids(path, verbose="error")
    ours = read_raw_mef3(dataset["clean"])
    assert raw.ch_names == ours.ch_names and raw.get_channel_types() == ["seeg"] * 3
    np.testing.assert_allclose(raw.get_data(), ours.get_data(), rtol=0, atol=1e-12)
    assert raw.info["meas_date"] == ours.info["meas_date"]
    got = sorted(zip(raw.annotations.onset, raw.annotations.duration, raw.annotations.description))
    assert got == sorted(zip(ours.annotations.onset, ours.annotations.duration, ours.annotations.description))


def test_notes_types_and_refusals(dataset, tmp_path):
    results = dataset["results"]
    assert results["clinical"]["notes"] == []
    assert any("no electrode coordinates given" in n for n in results["clean"]["notes"])
    assert any("no electrode coordinates given" in w for w in dataset["warnings"])
    placeholder = _rows(os.path.join(dataset["root"], "sub-02", "ieeg", "sub-02_electrodes.tsv"))
    assert [(e["name"], e["x"], e["y"], e["z"]) for e in placeholder] == [(n, "n/a", "n/a", "n/a")
                                                                       for n in ("A1", "A2", "B1")]
    channels = _rows(os.path.join(dataset["root"], "sub-03", "ieeg", "sub-03_task-rest_channels.tsv"))
    assert [c["type"] for c in channels] == ["ECOG"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_bids(dataset["clean"], dataset["root"], subject="02", task="rest")
    with pytest.raises(ValueError, match="letters and digits"):
        write_bids(dataset["clean"], tmp_path / "b", subject="sub_02", task="rest")


@pytest.mark.timeout(120)
def test_the_command_line(tmp_path):
    clean = ms.build_clean(str(tmp_path / "clean.mefd"))
    p = subprocess.run([sys.executable, "-m", "neo_mef3.cli", "bids", clean, "ds", "--subject", "7", "--task",
                        "sleep", "--session", "night1", "--line-freq", "50", "--reference", "Cz"],
                       capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "sub-7_ses-night1_task-sleep_ieeg.mefd" in p.stdout
    assert "no electrode coordinates given" in p.stderr
    with open(tmp_path / "ds" / "sub-7" / "ses-night1" / "ieeg" / "sub-7_ses-night1_task-sleep_ieeg.json") as f:
        sidecar = json.load(f)
    assert (sidecar["PowerLineFrequency"], sidecar["iEEGReference"]) == (50.0, "Cz")
    assert _validate(tmp_path / "ds") == []


@pytest.mark.timeout(180)
def test_every_session_in_the_suite_becomes_a_valid_recording(tmp_path, oracle_sessions):
    root = tmp_path / "all"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, (path, password) in enumerate(ms.suite_sessions(oracle_sessions, tmp_path)):
            result = write_bids(path, root, subject=f"{k:02d}", task="rest", password=password)
            with neo_mef3.Reader(path, password=password) as a, \
                    neo_mef3.Reader(result["session_path"], password=password) as b:
                summary = lambda recs: [(r["type"], r["time"], r.get("text")) for r in recs]  # noqa: E731
                assert b.channels == a.channels and summary(b.records()) == summary(a.records()), path
    assert _validate(root) == []
