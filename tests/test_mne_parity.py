"""read_raw_mef3 side by side with MNE's own reader (mne.io.read_raw_mef, on pymef).

Where MNE's reader is right (one rate, no gap) the two give the same samples (within
1e-12 V), annotations and meas_date. Where they differ, the tests pin down how and why
(docs/mne.md lists the same cases):

- gaps: MNE joins the two sides, so its samples after a gap sit earlier than their
  time and its annotations there point at the wrong samples;
- several rates: MNE refuses the session, read_raw_mef3 reads one rate;
- a level-1 password: MNE fails to open the session, read_raw_mef3 reads the samples
  (records need level 2 and are left out with a warning).
"""

import os
import warnings

import numpy as np
import pytest

mne = pytest.importorskip("mne")
pytest.importorskip("pymef")

import neo_mef3  # noqa: E402
from neo_mef3.mne import read_raw_mef3  # noqa: E402

from support import mne_sessions as ms  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


def _mne(path, password=""):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mne.io.read_raw_mef(path, password=password, verbose="error")


def _annotations(raw):
    a = raw.annotations
    return sorted(zip(np.round(a.onset, 9), np.round(a.duration, 9), a.description, map(tuple, a.ch_names)))


def _parity_sessions(tmp_path, oracle_sessions):
    yield os.path.join(DATA, "encrypted.mefd"), "pass2"
    yield os.path.join(DATA, "encrypted_mef3io.mefd"), "pass2"
    yield ms.build_clean(str(tmp_path / "clean.mefd")), ""
    yield ms.build_clean(str(tmp_path / "clean_encrypted.mefd"), "one", "two"), "two"
    for name, writer in [("records", "mef_tools"), ("records", "mef3io"), ("records_encrypted", "mef_tools"),
                         ("short_nan_runs", "mef_tools")]:
        yield oracle_sessions(name, writer), oracle_sessions.scenario(name).read_password or ""


def test_same_samples_annotations_and_date_where_mne_is_right(tmp_path, oracle_sessions):
    checked = 0
    for path, password in _parity_sessions(tmp_path, oracle_sessions):
        ours, theirs = read_raw_mef3(path, password=password), _mne(path, password)
        assert ours.ch_names == theirs.ch_names, path
        assert ours.n_times == theirs.n_times, path
        assert ours.info["sfreq"] == theirs.info["sfreq"]
        assert ours.info["meas_date"] == theirs.info["meas_date"], path
        np.testing.assert_allclose(ours.get_data(), theirs.get_data(), rtol=0, atol=1e-12, err_msg=path)
        assert _annotations(ours) == _annotations(theirs), path
        checked += len(ours.annotations)
    assert checked >= 20  # every record type of the 'records' scenario took part


def _gap_session(path):
    rng = np.random.default_rng(3)
    with neo_mef3.Writer(path, overwrite=True) as w:
        for name in ("G1", "G2"):
            w.write(name, ms.ieeg(3000, 1000.0, rng), ms.T0, 1000.0, precision=2)
            w.write(name, ms.ieeg(3000, 1000.0, rng), ms.T0 + 5 * ms.SECOND, 1000.0, precision=2)  # 2 s gap
        w.write_annotations([{"time": ms.T0 + 5_500_000, "type": "Note", "text": "after the gap"},
                             {"time": ms.T0 + 6_500_000, "type": "Note", "text": "near the end"}])
    return path


