"""The MNE, export, BIDS and convert examples run (each in a subprocess, outside the checkout)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("mne")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _run(name, tmp_path, *args):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *map(str, args)], capture_output=True,
                       text=True, timeout=180, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.timeout(200)
def test_mne_read_raw(tmp_path):
    out = _run("mne_read_raw.py", tmp_path)
    assert "leaving out ECG (250 Hz), Fp1 (256 Hz)" in out
    assert "8.000 s   2.000 s  BAD_ACQ_SKIP" in out and "EDFA: stimulus" in out
    assert "1024 Hz: ['Hippo1'], 20480 samples" in out


@pytest.mark.timeout(200)
def test_mne_export(tmp_path):
    out = _run("mne_export.py", tmp_path)
    assert "LA1: 0.0001 uV per count (signal)" in out
    assert "20.000 s   1.500 s  BAD_ACQ_SKIP" in out
    ratio = float(out.rsplit("largest difference / half a stored step:", 1)[1])
    assert ratio <= 1.0 + 1e-6


@pytest.mark.timeout(200)
def test_bids_dataset(tmp_path):
    out = _run("bids_dataset.py", tmp_path)
    assert "sub-01/ses-01/ieeg/sub-01_ses-01_task-rest_ieeg.mefd" in out
    assert "8.000000\t2.000000\tBAD_ACQ_SKIP\tHippo1" in out
    assert "bids-validator-deno: valid" in out


@pytest.mark.timeout(200)
def test_convert_edf(tmp_path):
    out = _run("convert_edf.py", tmp_path, os.path.join(os.path.dirname(EXAMPLES), "neo_mef3", "data",
                                                          "example.mefd"), tmp_path)
    assert "Hippo1: 0.02 uV per count (grid)" in out and "ECG: largest difference 0.0000 uV" in out
    assert sorted(os.listdir(tmp_path)) == ["again.mefd", "recording.edf"]


@pytest.mark.timeout(60)
def test_import_neo_mef3_does_not_import_the_mne_extra(tmp_path):
    code = ("import sys, neo_mef3, neo_mef3.bids, neo_mef3.convert, neo_mef3.edf, neo_mef3.cli\n"
            "from neo_mef3.cli import build_parser\n"
            "build_parser()\n"
            "loaded = [m for m in ('mne', 'mne_bids', 'edfio') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=str(tmp_path))
