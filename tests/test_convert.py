"""``neo-mef3 convert`` and neo_mef3.convert / neo_mef3.edf: EDF <-> MEF 3.0 and the rest.

Expected values: the source file's own samples (as MNE and edfio read them), its EDF
resolution (physical range / digital range), annotations and start; the sessions'
construction (``mne_sessions``).
"""

import datetime
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

mne = pytest.importorskip("mne")
edfio = pytest.importorskip("edfio")

import neo_mef3  # noqa: E402
from neo_mef3 import cli  # noqa: E402
from neo_mef3.convert import convert  # noqa: E402
from neo_mef3.mne import read_raw_mef3  # noqa: E402
from neo_mef3.units import volts_per_unit  # noqa: E402

from support import mne_sessions as ms  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")
START = datetime.datetime(2022, 2, 3, 4, 5, 6)
GAIN = 4000 / 65535  # uV per digital value of the source EDF: physical range / digital range


def _edf(path, seconds=12):
    rng = np.random.default_rng(9)
    n = 200 * seconds
    signals = [edfio.EdfSignal(np.clip(np.cumsum(rng.standard_normal(n)) * 3 + rng.normal(0, 30, n), -1999, 1999),
                               200, label=f"LA{i + 1}", physical_dimension="uV", physical_range=(-2000, 2000))
               for i in range(3)]
    edf = edfio.Edf(signals, recording=edfio.Recording(startdate=START.date()), starttime=START.time(),
                    annotations=[edfio.EdfAnnotation(1.5, None, "eyes closed"),
                                 edfio.EdfAnnotation(4.0, 2.5, "seizure"),
                                 edfio.EdfAnnotation(9.25, None, "artifact@@LA2")])
    edf.write(path)
    return path


