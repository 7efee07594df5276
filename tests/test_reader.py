"""The native Reader against the reference readers (mef3io, pymef) and committed fixtures."""

import threading

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import FormatError, MefError, PasswordError, RangeError, UnknownChannelError
from support.build_oracles import build_with_mef_tools

SCENARIO_WRITERS = [
    ("multi_rate", "mef_tools"),
    ("multi_rate", "mef3io"),
    ("fractional_fs", "mef_tools"),
    ("fractional_fs", "mef3io"),
    ("nan_gaps", "mef_tools"),
    ("nan_gaps", "mef3io"),
    ("short_nan_runs", "mef_tools"),
    ("short_nan_runs", "mef3io"),
    ("segments", "mef_tools"),
    ("segments", "mef3io"),
    ("appends", "mef_tools"),
    ("appends", "mef3io"),
    ("int32_extremes", "mef_tools"),
    ("int32_extremes", "mef3io"),
    ("int32_ufact", "mef3io"),
    ("odd_blocks", "mef_tools"),
    ("odd_blocks", "mef3io"),
    ("encrypted", "mef_tools"),
    ("encrypted", "mef3io"),
    ("records", "mef_tools"),
    ("records", "mef3io"),
    ("records_encrypted", "mef_tools"),
    ("records_encrypted", "mef3io"),
    ("segment_factors", "mef_tools"),
    ("segment_factors", "mef3io"),
]

INFO_KEYS = (
    "sampling_frequency",
    "units_conversion_factor",
    "units_description",
    "start_time",
    "end_time",
    "number_of_samples",
    "recording_time_offset",
    "n_segments",
    "section3_available",
    "subject_name_1",
    "subject_name_2",
    "subject_id",
    "recording_location",
)
SEGMENT_KEYS = ("segment", "start_time", "end_time", "start_sample", "number_of_samples",
                "number_of_blocks", "units_conversion_factor", "path")
TOC_KEYS = ("start_uutc", "start_sample", "number_of_samples", "maximum_sample_value",
            "minimum_sample_value", "discontinuity")


