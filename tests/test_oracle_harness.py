"""Smoke tests of the oracle harness: the reference implementations agree with
each other on the scenarios, and the behaviours ORACLES.md documents hold.

Everything except ``test_committed_fixture_is_self_consistent`` needs the
oracles (pymef, mef_tools, mef3io) and is skipped without them.
"""
from __future__ import annotations

import numpy as np
import pytest

from support.build_oracles import PYMEF_RECORD_TYPES, build_with_mef3io
from support.compare import records_summary, same_samples
from support.grid_model import grid_model_read
from support.quiet import quiet
from support.read_oracles import read_mef3io, read_pymef
from support.scenarios import T0, WRITERS, Channel

AGREE = ["multi_rate", "fractional_fs", "nan_gaps", "segments", "appends", "int32_extremes",
         "odd_blocks", "encrypted", "records", "records_encrypted"]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("name", AGREE)
def test_readers_agree(oracle_sessions, name, writer):
    sc = oracle_sessions.scenario(name)
    pm = oracle_sessions.read(name, writer, "pymef")
    m3 = oracle_sessions.read(name, writer, "mef3io")
    mt = oracle_sessions.read(name, writer, "mef_tools")
    assert not pm["errors"] and not m3["errors"]
    assert sorted(pm["channels"]) == sorted(m3["channels"]) == sorted(mt["channels"]) \
        == sorted(c.name for c in sc.channels)
    for spec in sc.channels:
        p, m = pm["channels"][spec.name], m3["channels"][spec.name]
        info = m["info"]
        assert p["fs"] == info["sampling_frequency"] == spec.fs
        assert p["ufact"] == info["units_conversion_factor"] == spec.factor
        assert (p["start_time"], p["end_time"]) == (info["start_time"], info["end_time"])
        assert p["number_of_samples"] == info["number_of_samples"]
        assert len(p["segments"]) == info["n_segments"] == 1 + sum(w.new_segment for w in spec.appends)
        # data on the grid: pymef (raw counts) * ufact == mef3io read == MefReader.get_data
        assert same_samples(p["data_scaled"], m["read"])
        assert same_samples(mt["data"][spec.name], m["read"])
        n = round((info["end_time"] - info["start_time"]) * spec.fs / 1e6)
        assert len(m["read"]) == n
        # the stored counts are exactly the spec's (exact_decimal / int32 data)
        raw = m["read_raw"]
        stored = raw["samples"][raw["valid"].astype(bool)]
        want = np.concatenate([
            (w.data.astype(np.int64) if spec.is_int
             else np.rint(w.float_data() * 10 ** spec.precision))[~np.isnan(w.float_data())]
            for w in spec.writes()])
        assert np.array_equal(stored, want)
        assert records_summary(p["records"]) == records_summary(m["records"])
    assert records_summary(pm["records"]) == records_summary(m3["records"])


@pytest.mark.parametrize("name", ["nan_gaps", "segments", "encrypted", "records"])
def test_writers_agree(oracle_sessions, name):
    a = oracle_sessions.read(name, "mef_tools", "mef3io")
    b = oracle_sessions.read(name, "mef3io", "mef3io")
    for ch in a["channels"]:
        assert same_samples(a["channels"][ch]["read"], b["channels"][ch]["read"])
    assert records_summary(a["records_all"]) == records_summary(b["records_all"])


def test_records_of_every_type(oracle_sessions):
    for writer in WRITERS:
        m3 = oracle_sessions.read("records", writer, "mef3io")
        types = sorted({r["type"] for r in m3["records"]})
        assert types == sorted(PYMEF_RECORD_TYPES)
        assert sorted(r["type"] for r in m3["channels"]["r256"]["records"]) == \
            ["Curs", "EDFA", "Epoc", "Note", "Seiz"]
        lntp = [r for r in m3["records"] if r["type"] == "LNTP"][0]
        assert lntp["length"] == 5 and list(lntp["template"]) == [1, -2, 3, -4, 5]
        pm = oracle_sessions.read("records", writer, "pymef")
        assert [r["template"] for r in pm["records"] if r["type"] == "LNTP"] == [[1, -2, 3, -4, 5]]


