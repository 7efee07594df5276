"""neo_mef3.mne.read_raw_mef3 / to_mne: a lazy MNE Raw of a MEF 3.0 session.

Expected values come from the native Reader (``read`` is checked against pymef, mef3io
and mef_tools elsewhere in the suite) and from the sessions' construction
(``mne_sessions``: gap positions, record times, conversion factors).
"""

import datetime
import os
import pickle
import warnings

import numpy as np
import pytest

mne = pytest.importorskip("mne")

import neo_mef3  # noqa: E402
from neo_mef3.mne import read_raw_mef3, to_mne  # noqa: E402

from support import mne_sessions as ms  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def clinical(tmp_path_factory):
    return ms.build_clinical(str(tmp_path_factory.mktemp("mne_read") / "clinical.mefd"))


def _quiet_read(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", neo_mef3.MefWarning)
        return read_raw_mef3(path, **kw)


def _expected(reader, names, t0, fs, n, scale=1e-6):
    """The Reader's samples of `names` on the grid from t0, NaN (gaps) as 0, in volts."""
    t1 = t0 + int(round(n * 1e6 / fs))
    scales = np.broadcast_to(np.asarray(scale, float).reshape(-1), (len(names),))
    return np.stack([np.nan_to_num(reader.read(name, t0, t1)) * s for name, s in zip(names, scales)])


def test_open_is_lazy_and_a_window_decodes_only_its_blocks(clinical):
    with neo_mef3.Reader(clinical) as reader, warnings.catch_warnings():
        warnings.simplefilter("ignore", neo_mef3.MefWarning)
        raw = to_mne(reader)
        assert not raw.preload and reader.blocks_decoded == 0
        window = raw.get_data(start=7000, stop=7100)  # 0.1 s, inside one 10 s block per channel
        assert reader.blocks_decoded == 4  # one block per channel, nothing else
        want = _expected(reader, ms.FAST, ms.T0, 1000.0, 10_000)[:, 7000:7100]
    np.testing.assert_array_equal(window, want)


def test_samples_are_volts_with_per_segment_factors_and_zeros_in_gaps(clinical):
    raw = _quiet_read(clinical)
    assert raw.ch_names == ms.FAST and raw.info["sfreq"] == 1000.0 and raw.n_times == 10_000
    data = raw.get_data()
    with neo_mef3.Reader(clinical) as reader:
        want = _expected(reader, ms.FAST, ms.T0, 1000.0, 10_000)
        factors = {s["units_conversion_factor"] for s in reader.segments("RH1")}
    assert factors == {0.01, 0.001}  # RH1's segments differ; the Reader applies each
    np.testing.assert_array_equal(data, want)
    assert (data[:, 4000:6000] == 0).all() and (data[2, 1000:1500] == 0).all()
    assert (data[:, 3990:4000] != 0).all() and (data[:, 6000:6010] != 0).all()
    # the second RH1 segment holds 0.001 uV steps, the others 0.01 uV steps
    assert np.allclose(np.round(data[3, 6000:] * 1e9) / 1e9, data[3, 6000:], rtol=0, atol=1e-15)
    assert not np.allclose(np.round(data[3, 6000:] * 1e8) / 1e8, data[3, 6000:], rtol=0, atol=1e-15)


def test_preload_equals_lazy_reads_and_windows(clinical):
    lazy = _quiet_read(clinical)
    loaded = _quiet_read(clinical, preload=True)
    full = lazy.get_data()
    np.testing.assert_array_equal(loaded.get_data(), full)
    rng = np.random.default_rng(0)
    for start in rng.integers(0, 9000, 5):
        window = lazy.get_data(start=int(start), stop=int(start) + 777)
        np.testing.assert_array_equal(window, full[:, start:start + 777])
    picked = lazy.copy().pick(["LA3", "LA1"])
    np.testing.assert_array_equal(picked.get_data(), full[[2, 0]])
    cropped = lazy.copy().crop(tmin=2.5, tmax=7.0)  # first_samp 2500: reads from the file's sample 2500
    assert cropped.first_samp == 2500
    np.testing.assert_array_equal(cropped.get_data(), full[:, 2500:7001])


def test_gaps_are_annotated_and_later_annotations_keep_their_times(clinical):
    raw = _quiet_read(clinical)
    ann = raw.annotations
    got = sorted(zip(ann.onset.round(9), ann.duration.round(9), ann.description, map(tuple, ann.ch_names)))
    want = [(0.5, 0.0, "Note: lights off", ()),
            (1.0, 0.5, "BAD_ACQ_SKIP", ("LA3",)),  # LA3's own gap names its channel
            (4.0, 2.0, "BAD_ACQ_SKIP", ()),  # the common gap: every channel
            (7.0, 1.5, "EDFA: seizure onset", ()),
            (8.0, 0.0, "Note: LA1 artifact", ("LA1",)),
            (9.0, 0.0, "Note: after the gap", ())]
    assert got == want
    assert ann.orig_time == raw.info["meas_date"]
    # the sample at an annotation after the gap is the sample stored at the record's time
    with neo_mef3.Reader(clinical) as reader:
        at = reader.read("LA2", ms.T0 + 9 * ms.SECOND, ms.T0 + 9 * ms.SECOND + 1000)
    np.testing.assert_array_equal(raw.get_data(picks="LA2", start=9000, stop=9001)[0], at[:1] * 1e-6)


def test_metadata_goes_to_info(clinical):
    raw = _quiet_read(clinical)
    info = raw.info
    assert info["meas_date"] == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    assert (info["highpass"], info["lowpass"], info["line_freq"]) == (0.5, 300.0, 60.0)
    assert info["utc_offset"] == "-0500" and info["description"] == "issue 16"
    assert raw.get_channel_types() == ["seeg"] * 4
    assert all(ch["cal"] == 1e-6 for ch in info["chs"])


def test_mixed_rates_warn_and_sfreq_chooses(clinical):
    with pytest.warns(neo_mef3.MefWarning, match=r"leaving out MICRO \(5000 Hz\)"):
        raw = read_raw_mef3(clinical)
    assert raw.info["sfreq"] == 1000.0
    fast = read_raw_mef3(clinical, sfreq=5000)
    assert fast.ch_names == ["MICRO"] and fast.n_times == 50_000
    # MICRO has no gap, but the session's records are on its time axis too
    assert [a["description"] for a in fast.annotations] == [
        "Note: lights off", "EDFA: seizure onset", "Note: after the gap"]
    with neo_mef3.Reader(clinical) as reader:
        np.testing.assert_array_equal(fast.get_data()[0], reader.read("MICRO") * 1e-6)
    with pytest.raises(ValueError, match="1000 Hz .4 channels., 5000 Hz"):
        read_raw_mef3(clinical, sfreq=250)
    only = read_raw_mef3(clinical, picks=["LA2", "RH1"])  # one rate among the picks: no warning
    assert only.ch_names == ["LA2", "RH1"]


def test_ch_types_and_unknown_picks(clinical):
    raw = _quiet_read(clinical, ch_types={"LA1": "ecog", "RH1": "eeg"})
    assert raw.get_channel_types() == ["ecog", "seeg", "seeg", "eeg"]
    assert _quiet_read(clinical, ch_types="ecog").get_channel_types() == ["ecog"] * 4
    with pytest.raises(ValueError, match="no channel 'XX'"):
        read_raw_mef3(clinical, picks=["XX"])


def test_copies_share_the_reader_and_pickles_reopen(clinical):
    raw = _quiet_read(clinical)
    copy = raw.copy()
    np.testing.assert_array_equal(copy.get_data(start=100, stop=200), raw.get_data(start=100, stop=200))
    again = pickle.loads(pickle.dumps(raw))
    np.testing.assert_array_equal(again.get_data(start=5000, stop=8000), raw.get_data(start=5000, stop=8000))


def test_encrypted_passwords_levels_and_pickles():
    path = os.path.join(DATA, "encrypted.mefd")
    full = read_raw_mef3(path, password="pass2")
    assert [a["description"] for a in full.annotations] == ["Note: session note", "EDFA: stimulus",
                                                            "Note: channel note"]
    with pytest.warns(neo_mef3.MefWarning, match="records left out.*level-2 password"):
        level1 = read_raw_mef3(path, password="pass1")
    assert len(level1.annotations) == 0
    np.testing.assert_array_equal(level1.get_data(), full.get_data())
    with pytest.raises(neo_mef3.PasswordError):
        read_raw_mef3(path)
    # a pickled Raw never carries the password: reading the session again needs it
    blob = pickle.dumps(full)
    assert b"pass2" not in blob
    with pytest.raises(neo_mef3.PasswordError):
        pickle.loads(blob).get_data()


def test_every_session_in_the_suite_reads(tmp_path, oracle_sessions):
    """Fixtures, our Writer's sessions and every oracle scenario: each rate group reads,
    and its samples are the Reader's (gaps as zeros)."""
    for path, password, fs in ms.suite_rate_groups(oracle_sessions, tmp_path):
        with neo_mef3.Reader(path, password=password) as reader, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = to_mne(reader, sfreq=fs)
            t0 = int(raw.info["meas_date"].timestamp() * 1e6 + 0.5)
            want = _expected(reader, raw.ch_names, t0, fs, raw.n_times, [ch["cal"] for ch in raw.info["chs"]])
            np.testing.assert_array_equal(raw.get_data(), want, err_msg=f"{path} at {fs} Hz")


_INHERITED = {}


def _inherited_window_sum():
    return float(np.abs(_INHERITED["raw"].get_data(start=0, stop=9000)).sum())


@pytest.mark.timeout(60)
def test_a_forked_child_reads_with_fresh_threads(clinical, monkeypatch):
    import multiprocessing

    import neo_mef3.mne

    monkeypatch.setattr(neo_mef3.mne, "_PARALLEL_SAMPLES", 1)  # every window on the channel threads
    raw = _quiet_read(clinical)
    _INHERITED["raw"] = raw  # inherited by the forked worker, not pickled
    want = _inherited_window_sum()  # the parent's channel threads exist now
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(_inherited_window_sum).get(timeout=30)
    finally:
        _INHERITED.clear()
    assert got == want