def _run(args, cwd, env=None, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "neo_mef3.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=str(cwd), env=env, stdin=stdin)


@pytest.mark.timeout(300)
def test_edf_to_mef_to_edf_keeps_values_annotations_and_date(tmp_path):
    _edf(tmp_path / "in.edf")
    first = _run(["convert", "in.edf", "rec.mefd"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "LA1: 0.0610361 uV per count (grid)" in first.stdout  # the EDF's gain, said in the summary
    second = _run(["convert", "rec.mefd", "out.edf"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "(the stored counts)" in second.stdout
    source = edfio.read_edf(tmp_path / "in.edf")
    result = edfio.read_edf(tmp_path / "out.edf")
    assert (result.startdate, result.starttime) == (START.date(), START.time())
    assert [(a.onset, a.duration, a.text) for a in result.annotations] == [
        (1.5, None, "eyes closed"), (4.0, 2.5, "seizure"), (9.25, None, "artifact@@LA2")]
    assert [s.label for s in result.signals] == ["LA1", "LA2", "LA3"]
    for a, b in zip(source.signals, result.signals):
        assert b.physical_dimension == "uV" and b.sampling_frequency == 200
        assert np.abs(a.data - b.data).max() <= GAIN  # within the EDF's resolution
    assert sorted(os.listdir(tmp_path)) == ["in.edf", "out.edf", "rec.mefd"]  # no temporary left


def test_existing_outputs_help_and_passwords(tmp_path, capsys, monkeypatch):
    _edf(tmp_path / "in.edf", seconds=3)
    src, out = str(tmp_path / "in.edf"), str(tmp_path / "a.mefd")
    assert cli.main(["convert", src, out]) == 0
    assert cli.main(["convert", src, out]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert cli.main(["convert", src, out, "--overwrite"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["convert", "--help"])
    assert "neo-mef3 convert recording.edf recording.mefd" in capsys.readouterr().out
    encrypted, edf_out = os.path.join(DATA, "encrypted.mefd"), str(tmp_path / "e.edf")
    assert cli.main(["convert", encrypted, edf_out]) == 2  # no terminal to ask for the password on
    assert "password" in capsys.readouterr().err and not os.path.exists(edf_out)
    monkeypatch.setenv("MEF_PW", "pass2")
    monkeypatch.setenv("NEW1", "first")
    monkeypatch.setenv("NEW2", "second")
    assert cli.main(["convert", encrypted, edf_out, "--password-env", "MEF_PW"]) == 0
    assert "stimulus" in [a.text for a in edfio.read_edf(edf_out).annotations]
    sealed = str(tmp_path / "s.mefd")
    assert cli.main(["convert", src, sealed, "--new-password1-env", "NEW1", "--new-password2-env", "NEW2"]) == 0
    with pytest.raises(neo_mef3.PasswordError):
        neo_mef3.Reader(sealed)
    with neo_mef3.Reader(sealed, password="second") as r:  # the one annotation within the 3 s
        assert [(rec["type"], rec["text"]) for rec in r.records()] == [("Note", "eyes closed")]
    assert sorted(os.listdir(tmp_path)) == ["a.mefd", "e.edf", "in.edf", "s.mefd"]


def test_a_source_without_a_date_is_converted_with_a_warning(tmp_path, capsys):
    raw = mne.io.RawArray(np.random.default_rng(0).normal(0, 1e-5, (2, 500)), mne.create_info(2, 100.0, "eeg"),
                          verbose="error")
    raw.set_meas_date(None)
    raw.save(tmp_path / "undated_raw.fif", verbose="error")
    assert cli.main(["convert", str(tmp_path / "undated_raw.fif"), str(tmp_path / "u.mefd")]) == 0
    assert "holds no recording date" in capsys.readouterr().err
    start = "2021-06-07T08:09:10.5+02:00"
    assert cli.main(["convert", str(tmp_path / "undated_raw.fif"), str(tmp_path / "d.mefd"), "--start", start]) == 0
    with neo_mef3.Reader(tmp_path / "d.mefd") as r:
        assert r.info("0")["start_time"] == int(datetime.datetime.fromisoformat(start).timestamp() * 1e6)
    assert cli.main(["convert", str(tmp_path / "undated_raw.fif"), str(tmp_path / "x.vhdr")]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err


def test_mef_to_edf_and_back_keeps_gaps_and_records(tmp_path):
    path = str(tmp_path / "g.mefd")
    rng = np.random.default_rng(4)
    with neo_mef3.Writer(path, overwrite=True) as w:
        for name in ("G1", "G2"):
            w.write(name, ms.ieeg(3000, 1000.0, rng), ms.T0, 1000.0, precision=2)
            w.write(name, ms.ieeg(2500, 1000.0, rng), ms.T0 + 5 * ms.SECOND, 1000.0, precision=2)
        w.write_annotations([{"time": ms.T0 + 6 * ms.SECOND, "type": "EDFA", "text": "spike", "duration": 200_000}])
        w.write_annotations([{"time": ms.T0 + ms.SECOND, "type": "Note", "text": "pop"}], channel="G2")
    summary = convert(path, tmp_path / "g.edf")
    assert summary["channels"]["G1"]["coarsened"] == 1
    edf = edfio.read_edf(tmp_path / "g.edf")
    assert [(a.onset, a.duration, a.text) for a in edf.annotations] == [
        (1.0, None, "pop@@G2"), (3.0, 2.0, "BAD_ACQ_SKIP"), (6.0, 0.2, "spike"),
        (7.5, 0.5, "BAD_ACQ_SKIP")]  # the last data record completed with zeros is a gap too
    back = tmp_path / "back.mefd"
    convert(tmp_path / "g.edf", back)
    ours, again = read_raw_mef3(path), read_raw_mef3(back)
    assert again.n_times == 8000 and ours.n_times == 7500
    np.testing.assert_allclose(again.get_data()[:, :7500], ours.get_data(), rtol=0, atol=0.5e-8)
    with neo_mef3.Reader(path) as a, neo_mef3.Reader(back) as b:
        assert b.info("G1")["number_of_samples"] == a.info("G1")["number_of_samples"] == 5500
        assert [(r["time"], r["type"], r["text"]) for r in b.records()] == [(ms.T0 + 6 * ms.SECOND, "EDFA", "spike")]
        assert [(r["time"], r["text"]) for r in b.records("G2")] == [(ms.T0 + ms.SECOND, "pop")]


def test_edf_coarsens_loudly_bdf_keeps_24_bits(tmp_path):
    path = str(tmp_path / "wide.mefd")
    x = np.linspace(-2000, 2000, 4000)  # 0.01 uV steps: counts up to 200 000, more than 16 bits
    with neo_mef3.Writer(path, overwrite=True) as w:
        w.write("W", x, ms.T0, 1000.0, precision=2)
    with pytest.warns(neo_mef3.MefWarning, match=r"W \(0.01 -> 0.07 uV\).*write .bdf"):
        edf = convert(path, tmp_path / "w.edf")
    assert edf["channels"]["W"]["coarsened"] == 7
    np.testing.assert_allclose(edfio.read_edf(tmp_path / "w.edf").signals[0].data, x, rtol=0, atol=0.035 + 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bdf = convert(path, tmp_path / "w.bdf")
    assert bdf["channels"]["W"]["coarsened"] == 1
    np.testing.assert_allclose(edfio.read_bdf(tmp_path / "w.bdf").signals[0].data, x, rtol=0, atol=0.005 + 1e-9)


def test_several_rates_share_one_edf(tmp_path):
    clinical = ms.build_clinical(str(tmp_path / "clinical.mefd"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", neo_mef3.MefWarning)
        convert(clinical, tmp_path / "c.edf")
    edf = edfio.read_edf(tmp_path / "c.edf")
    rates = {s.label: s.sampling_frequency for s in edf.signals}
    assert rates == {"LA1": 1000, "LA2": 1000, "LA3": 1000, "MICRO": 5000, "RH1": 1000}
    texts = [(a.onset, a.text) for a in edf.annotations]
    assert (1.0, "BAD_ACQ_SKIP@@LA3") in texts and (4.0, "BAD_ACQ_SKIP@@RH1") in texts
    assert (7.0, "seizure onset") in texts and (8.0, "LA1 artifact@@LA1") in texts
    with pytest.warns(neo_mef3.MefWarning, match=r"RH1 \(0.001 -> 0.008 uV\)"):  # 0.001 uV * 2**18 > 16 bits
        summary = convert(clinical, tmp_path / "c.edf", overwrite=True)
    steps = {name: c["step"] for name, c in summary["channels"].items()}
    assert steps == {"LA1": 0.01, "LA2": 0.01, "LA3": 0.01, "MICRO": 0.1, "RH1": 0.008}
    with neo_mef3.Reader(clinical) as r:
        for s in edfio.read_edf(tmp_path / "c.edf").signals:
            want = np.nan_to_num(r.read(s.label, ms.T0, ms.T0 + 10 * ms.SECOND))
            np.testing.assert_allclose(s.data, want, rtol=0, atol=steps[s.label] / 2 + 1e-9, err_msg=s.label)


def test_every_session_in_the_suite_becomes_edf(tmp_path, oracle_sessions):
    for k, (path, password) in enumerate(ms.suite_sessions(oracle_sessions, tmp_path)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = convert(path, tmp_path / f"s{k}.bdf", password=password)
        bdf = edfio.read_bdf(tmp_path / f"s{k}.bdf")
        with neo_mef3.Reader(path, password=password) as r:
            t0 = min(r.info(c)["start_time"] for c in r.channels)
            for s in bdf.signals:
                want = np.nan_to_num(r.read(s.label, t0, t0 + int(round(len(s.data) * 1e6 / s.sampling_frequency))))
                # (values beyond 8 characters in uV are written in mV: 2**31 counts of 1 uV)
                want *= volts_per_unit(r.info(s.label)["units_description"]) / volts_per_unit(s.physical_dimension)
                step = abs(summary["channels"][s.label]["step"])
                np.testing.assert_allclose(s.data, want, rtol=0, atol=step / 2 + 1e-9 * np.abs(want).max(),
                                           err_msg=f"{path} {s.label}")