def _same(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _record_view(recs):
    keep = ("type", "time", "text", "duration", "earliest_onset", "latest_offset")
    return [{k: r.get(k) for k in keep if r.get(k) is not None} for r in recs]


@pytest.mark.parametrize("scenario,writer", SCENARIO_WRITERS)
def test_matches_mef3io(oracle_sessions, scenario, writer):
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    ref = oracle_sessions.read(scenario, writer, "mef3io")
    with neo_mef3.Reader(path, password=password) as r:
        assert r.channels == sorted(ref["channels"])
        for ch, want in ref["channels"].items():
            info = r.info(ch)
            for key in INFO_KEYS:
                assert info[key] == want["info"][key], (ch, key)
            got_segments = r.segments(ch)
            assert [{k: s[k] for k in SEGMENT_KEYS} for s in got_segments] == [
                {k: s[k] for k in SEGMENT_KEYS} for s in want["segments"]
            ]
            assert [{k: t[k] for k in TOC_KEYS} for t in r.toc(ch)] == [
                {k: t[k] for k in TOC_KEYS} for t in want["toc"]
            ]
            raw = r.read_raw(ch)
            _same(raw["samples"], want["read_raw"]["samples"])
            _same(raw["valid"], want["read_raw"]["valid"])
            assert raw["start_uutc"] == want["read_raw"]["start_uutc"]
            _same(r.read(ch), want["read"])
            assert _record_view(r.records(ch)) == _record_view(want["records"] or [])
        assert _record_view(r.records()) == _record_view(ref["records"] or [])


@pytest.mark.parametrize("scenario,writer", SCENARIO_WRITERS)
def test_matches_pymef(oracle_sessions, scenario, writer):
    """Whole-channel reads equal pymef's (raw counts x factor) and its stored sample run."""
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    ref = oracle_sessions.read(scenario, writer, "pymef")
    with neo_mef3.Reader(path, password=password) as r:
        for ch, want in ref["channels"].items():
            info = r.info(ch)
            assert info["sampling_frequency"] == want["fs"]
            assert info["number_of_samples"] == want["number_of_samples"]
            assert (info["start_time"], info["end_time"]) == (want["start_time"], want["end_time"])
            if want["data"] is None or len({s["ufact"] for s in want["segments"]}) > 1:
                continue  # pymef cannot read it (see tests/ORACLES.md)
            raw = r.read_raw(ch)
            counts = np.where(raw["valid"] == 1, raw["samples"].astype(np.float64), np.nan)
            _same(counts, want["data"])
            if writer == "mef3io" and len(want["segments"]) > 1:
                continue  # pymef's sample-number reads misplace mef3io's channel-wide start_sample
            stored = raw["samples"][raw["valid"] == 1]
            _same(stored.astype(np.float64), want["samples"])


def _windows(rng, t0, t1, fs, count):
    span = t1 - t0
    out = [(t0, t1), (t0 - 2_000_000, t0 + 1_000_000), (t1 - 1_000_000, t1 + 3_000_000),
           (t0 + span // 3, t0 + span // 3), (t1 + 10, t1 + 5_000_000), (t0 - 5_000_000, t0 - 1)]
    for _ in range(count):
        a = int(rng.integers(t0 - 500_000, t1))
        b = a + int(rng.integers(1, max(2, span // 2)))
        out.append((a, b))
    # starts exactly half a sample off a block's grid
    half = int(round(0.5e6 / fs))
    out.append((t0 + half, t0 + half + 3_000_000))
    return out


@pytest.mark.parametrize("scenario,writer", [
    ("fractional_fs", "mef_tools"), ("nan_gaps", "mef3io"), ("segments", "mef_tools"),
    ("appends", "mef3io"), ("multi_rate", "mef_tools"), ("odd_blocks", "mef3io"),
])
def test_windows_match_mef3io(oracle_sessions, scenario, writer):
    import mef3io
    import warnings

    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    rng = np.random.default_rng(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mef3io.Reader(path, password=password)
    with neo_mef3.Reader(path, password=password, n_threads=2) as r:
        for ch in r.channels:
            info = r.info(ch)
            for a, b in _windows(rng, info["start_time"], info["end_time"], info["sampling_frequency"], 25):
                got = r.read_raw(ch, a, b)
                want = ref.read_raw(ch, a, b)
                _same(got["samples"], want["samples"])
                _same(got["valid"], want["valid"])
                _same(r.read(ch, a, b), ref.read(ch, a, b))
    ref.close()


@pytest.mark.parametrize("name", ["plain", "plain_mef3io", "encrypted", "encrypted_mef3io"])
def test_committed_fixtures(fixture_data, name):
    exp = fixture_data(name)
    password = exp["password2"] or ""
    with neo_mef3.Reader(exp["path"], password=password) as r:
        assert r.channels == exp["channel_names"]
        for ch, want in exp["channels"].items():
            info = r.info(ch)
            assert info["sampling_frequency"] == want["fs"]
            assert info["units_conversion_factor"] == want["ufact"]
            assert info["units_description"] == want["units"]
            assert (info["start_time"], info["end_time"]) == (want["start_time"], want["end_time"])
            assert info["number_of_samples"] == want["number_of_samples"]
            assert info["n_segments"] == want["n_segments"]
            segs = r.segments(ch)
            for got, w in zip(segs, want["segments"]):
                for key, value in w.items():
                    assert got[key] == value, (ch, key)
            raw = r.read_raw(ch)
            _same(raw["samples"], want["raw_samples"])
            _same(raw["valid"].astype(bool), want["raw_valid"])
            _same(r.read(ch), want["data"])
            toc = r.toc(ch)
            _same([t["start_uutc"] for t in toc], want["block_start_times"])
            _same([t["number_of_samples"] for t in toc], want["block_samples"])
            _same([t["discontinuity"] for t in toc], want["block_discontinuity"])
        assert _record_view(r.records()) == _record_view(exp["records"])


@pytest.mark.parametrize("name", ["encrypted", "encrypted_mef3io"])
def test_password_levels(fixture_data, name):
    exp = fixture_data(name)
    full = {}
    with neo_mef3.Reader(exp["path"], password=exp["password2"]) as r:
        ch = r.channels[0]
        assert r.info(ch)["section3_available"] is True
        full = {c: r.read_raw(c)["samples"] for c in r.channels}
        assert r.records() is not None
    with neo_mef3.Reader(exp["path"], password=exp["password1"]) as r:
        info = r.info(ch)
        assert info["section3_available"] is False
        for key in ("subject_name_1", "subject_name_2", "subject_id", "recording_location",
                    "recording_time_offset", "GMT_offset"):
            assert info[key] is None
        assert info["sampling_frequency"] == exp["channels"][ch]["fs"]
        for c in r.channels:  # level 1 reads every sample
            _same(r.read_raw(c)["samples"], full[c])
        with pytest.raises(PasswordError):
            r.records()
    for bad in ("Zq9xK", "", "pass1pass1pass1x"):
        with pytest.raises(PasswordError) as exc:
            neo_mef3.Reader(exp["path"], password=bad)
        if bad:
            assert bad not in str(exc.value)


def test_thread_counts_give_identical_output(oracle_sessions):
    path = oracle_sessions("segments", "mef_tools")
    outs = []
    for n in (1, 2, 0):
        with neo_mef3.Reader(path, n_threads=n) as r:
            outs.append([r.read_raw(ch)["samples"] for ch in r.channels])
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            _same(a, b)


def test_concurrent_reads_share_one_reader(oracle_sessions):
    path = oracle_sessions("nan_gaps", "mef3io")
    with neo_mef3.Reader(path, n_threads=2) as r:
        ch = r.channels[0]
        want = r.read(ch)
        results, errors = [], []

        def work():
            try:
                for _ in range(5):
                    results.append(r.read(ch))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(results) == 20
        for x in results:
            _same(x, want)


def test_bad_arguments(fixture_data):
    exp = fixture_data("plain")
    with neo_mef3.Reader(exp["path"]) as r:
        with pytest.raises(UnknownChannelError) as exc:
            r.info("nope")
        assert isinstance(exc.value, KeyError) and "nope" in str(exc.value)
        ch = r.channels[0]
        t0 = r.info(ch)["start_time"]
        with pytest.raises(RangeError):
            r.read(ch, t0 + 10, t0)
        with pytest.raises(RangeError):
            r.read(ch, t0, t0 + 10**17)  # absurd allocation refused
        assert len(r.read(ch, t0, t0)) == 0
    with pytest.raises(FormatError):
        neo_mef3.Reader(exp["path"] + "-missing")
    with pytest.raises(MefError):
        r.read(ch)  # closed


@pytest.mark.parametrize("scenario", ["records", "records_encrypted"])
def test_every_record_type_matches_pymef(oracle_sessions, scenario):
    """pymef writes all nine record types; every decoded field must equal pymef's reading."""
    path = oracle_sessions(scenario, "mef_tools")
    password = oracle_sessions.scenario(scenario).read_password or ""
    ref = oracle_sessions.read(scenario, "mef_tools", "pymef")
    with neo_mef3.Reader(path, password=password) as r:
        levels = [(None, ref["records"])] + [(ch, ref["channels"][ch]["records"]) for ch in r.channels]
        seen = set()
        for ch, want in levels:
            got = r.records(ch)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                seen.add(w["type"])
                for key, value in w.items():
                    if key == "template":
                        assert g[key].tolist() == list(value)
                    else:
                        assert g[key] == value, (w["type"], key)
        assert seen >= {"Note", "SyLg", "EDFA", "Seiz", "CSti", "ESti", "Curs", "Epoc", "LNTP"}


def test_meflib_rounding_matches_pymef_at_half_sample_starts(tmp_path, oracles_installed):
    """At 1 kHz half a sample is 500 us: windows starting there put blocks on exact halves."""
    from pymef.mef_session import MefSession

    t0 = 1_600_000_000_000_000
    x = np.round(np.random.default_rng(3).normal(size=5000) * 50, 1)
    x[2200:3400] = np.nan  # a real gap (longer than fs samples)
    path = build_with_mef_tools(
        str(tmp_path / "half.mefd"),
        [{"name": "c", "fs": 1000.0, "start_uutc": t0, "data": x, "precision": 1, "block_len": 1000}],
    )
    s = MefSession(path, None)
    try:
        with neo_mef3.Reader(path, rounding="meflib") as r, neo_mef3.Reader(path) as nearest:
            shifted = 0
            for a in (t0 + 500, t0 + 1500, t0 + 250_500, t0 + 3_400_500, t0 - 499_500):
                b = a + 4_000_000
                want = np.asarray(s.read_ts_channels_uutc("c", [a, b]), np.float64)
                raw = r.read_raw("c", a, b)
                got = np.where(raw["valid"] == 1, raw["samples"].astype(np.float64), np.nan)
                _same(got[: len(want)], want)
                other = nearest.read_raw("c", a, b)
                shifted += not np.array_equal(other["samples"], raw["samples"])
            assert shifted > 0  # the two rules really differ on exact halves
    finally:
        s.close()
    with pytest.raises(ValueError):
        neo_mef3.Reader(path, rounding="up")


@pytest.mark.parametrize("scenario,writer", [("segments", "mef_tools"), ("appends", "mef_tools"),
                                             ("encrypted", "mef3io")])
def test_read_samples_many_equals_one_call_each(oracle_sessions, scenario, writer):
    """read_samples_many (channels decoded side by side on the threads) gives what one
    read_samples call per request gives, into given columns too; a bad request raises
    before anything is decoded."""
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    rng = np.random.default_rng(3)
    with neo_mef3.Reader(path, password=password, n_threads=2) as r:
        totals = {ch: r.info(ch)["number_of_samples"] for ch in r.channels}
        requests = []
        for _ in range(4):
            for ch, total in totals.items():
                a = int(rng.integers(0, total))
                requests.append((ch, a, int(rng.integers(a, total + 1)), None))
        want = [r.read_samples(ch, a, b) for ch, a, b, _ in requests]
        for got, w in zip(r.read_samples_many(requests), want):
            _same(got, w)
        n = min(b - a for _, a, b, _ in requests)
        grid = np.full((n, len(requests)), -7, np.int32, order="F")
        cols = [(ch, a, a + n, grid[:, k]) for k, (ch, a, _, _) in enumerate(requests)]
        got = r.read_samples_many(cols, return_valid=True)
        for k, ((ch, a, b, col), (samples, valid)) in enumerate(zip(cols, got)):
            assert samples is col and valid.all()
            _same(grid[:, k], r.read_samples(ch, a, b))
        assert r.read_samples_many([]) == []
        before = r.blocks_decoded
        with pytest.raises(RangeError):
            r.read_samples_many(requests[:3] + [(requests[0][0], 0, totals[requests[0][0]] + 1, None)])
        with pytest.raises(UnknownChannelError):
            r.read_samples_many([("no such channel", 0, 1, None)] + requests[:3])
        assert r.blocks_decoded == before


@pytest.mark.parametrize("rounding", ["nearest", "meflib"])
@pytest.mark.parametrize("scenario,writer", [("segments", "mef_tools"), ("nan_gaps", "mef3io"),
                                             ("appends", "mef_tools"), ("encrypted", "mef3io")])
def test_read_grid_pieces_equal_the_whole_window(oracle_sessions, scenario, writer, rounding):
    """read_grid(t0, a, b) is read(t0, t1)[a:b] (and read_raw's), for pieces that cut
    blocks anywhere, start before the recording and run past its end."""
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    rng = np.random.default_rng(5)
    with neo_mef3.Reader(path, password=password, rounding=rounding) as r:
        for ch in r.channels:
            info = r.info(ch)
            fs = info["sampling_frequency"]
            t0 = info["start_time"] - int(rng.integers(0, 3_000_000)) + 7  # (off the blocks' grid)
            t1 = info["end_time"] + 2_000_000
            whole = r.read(ch, t0, t1)
            raw = r.read_raw(ch, t0, t1)
            n = len(whole)
            assert n == int(np.floor((t1 - t0) * fs / 1e6 + 0.5))
            cuts = np.unique(np.concatenate(([0, n], rng.integers(0, n, 6))))
            pieces = [r.read_grid(ch, t0, a, b) for a, b in zip(cuts[:-1], cuts[1:])]
            _same(np.concatenate(pieces), whole)
            for _ in range(6):
                a = int(rng.integers(0, n))
                b = int(rng.integers(a, n + 1))
                _same(r.read_grid(ch, t0, a, b), whole[a:b])
                counts, valid = r.read_grid(ch, t0, a, b, raw=True)
                assert counts.dtype == np.int32 and valid.dtype == np.uint8
                _same(counts, raw["samples"][a:b])
                _same(valid, raw["valid"][a:b])
            assert np.isnan(r.read_grid(ch, t0, n + 5, n + 9)).all()  # (past the end: gaps)
            assert r.read_grid(ch, t0, 4, 4).shape == (0,)
            with pytest.raises(RangeError, match=repr(ch)):
                r.read_grid(ch, t0, 5, 4)
            with pytest.raises(RangeError):
                r.read_grid(ch, t0, -1, 4)
        with pytest.raises(UnknownChannelError):
            r.read_grid("no such channel", 0, 0, 1)


@pytest.mark.parametrize("scenario,writer", [("segments", "mef_tools"), ("nan_gaps", "mef3io"),
                                             ("appends", "mef_tools"), ("encrypted", "mef3io")])
def test_read_samples_by_stored_number(oracle_sessions, scenario, writer):
    """Stored-sample reads equal the valid samples of the gridded read, for any sub-range."""
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    rng = np.random.default_rng(11)
    with neo_mef3.Reader(path, password=password) as r:
        for ch in r.channels:
            raw = r.read_raw(ch)
            stored = raw["samples"][raw["valid"] == 1]
            total = r.info(ch)["number_of_samples"]
            assert len(stored) == total
            _same(r.read_samples(ch), stored)
            table = r.block_table(ch)
            assert table["number_of_samples"].sum() == total
            assert table["first_sample"][0] == 0
            _same(table["start_uutc"], [t["start_uutc"] for t in r.toc(ch)])
            grid = np.full((total, 3), -7, np.int32, order="F")  # (columns: where neo chunks decode into)
            for _ in range(20):
                a = int(rng.integers(0, total))
                b = int(rng.integers(a, total + 1))
                _same(r.read_samples(ch, a, b), stored[a:b])
                column = grid[: b - a, 1]
                assert r.read_samples(ch, a, b, out=column) is column
                _same(column, stored[a:b])
                assert (grid[:, [0, 2]] == -7).all()  # (nothing written beside it)
            with pytest.raises(RangeError):
                r.read_samples(ch, 0, total + 1)
            with pytest.raises(RangeError):
                r.read_samples(ch, 5, 4)
            for bad in (np.zeros(total, np.int64), np.zeros(total + 1, np.int32), np.zeros((total, 2), np.int32)[:, 0],
                        np.zeros(total, np.int32)[::-1].copy().view(np.uint32)):
                with pytest.raises(ValueError):
                    r.read_samples(ch, 0, total, out=bad)