def test_gaps_mne_joins_the_sides_read_raw_mef3_keeps_the_times(tmp_path):
    path = _gap_session(str(tmp_path / "gap.mefd"))
    ours, theirs = read_raw_mef3(path), _mne(path)
    assert (ours.n_times, theirs.n_times) == (8000, 6000)  # MNE: the stored samples back to back
    assert [(a["onset"], a["description"]) for a in ours.annotations] == [
        (3.0, "BAD_ACQ_SKIP"), (5.5, "Note: after the gap"), (6.5, "Note: near the end")]
    # MNE keeps the record's time but its data end at 6 s: the last record is dropped, and
    # at 5.5 s its Raw holds what was recorded at 7.5 s
    assert [(a["onset"], a["description"]) for a in theirs.annotations] == [(5.5, "Note: after the gap")]
    with neo_mef3.Reader(path) as reader:
        stored = reader.read("G1", ms.T0 + 5_500_000, ms.T0 + 5_501_000)[0] * 1e-6
        later = reader.read("G1", ms.T0 + 7_500_000, ms.T0 + 7_501_000)[0] * 1e-6
    at = 5500
    assert ours.get_data(picks="G1", start=at, stop=at + 1)[0, 0] == stored
    assert theirs.get_data(picks="G1", start=at, stop=at + 1)[0, 0] == pytest.approx(later, abs=1e-12)
    assert abs(later - stored) > 1e-9
    # before the gap both agree
    np.testing.assert_allclose(ours.get_data(stop=3000), theirs.get_data(stop=3000), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.get_data(start=5000), theirs.get_data(start=3000), rtol=0, atol=1e-12)


def test_several_rates_mne_refuses_read_raw_mef3_reads_each(tmp_path):
    path = ms.build_clinical(str(tmp_path / "clinical.mefd"))
    with pytest.raises(ValueError, match="inconsistent sfreq"):
        _mne(path)
    assert read_raw_mef3(path, sfreq=1000).ch_names == ms.FAST
    assert read_raw_mef3(path, sfreq=5000).ch_names == ["MICRO"]


def test_level_1_password_mne_fails_read_raw_mef3_reads_the_samples():
    path = os.path.join(DATA, "encrypted.mefd")
    with pytest.raises(ValueError):
        _mne(path, "pass1")
    with pytest.warns(neo_mef3.MefWarning, match="level-2"):
        level1 = read_raw_mef3(path, password="pass1")
    np.testing.assert_allclose(level1.get_data(), _mne(path, "pass2").get_data(), rtol=0, atol=1e-12)


def test_segments_with_different_factors_mne_scales_by_one(tmp_path):
    path = str(tmp_path / "factors.mefd")
    rng = np.random.default_rng(8)
    with neo_mef3.Writer(path, overwrite=True) as w:
        w.write("F", ms.ieeg(2000, 1000.0, rng), ms.T0, 1000.0, precision=2)
        w.write("F", ms.ieeg(2000, 1000.0, rng), ms.T0 + 2 * ms.SECOND, 1000.0, precision=3, new_segment=True)
    ours, theirs = read_raw_mef3(path), _mne(path)
    with neo_mef3.Reader(path) as r:
        counts = r.read_samples("F").astype(float)
        np.testing.assert_allclose(ours.get_data()[0], r.read("F") * 1e-6, rtol=0, atol=1e-15)
    # pymef gives the channel the factor 0 ("no entry") when its segments differ, and MNE then
    # takes 1: counts read as microvolts, 100x (0.01) and 1000x (0.001) too large here
    np.testing.assert_allclose(theirs.get_data()[0], counts * 1e-6, rtol=1e-12)
    np.testing.assert_allclose(theirs.get_data()[0, :2000], ours.get_data()[0, :2000] * 100, rtol=1e-9)
    np.testing.assert_allclose(theirs.get_data()[0, 2000:], ours.get_data()[0, 2000:] * 1000, rtol=1e-9)


def test_channels_of_different_lengths_mne_refuses(oracle_sessions):
    path = oracle_sessions("segments", "mef_tools")  # 'seg' (with gaps) and 'ref', both 500 Hz
    with pytest.raises(ValueError, match="inconsistent n_samples"):
        _mne(path)
    raw = read_raw_mef3(path)
    assert raw.ch_names == ["ref", "seg"] and raw.n_times == 7250  # T0 .. T0 + 14.5 s at 500 Hz
    gaps = [(round(a["onset"], 6), round(a["duration"], 6), a["ch_names"]) for a in raw.annotations
            if a["description"] == "BAD_ACQ_SKIP"]
    # between the segments, the NaN second inside the second one, and 'ref' ending first
    assert gaps == [(4.0, 2.0, ("seg",)), (7.2, 1.0, ("seg",)), (9.0, 3.5, ("seg",)), (14.0, 0.5, ("ref",))]
