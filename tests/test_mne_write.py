"""neo_mef3.mne.write_raw_mef3: any MNE Raw to MEF 3.0, read back with read_raw_mef3.

Expected values: the Raw's own samples and annotations, the resolution each source has
by construction (decimal steps of our sessions, EDF's physical / digital range, a float
signal's typical step), and MNE's own MEF reader (pymef) on the written session.
"""

import datetime
import os
import warnings

import numpy as np
import pytest

mne = pytest.importorskip("mne")
edfio = pytest.importorskip("edfio")

import neo_mef3  # noqa: E402
from neo_mef3.errors import CancelledError  # noqa: E402
from neo_mef3.mne import read_raw_mef3, write_raw_mef3  # noqa: E402

from support import mne_sessions as ms  # noqa: E402

UTC = datetime.timezone.utc
DATE = datetime.datetime(2024, 5, 1, 8, 30, 0, 250_000, tzinfo=UTC)


def _ann(raw):
    a = raw.annotations
    return sorted(zip(np.round(a.onset, 9), np.round(a.duration, 9), a.description, map(tuple, a.ch_names)))


def _float_raw(n=6000, fs=500.0, seed=1):
    rng = np.random.default_rng(seed)
    data = np.cumsum(rng.standard_normal((3, n)), axis=1) * 2e-6 + rng.normal(0, 5e-6, (3, n))
    raw = mne.io.RawArray(data, mne.create_info(["Fp1", "Fp2", "Cz"], fs, "eeg"), verbose="error")
    raw.set_meas_date(DATE)
    raw.set_annotations(mne.Annotations([1.0, 2.5, 4.0, 8.0], [0.0, 0.5, 1.0, 0.0],
                                        ["stim", "resp", "BAD_ACQ_SKIP", "blink"],
                                        ch_names=[[], [], [], ["Fp1"]], orig_time=DATE))
    return raw


@pytest.fixture(scope="module")
def clinical(tmp_path_factory):
    return ms.build_clinical(str(tmp_path_factory.mktemp("mne_write") / "clinical.mefd"))


def test_mef_raw_mef_raw_is_exact(clinical, tmp_path):
    raw = read_raw_mef3(clinical, sfreq=1000)
    summary = write_raw_mef3(raw, tmp_path / "copy.mefd")
    assert {n: (c["rule"], c["precision"]) for n, c in summary["channels"].items()} == {
        "LA1": ("decimal", 2), "LA2": ("decimal", 2), "LA3": ("decimal", 2), "RH1": ("decimal", 3)}
    assert "RH1: 0.001 uV per count (decimal)" in summary["text"]
    back = read_raw_mef3(tmp_path / "copy.mefd")
    np.testing.assert_array_equal(back.get_data(), raw.get_data())
    assert back.info["meas_date"] == raw.info["meas_date"]
    assert _ann(back) == _ann(raw)
    with neo_mef3.Reader(clinical) as a, neo_mef3.Reader(tmp_path / "copy.mefd") as b:
        strip = lambda recs: [(r["time"], r["type"], r.get("text"), r.get("duration")) for r in recs]  # noqa: E731
        assert strip(b.records()) == strip(a.records())
        assert strip(b.records("LA1")) == strip(a.records("LA1"))
        info = b.info("LA1")
        assert (info["low_frequency_filter_setting"], info["high_frequency_filter_setting"],
                info["AC_line_frequency"], info["GMT_offset"]) == (0.5, 300.0, 60.0, -18000)
        assert info["session_description"] == "issue 16" and info["units_description"] == "uV"
        # the gap is a gap again (no samples stored), and a chunked write continued one segment
        assert b.info("LA2")["number_of_samples"] == 8000 and len(b.segments("LA2")) == 1


def test_float_signal_resolution_annotations_and_gap_spans(tmp_path):
    raw = _float_raw()
    summary = write_raw_mef3(raw, tmp_path / "f.mefd")
    steps = {n: c["step"] for n, c in summary["channels"].items()}
    for i, name in enumerate(raw.ch_names):  # 10**-p at most a thousandth of the typical step (uV)
        typical = np.median(np.abs(np.diff(raw.get_data()[i] * 1e6)))
        assert steps[name] <= typical / 1000 < 10 * steps[name]
        assert summary["channels"][name]["rule"] == "signal"
    back = read_raw_mef3(tmp_path / "f.mefd")
    assert back.info["meas_date"] == DATE
    assert _ann(back) == [(1.0, 0.0, "Note: stim", ()), (2.5, 0.5, "EDFA: resp", ()),
                          (4.0, 1.0, "BAD_ACQ_SKIP", ()), (8.0, 0.0, "Note: blink", ("Fp1",))]
    got, want = back.get_data(), raw.get_data()
    assert (got[:, 2000:2500] == 0).all()  # the BAD_ACQ_SKIP span was not stored
    keep = np.r_[0:2000, 2500:6000]
    for i, name in enumerate(raw.ch_names):
        assert np.abs(got[i, keep] - want[i, keep]).max() <= steps[name] * 1e-6 / 2 * (1 + 1e-9)
    with neo_mef3.Reader(tmp_path / "f.mefd") as r:  # 6000 samples, 500 of them not stored
        assert r.info("Fp1")["number_of_samples"] == 5500


