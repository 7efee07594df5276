"""What a new user trips on in ``Reader`` calls (issue 13): several channels in one read,
per-call threads, records of every level, unit slips, progress and cancel.

Values are compared with mef3io's reader (its multi-channel ``read`` returns a 2-D array
on one grid) on the oracle scenario sessions.
"""
import threading
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import CancelledError, MefWarning, RangeError


def _mef3io(path, password=""):
    import mef3io

    return mef3io.Reader(path, password=password) if password else mef3io.Reader(path)


def test_a_list_of_channels_reads_as_mef3io_reads_it(oracle_sessions):
    path = oracle_sessions("segments", "mef3io")
    ref = _mef3io(path)
    try:
        t0, t1 = 1_600_000_001_000_000, 1_600_000_013_000_000
        want = ref.read(["seg", "ref"], t0, t1)
        whole = ref.read(["ref", "seg"])
    finally:
        ref.close()
    with neo_mef3.Reader(path) as r:
        got = r.read(["seg", "ref"], t0, t1)
        assert got.shape == want.shape == (2, 6000)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(r.read(("ref", "seg")), whole)  # default window: the union
        everything = r.read(None, t0, t1)  # None: every channel, sorted by name
        np.testing.assert_array_equal(everything, want[::-1])
        raw = r.read_raw(["seg", "ref"], t0, t1)
        assert raw["samples"].shape == raw["valid"].shape == (2, 6000) and raw["samples"].dtype == np.int32
        assert raw["units_conversion_factor"] == [0.01, 0.01]
        np.testing.assert_array_equal(raw["valid"] == 0, np.isnan(want))
        np.testing.assert_allclose(np.where(raw["valid"] == 1, raw["samples"] * 0.01, np.nan), want, rtol=1e-12)
        # one name still gives one row, as before
        assert r.read("seg", t0, t1).shape == (6000,)


def test_channels_of_different_rates_are_refused_naming_the_rates(oracle_sessions):
    with neo_mef3.Reader(oracle_sessions("multi_rate", "mef3io")) as r:
        with pytest.raises(RangeError, match=r"c1000: 1000 Hz, c250: 250 Hz"):
            r.read(["c1000", "c250"])
        with pytest.raises(RangeError, match="different rates"):
            r.read_raw(None)


def test_threads_per_call_give_the_same_samples(oracle_sessions):
    path = oracle_sessions("odd_blocks", "mef_tools")
    with neo_mef3.Reader(path, n_threads=1) as r:
        one = r.read("b777")
        assert r._pool is None  # the Reader's single thread: no pool
        three = r.read("b777", n_threads=3)
        assert r._pool_size == 3
        np.testing.assert_array_equal(one, three)
        raw1, raw3 = r.read_raw("b13", n_threads=1), r.read_raw("b13", n_threads=4)
        np.testing.assert_array_equal(raw1["samples"], raw3["samples"])


def _view(records):
    return [(x["level"], x["channel"], x["segment"], x["type"], x["time"]) for x in records]


def test_records_of_every_level_in_one_call(oracle_sessions):
    path = oracle_sessions("records", "mef_tools")
    with neo_mef3.Reader(path) as r:
        session, channel = r.records(), r.records("r256")
        everything = r.records(level="all")
        assert _view(everything) == _view(session + channel)
        assert {(x["level"], x["channel"]) for x in everything} == {("session", None), ("channel", "r256")}
        assert _view(r.records(level="channel")) == _view([x for x in channel if x["level"] == "channel"])
        assert _view(r.records(level="session")) == _view(session)
        assert len(session) == 10 and len(channel) == 5  # the scenario's 3 + 7 and 2 + 3
        with pytest.raises(ValueError, match="level must be"):
            r.records(level="segments")


def _slips(call):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = call()
    return out, [str(w.message) for w in got if issubclass(w.category, MefWarning)]