def test_short_nan_runs_are_writer_dependent(oracle_sessions):
    mt = oracle_sessions.read("short_nan_runs", "mef_tools", "mef3io")["channels"]["s1000"]
    m3 = oracle_sessions.read("short_nan_runs", "mef3io", "mef3io")["channels"]["s1000"]
    # mef_tools: runs shorter than fs samples are stored as 0-valued samples
    assert mt["info"]["number_of_samples"] == 5000 and not np.isnan(mt["read"]).any()
    assert mt["read"][500] == 0.0 and (mt["read"][3000:3300] == 0).all()
    # mef3io: every NaN run is a gap
    assert m3["info"]["number_of_samples"] == 5000 - 1 - 10 - 300
    assert np.isnan(m3["read"][3000:3300]).all() and np.isnan(m3["read"][500])


def test_tidx_start_sample_convention(oracle_sessions):
    """meflib (mef_tools) stores segment-relative block start samples, mef3io
    channel-wide ones; pymef's sample-mode read relies on the former."""
    mt = oracle_sessions.read("segments", "mef_tools", "pymef")["channels"]["seg"]["segments"]
    m3 = oracle_sessions.read("segments", "mef3io", "pymef")["channels"]["seg"]["segments"]
    for segs in (mt, m3):
        assert [s["start_sample"] for s in segs] == [0, 2000, 3000]
    assert [int(s["block_start_samples"][0]) for s in mt] == [0, 0, 0]
    assert [int(s["block_start_samples"][0]) for s in m3] == [0, 2000, 3000]
    raw = oracle_sessions.read("segments", "mef3io", "mef3io")["channels"]["seg"]["read_raw"]
    stored = raw["samples"][raw["valid"].astype(bool)]
    good = oracle_sessions.read("segments", "mef_tools", "pymef")["channels"]["seg"]["samples"]
    bad = oracle_sessions.read("segments", "mef3io", "pymef")["channels"]["seg"]["samples"]
    assert same_samples(good, stored)
    assert not same_samples(bad, stored)


def test_encrypted_access_levels(oracle_sessions):
    import mef3io

    for writer in WRITERS:
        path = oracle_sessions.get("encrypted", writer)
        full = oracle_sessions.read("encrypted", writer, "mef3io")
        l1 = read_mef3io(path, "pass1")
        for ch in full["channels"]:
            assert same_samples(l1["channels"][ch]["read"], full["channels"][ch]["read"])
            assert l1["channels"][ch]["info"]["section3_available"] is False
            assert full["channels"][ch]["info"]["section3_available"] is True
        if writer == "mef_tools":  # pymef stores record bodies unencrypted
            assert records_summary(l1["records"]) == records_summary(full["records"])
        else:  # mef3io encrypts them with the level-2 key
            assert l1["records"] is None and "PasswordError" in l1["errors"]["records"]
        # pymef with the level-1 password: opens, but section 2 stays ciphertext
        p1 = read_pymef(path, "pass1")
        assert all(p1["channels"][ch]["fs"] != full["channels"][ch]["info"]["sampling_frequency"]
                   for ch in full["channels"])
        for bad in ("", "wrong"):
            with pytest.raises(mef3io.PasswordError):
                read_mef3io(path, bad)
            with pytest.raises(RuntimeError, match="password"):
                read_pymef(path, bad or None)


@pytest.fixture(scope="module")
def ramp_session(oracles_installed, tmp_path_factory):
    """1000 Hz, block 777, value = sample index + 1, one 1005-sample gap."""
    x = np.arange(6000, dtype=float) + 1
    x[3000:4005] = np.nan
    path = tmp_path_factory.mktemp("grid") / "ramp.mefd"
    build_with_mef3io(path, [Channel("r", 1000.0, T0, x, precision=0, block_len=777)])
    return str(path)


def _first_index(a):
    return None if np.isnan(a[0]) else int(a[0]) - 1


@pytest.mark.parametrize("offset_us, m3_first, pm_first", [
    (0, 0, 0), (250, 0, 0),
    (500, 1, 1),          # tie inside block 0 (x = -0.5): both round toward -inf
    (5500, 6, 6),
    (776_500, 777, None),  # tie at the block 0/1 boundary: pymef leaves a NaN hole
    (777_500, 778, 778),
])
def test_grid_tie_rules(ramp_session, offset_us, m3_first, pm_first):
    import mef3io
    from pymef.mef_session import MefSession

    a, b = T0 + offset_us, T0 + offset_us + 20_000
    with mef3io.Reader(ramp_session) as r:
        m3 = r.read("r", a, b)
    with quiet():
        pm = MefSession(ramp_session, None).read_ts_channels_uutc("r", [a, b])
    assert len(m3) == len(pm) == 20
    assert _first_index(m3) == m3_first
    assert _first_index(pm) == pm_first