def test_edf_source_keeps_its_gain_and_date(tmp_path):
    rng = np.random.default_rng(5)
    n = 256 * 8
    signals = [edfio.EdfSignal(np.cumsum(rng.standard_normal(n)) + rng.normal(0, 20, n), 256, label=f"E{i}",
                               physical_dimension="uV", physical_range=(-3200, 3200)) for i in range(2)]
    edfio.Edf(signals, recording=edfio.Recording(startdate=DATE.date()), starttime=datetime.time(8, 30),
              annotations=[edfio.EdfAnnotation(2.0, 1.25, "seizure")]).write(tmp_path / "s.edf")
    raw = mne.io.read_raw_edf(tmp_path / "s.edf", verbose="error")
    summary = write_raw_mef3(raw, tmp_path / "s.mefd")
    gain = 6400 / 65535  # uV per digital value: physical range / digital range
    for c in summary["channels"].values():
        assert c["rule"] == "grid" and c["precision"] is None and c["step"] == pytest.approx(gain, rel=1e-9)
    back = read_raw_mef3(tmp_path / "s.mefd")
    # EDF's offset (physical_min - digital_min * gain) is half a step: within half a step
    assert np.abs(back.get_data() - raw.get_data()).max() <= gain * 1e-6 / 2 * (1 + 1e-6)
    assert back.info["meas_date"] == raw.info["meas_date"]
    assert _ann(back) == [(2.0, 1.25, "EDFA: seizure", ())]


def test_first_samp_and_a_raw_without_meas_date(tmp_path):
    raw = _float_raw()
    cropped = raw.copy().crop(tmin=2.0)  # first_samp 1000: the data start 2 s after meas_date
    write_raw_mef3(cropped, tmp_path / "c.mefd", precision=4)
    back = read_raw_mef3(tmp_path / "c.mefd")
    assert back.info["meas_date"] == DATE + datetime.timedelta(seconds=2)
    assert back.n_times == cropped.n_times
    np.testing.assert_allclose(back.get_data()[:, 1500:], cropped.get_data()[:, 1500:], rtol=0, atol=0.5e-10)
    assert _ann(back)[-1] == (6.0, 0.0, "Note: blink", ("Fp1",))  # 8 s after meas_date = 6 s after the start
    undated = mne.io.RawArray(raw.get_data(), raw.info.copy(), verbose="error")
    undated.set_meas_date(None)
    with pytest.raises(ValueError, match="no meas_date"):
        write_raw_mef3(undated, tmp_path / "u.mefd")
    start = 1_650_000_000_000_000
    write_raw_mef3(undated, tmp_path / "u.mefd", start_uutc=start)
    with neo_mef3.Reader(tmp_path / "u.mefd") as r:
        assert r.info("Cz")["start_time"] == start


def test_existing_sessions_are_refused_or_replaced_only_when_complete(tmp_path):
    raw = _float_raw()
    target = tmp_path / "x.mefd"
    write_raw_mef3(raw, target, precision=2)
    before = read_raw_mef3(target).get_data()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_raw_mef3(raw, target)
    huge = mne.io.RawArray(raw.get_data() * 1e9, raw.info.copy(), verbose="error")  # kV: too large at 18 digits
    with pytest.raises(ValueError, match="Fp1.*does not fit"):
        write_raw_mef3(huge, target, precision=18, overwrite=True)
    np.testing.assert_array_equal(read_raw_mef3(target).get_data(), before)
    assert sorted(os.listdir(tmp_path)) == ["x.mefd"]  # no temporary directory left behind
    write_raw_mef3(raw, target, precision=3, overwrite=True)
    with neo_mef3.Reader(target) as r:
        assert r.info("Fp1")["units_conversion_factor"] == 0.001


def test_chunks_are_bounded_and_append_to_one_segment(tmp_path):
    raw = _float_raw(n=25_000)
    calls = []
    get_data = raw.get_data

    def spy(*args, **kw):
        calls.append((kw.get("start", 0), kw.get("stop")))
        return get_data(*args, **kw)

    raw.get_data = spy
    write_raw_mef3(raw, tmp_path / "chunked.mefd", precision=3, chunk_bytes=3 * 8 * 5000)
    writes = [c for c in calls if c[1] is not None and c[1] - c[0] <= 5000]
    assert len(writes) == 5 and all(stop - start == 5000 for start, stop in writes)  # 5 chunks of 10 s blocks
    raw.get_data = get_data
    write_raw_mef3(raw, tmp_path / "whole.mefd", precision=3)
    a, b = read_raw_mef3(tmp_path / "chunked.mefd"), read_raw_mef3(tmp_path / "whole.mefd")
    np.testing.assert_array_equal(a.get_data(), b.get_data())
    with neo_mef3.Reader(tmp_path / "chunked.mefd") as r:
        assert len(r.segments("Cz")) == 1
        table = r.block_table("Cz")
        # discontinuities: the first block and the one after the BAD_ACQ_SKIP span, none at chunk joins
        assert np.flatnonzero(table["discontinuity"]).tolist() == [0, int(np.searchsorted(
            table["start_uutc"], r.info("Cz")["start_time"] + 5_000_000))]