def test_unit_slips_warn_naming_the_recording(oracle_sessions):
    with neo_mef3.Reader(oracle_sessions("segments", "mef3io")) as r:
        x, said = _slips(lambda: r.read("seg", 0, 10))  # seconds given for uUTC
        assert len(x) == 0 and len(said) == 1
        assert "t0=0 (1970-01-01 00:00:00 UTC) and t1=10 (1970-01-01 00:00:00 UTC) are not plausible uUTC times" in said[0]
        assert "lies wholly outside the recording of seg (1600000000000000 .. 1600000014500000 uUTC" in said[0]
        assert "2020-09-13 12:26:40 UTC" in said[0]
        x, said = _slips(lambda: r.read("seg", 1_600_000_100_000_000, 1_600_000_101_000_000))  # after the end
        assert np.isnan(x).all() and len(x) == 500 and len(said) == 1 and "wholly outside" in said[0]
        _, said = _slips(lambda: r.read_raw("seg", 4_200_000_000_000_000, 4_200_000_000_000_010))  # after 2100
        assert len(said) == 1 and "t0=4200000000000000 (" in said[0] and "and t1=" in said[0]
        _, said = _slips(lambda: r.read("seg", 1_600_000_003_000_000, 1_600_000_007_000_000))  # partly in a gap
        assert said == []
        _, said = _slips(lambda: r.read("seg", 0, 10, warn=False))
        assert said == []


def test_progress_and_cancel_of_a_read(oracle_sessions):
    path = oracle_sessions("odd_blocks", "mef3io")
    with neo_mef3.Reader(path, n_threads=2) as r:
        want = r.read(["b777"])
        calls = []
        got = r.read(["b777"], progress=lambda done, total: calls.append((done, total)))
        np.testing.assert_array_equal(got, want)
        # 5800 samples decoded, then the 1200 slots of the gap: the total of the 7 s window
        assert calls[-2:] == [(5800, 7000), (7000, 7000)] and all(t == 7000 for _, t in calls)
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)
        stop = threading.Event()
        stop.set()
        with pytest.raises(CancelledError):
            r.read("b777", cancel=stop)
        with pytest.raises(CancelledError):
            r.read_raw("b13", cancel=lambda: True, n_threads=1)
        np.testing.assert_array_equal(r.read(["b777"]), want)  # still usable


def _many_short_channels(path):
    """12 short channels: gaps, a second segment at another factor, blocks that do not
    line up between channels."""
    rng = np.random.default_rng(3)
    t0 = 1_700_000_000_000_000
    with neo_mef3.Writer(path, overwrite=True, block_length=700) as w:
        for c in range(12):
            x = np.round(rng.normal(0, 40, 9_000 + 37 * c), 1)
            x[1000 + 100 * c : 1500 + 100 * c] = np.nan
            w.write(f"c{c:02d}", x, t0 + 1000 * c, 1000.0, precision=1)
            w.write(f"c{c:02d}", np.round(rng.normal(0, 40, 2_000), 2), t0 + 12_000_000, 1000.0, precision=2,
                    new_segment=True)
    return path


def test_many_channels_decoded_side_by_side_read_as_one_by_one(tmp_path):
    """A list of short channels is decoded one channel per thread: the same samples as
    channel by channel on one thread, progress counted to the total, a cancel stops it."""
    path = _many_short_channels(str(tmp_path / "many.mefd"))
    with neo_mef3.Reader(path, n_threads=3) as r:
        names = r.channels
        t0, t1 = r.info(names[0])["start_time"], max(r.info(c)["end_time"] for c in names)
        one_by_one = np.stack([r.read(c, t0, t1, n_threads=1) for c in names])
        side = r.read(names, t0, t1)
        np.testing.assert_array_equal(side, one_by_one)
        assert np.isnan(side).any() and not np.isnan(side).all()
        raw_one = [r.read_raw(c, t0, t1, n_threads=1) for c in names]
        raw = r.read_raw(names, t0, t1)
        np.testing.assert_array_equal(raw["samples"], np.stack([x["samples"] for x in raw_one]))
        np.testing.assert_array_equal(raw["valid"], np.stack([x["valid"] for x in raw_one]))
        assert raw["units_conversion_factor"] == [x["units_conversion_factor"] for x in raw_one] == [None] * 12
        calls = []
        r.read(names, t0, t1, progress=lambda done, total: calls.append((done, total)))
        n = side.shape[1]
        assert calls[-1] == (12 * n, 12 * n) and [d for d, _ in calls] == sorted(d for d, _ in calls)
        seen = []

        def cancel_after_two():
            seen.append(1)
            return len(seen) > 2

        with pytest.raises(CancelledError):
            r.read(names, t0, t1, cancel=cancel_after_two)
        np.testing.assert_array_equal(r.read(names, t0, t1), one_by_one)  # still usable