@pytest.mark.parametrize("session, channel", [
    ("ramp", "r"), ("segments/mef_tools", "seg"), ("segments/mef3io", "seg"),
    ("fractional_fs/mef_tools", "frac"), ("fractional_fs/mef3io", "frac"),
    ("multi_rate/mef3io", "c2048"), ("odd_blocks/mef_tools", "b13"),
])
def test_grid_model_matches_both_readers(ramp_session, oracle_sessions, session, channel):
    """Sample k of a block starting at uUTC ``bt`` lands at
    ``grid_index(bt, t0) + k``: mef3io ties toward -inf, pymef ties away from 0
    (``support.grid_model.grid_model_read``), for windows starting anywhere."""
    import mef3io
    from pymef.mef_session import MefSession

    if session == "ramp":
        path = ramp_session
    else:
        name, writer = session.split("/")
        path = oracle_sessions.get(name, writer)
    rng = np.random.default_rng(0)
    with quiet(), mef3io.Reader(path) as r:
        s = MefSession(path, None)
        info = r.info(channel)
        fs, start, end = info["sampling_frequency"], info["start_time"], info["end_time"]
        toc = r.toc(channel)
        bt = [b["start_uutc"] for b in toc]
        bn = [b["number_of_samples"] for b in toc]
        raw = r.read_raw(channel)
        vals = raw["samples"][raw["valid"].astype(bool)]
        period = 1e6 / fs
        # random starts, plus exact and near half-sample offsets from block starts
        # (windows entirely outside the channel are a separate quirk, see below)
        starts = [int(v) for v in rng.integers(start - 3 * int(period), end - 5 * int(period), 30)]
        for b in bt[:4]:
            starts += [b + int(np.floor(period / 2)), b + int(np.ceil(period / 2)),
                       b - int(np.floor(period / 2)), b - int(np.ceil(period / 2))]
        for a in starts:
            b = a + int(rng.integers(5 * int(period), max(6 * int(period), end - a)))
            got_raw = r.read_raw(channel, a, b)
            got_m3 = np.where(got_raw["valid"].astype(bool), got_raw["samples"], np.nan)
            got_pm = s.read_ts_channels_uutc(channel, [a, b])
            assert same_samples(got_m3, grid_model_read(bt, bn, vals, fs, a, b, "mef3io")), \
                ("mef3io", a - start, b - a)
            assert same_samples(got_pm, grid_model_read(bt, bn, vals, fs, a, b, "pymef")), \
                ("pymef", a - start, b - a)


def test_window_outside_channel(ramp_session):
    """pymef returns None for a window entirely outside the channel and
    read_ts_channels_uutc then makes an all-NaN array of TRUNCATED length;
    mef3io returns round(...) NaNs."""
    import mef3io
    from pymef.mef_session import MefSession

    a, b = T0 + 7_000_000, T0 + 7_005_600  # 5.6 samples, after the end
    with mef3io.Reader(ramp_session) as r:
        m3 = r.read("r", a, b)
    with quiet():
        pm = MefSession(ramp_session, None).read_ts_channels_uutc("r", [a, b])
    assert len(m3) == 6 and np.isnan(m3).all()
    assert len(pm) == 5 and np.isnan(pm).all()


def test_committed_fixture_matches_oracles(oracles_installed, fixture_data):
    for name in ("plain", "plain_mef3io", "encrypted", "encrypted_mef3io"):
        exp = fixture_data(name)
        m3 = read_mef3io(exp["path"], exp["password2"] or "")
        assert sorted(m3["channels"]) == exp["channel_names"]
        for ch, e in exp["channels"].items():
            got = m3["channels"][ch]
            assert same_samples(got["read"], e["data"])
            assert np.array_equal(got["read_raw"]["samples"], e["raw_samples"])
            assert got["info"]["number_of_samples"] == e["number_of_samples"]


def test_committed_fixture_is_self_consistent(fixture_data):
    """No oracle needed: the committed expected values hang together."""
    for name in ("plain", "plain_mef3io", "encrypted", "encrypted_mef3io"):
        exp = fixture_data(name)
        for ch, e in exp["channels"].items():
            valid = e["raw_valid"]
            assert len(e["data"]) == len(e["raw_samples"]) == len(valid) == e["n_read"]
            assert np.array_equal(np.isnan(e["data"]), ~valid)
            assert np.array_equal(e["raw_samples"][valid], e["stored_samples"])
            assert np.array_equal(e["data"][valid], e["stored_samples"] * e["ufact"])
            assert len(e["stored_samples"]) == e["number_of_samples"] == e["block_samples"].sum()
            assert sum(s["number_of_samples"] for s in e["segments"]) == e["number_of_samples"]