def test_encrypted_export(tmp_path):
    raw = _float_raw()
    write_raw_mef3(raw, tmp_path / "e.mefd", precision=3, password1="level1", password2="level2")
    with pytest.raises(neo_mef3.PasswordError):
        read_raw_mef3(tmp_path / "e.mefd")
    back = read_raw_mef3(tmp_path / "e.mefd", password="level2")
    assert len(back.annotations) == 4
    with pytest.warns(neo_mef3.MefWarning, match="level-2"):
        level1 = read_raw_mef3(tmp_path / "e.mefd", password="level1")
    np.testing.assert_array_equal(level1.get_data(), back.get_data())


def test_channels_that_are_no_voltage_keep_their_values(tmp_path):
    info = mne.create_info(["temp", "trig", "ecg"], 100.0, ["misc", "stim", "ecg"])
    data = np.vstack([np.linspace(36.5, 37.25, 1000), np.repeat([0.0, 1.0, 0.0, 4.0], 250),
                      np.sin(np.arange(1000) / 10) * 1e-3])
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_meas_date(DATE)
    summary = write_raw_mef3(raw, tmp_path / "m.mefd")
    assert [c["units"] for c in summary["channels"].values()] == ["", "uV", "uV"]
    with neo_mef3.Reader(tmp_path / "m.mefd") as r:
        np.testing.assert_allclose(r.read("temp"), data[0], rtol=0, atol=summary["channels"]["temp"]["step"] / 2)
    back = read_raw_mef3(tmp_path / "m.mefd")
    assert back.get_channel_types() == ["misc", "seeg", "seeg"]  # no voltage: misc
    np.testing.assert_allclose(back.get_data()[1], data[1], rtol=0, atol=1e-12)


def test_mne_reads_what_we_exported(tmp_path):
    raw = _float_raw()
    raw.set_annotations(None)
    write_raw_mef3(raw, tmp_path / "plain.mefd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = mne.io.read_raw_mef(tmp_path / "plain.mefd", verbose="error")
    ours = read_raw_mef3(tmp_path / "plain.mefd")
    assert ours.ch_names == raw.ch_names  # the Raw's order (acquisition numbers); MNE's reader sorts by name
    assert theirs.ch_names == sorted(raw.ch_names)
    np.testing.assert_allclose(theirs.get_data(picks=ours.ch_names), ours.get_data(), rtol=0, atol=1e-12)
    assert theirs.info["meas_date"] == DATE


def test_every_session_in_the_suite_round_trips(tmp_path, oracle_sessions):
    """Fixtures, our Writer's sessions and every oracle scenario, each rate as its own Raw:
    Raw -> MEF -> Raw gives the same samples, annotations and meas_date."""
    for k, (path, password, fs) in enumerate(ms.suite_rate_groups(oracle_sessions, tmp_path)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = read_raw_mef3(path, password=password, sfreq=fs)
            write_raw_mef3(raw, tmp_path / f"rt{k}.mefd")
            back = read_raw_mef3(tmp_path / f"rt{k}.mefd", sfreq=fs)
        where = f"{path} at {fs} Hz"
        assert back.ch_names == raw.ch_names, where
        assert back.info["meas_date"] == raw.info["meas_date"], where
        if "segment_factors" in path:
            # a channel stored at a factor per segment (0.1 and 0.195) comes back on one grid
            # that holds both (0.005): the same values, each within an ulp of a product
            np.testing.assert_allclose(back.get_data(), raw.get_data(), rtol=4 * np.finfo(float).eps, atol=0,
                                       err_msg=where)
        else:
            np.testing.assert_array_equal(back.get_data(), raw.get_data(), err_msg=where)
        assert _ann(back) == _ann(raw), where


def test_progress_and_cancel(tmp_path):
    raw = _float_raw(n=25_000)
    seen = []
    write_raw_mef3(raw, tmp_path / "p.mefd", precision=3, chunk_bytes=3 * 8 * 5000,
                   progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (75_000, 75_000) and [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 5
    stop = []
    with pytest.raises(CancelledError):
        write_raw_mef3(raw, tmp_path / "c.mefd", precision=3, chunk_bytes=3 * 8 * 5000,
                       progress=lambda done, total: stop.append(done), cancel=lambda: len(stop) >= 2)
    assert sorted(os.listdir(tmp_path)) == ["p.mefd"]  # nothing under the name, no temporary left
