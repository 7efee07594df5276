"""neo_mef3.dask in one process: to_dask / to_dask_groups / to_xarray equal the Reader's
read/read_raw exactly on every session the suite has (committed fixtures, our Writer's
sessions, the oracle scenarios), chunks end between RED blocks, and the Reader cache.

Distributed computation (worker processes, a killed worker) is in test_dask_distributed.py;
pickling and password handling in test_dask_secrets.py.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("xarray")

import neo_mef3  # noqa: E402
from neo_mef3 import dask as nd  # noqa: E402
from neo_mef3.errors import MefError, MixedRatesError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
T0 = 1_700_000_000_000_000
FIXTURES = {"plain": None, "encrypted": "pass1", "plain_mef3io": None, "encrypted_mef3io": "pass2"}

pytestmark = pytest.mark.timeout(300)


def _gappy(x, rng, runs):
    x = x.copy()
    for _ in range(runs):
        a = int(rng.integers(0, len(x) - 1))
        x[a : a + int(rng.integers(1, len(x) // 8))] = np.nan
    return x


def write_rich_session(path, password1="", password2=""):
    """Our Writer's session with what the grid and the chunking must get right: gaps,
    a second segment at another conversion factor, block lengths that do not line up,
    a fractional rate whose blocks start off the microsecond grid, a second rate."""
    rng = np.random.default_rng(11)
    with neo_mef3.Writer(path, overwrite=True, password1=password1, password2=password2, block_length=1000) as w:
        for c in ("a", "b"):
            w.write(c, _gappy(np.round(rng.normal(0, 30, 40_000), 2), rng, 3), T0, 1000.0, precision=2)
            w.write(c, np.round(rng.normal(0, 30, 9_000), 3), T0 + 43_000_000, 1000.0, precision=3,
                    new_segment=True)
    with neo_mef3.Writer(path, password1=password1, password2=password2, block_length=777) as w:
        w.write("c", _gappy(np.round(rng.normal(0, 30, 45_000), 1), rng, 2), T0 + 1_234, 1000.0, precision=1)
    with neo_mef3.Writer(path, password1=password1, password2=password2, block_length=500) as w:
        w.write("f", np.round(rng.normal(0, 30, 20_000), 2), T0 + 333, 499.907, precision=2)
        w.write("s", _gappy(np.round(rng.normal(0, 30, 12_000), 2), rng, 1), T0, 256.0, precision=2)
    return path


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    return write_rich_session(str(tmp_path_factory.mktemp("dask") / "rich.mefd"))


def assert_exact(path, password=None, chunk_seconds=None, windows=(), reader_kw=None):
    """Every group and window of to_dask equals Reader.read / read_raw row by row."""
    reader = neo_mef3.Reader(path, password=password or "", **(reader_kw or {}))
    session = reader if reader_kw else path
    pw = None if reader_kw else password
    groups = nd.to_dask_groups(session, chunk_seconds=chunk_seconds, password=pw)
    assert sorted(c for g in groups.values() for c in g.channels) == sorted(reader.channels)
    for fs, g in groups.items():
        spans = [(None, None)] + list(windows)
        for start, end in spans:
            if start is None:
                x, t0, t1 = g.data, g.start_uutc, g.end_uutc
            else:
                t0, t1 = g.start_uutc + start, g.start_uutc + end
                x = nd.to_dask(session, g.channels, t0, t1, chunk_seconds=chunk_seconds, password=pw)
            got = x.compute(scheduler="sync")
            raw, valid = nd.to_dask(session, g.channels, t0, t1, dtype="int32", chunk_seconds=chunk_seconds,
                                    password=pw)
            raw, valid = dask.compute(raw, valid, scheduler="threads")
            for i, c in enumerate(g.channels):
                want = reader.read(c, t0, t1)
                assert got[i].shape == want.shape, (path, c, start)
                assert np.array_equal(got[i], want, equal_nan=True), (path, c, fs, start, end, chunk_seconds)
                want_raw = reader.read_raw(c, t0, t1)
                assert np.array_equal(raw[i], want_raw["samples"]), (path, c, start)
                assert np.array_equal(valid[i], want_raw["valid"]), (path, c, start)
    reader.close()
    return groups


def test_import_neo_mef3_does_not_import_dask(tmp_path):
    code = "import sys, neo_mef3; bad = [m for m in ('dask', 'distributed', 'xarray') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("chunk_seconds", [None, 0.37, 2.0])
def test_fixtures_exact(name, chunk_seconds, fixture_data):
    path = fixture_data(name)["path"]
    assert_exact(path, FIXTURES[name], chunk_seconds, windows=[(-1_000_003, 1_777_777), (123_457, 2_345_679)])


@pytest.mark.parametrize("chunk_seconds", [None, 0.5, 3.3, 7.0])
def test_writer_session_exact(rich, chunk_seconds):
    groups = assert_exact(rich, None, chunk_seconds, windows=[(-500_001, 3_000_000), (41_999_999, 44_123_457)])
    assert set(groups) == {256.0, 499.907, 1000.0}
    assert groups[1000.0].channels == ("a", "b", "c")
    # the second segment's factor (1e-3) and the first's (1e-2) are both in the data
    x = groups[1000.0].data[0].compute()
    assert np.nanmax(np.abs(x[:40_000] * 100 - np.round(x[:40_000] * 100))) < 1e-9
    assert np.nanmax(np.abs(x[43_000:] * 1000 - np.round(x[43_000:] * 1000))) < 1e-9


def test_encrypted_writer_session_exact(tmp_path):
    path = write_rich_session(str(tmp_path / "enc.mefd"), "p-one", "p-two")
    assert_exact(path, "p-one", 1.3, windows=[(2_000_001, 9_000_000)])
    with pytest.raises(neo_mef3.PasswordError):
        nd.to_dask(path, ["a"], password="wrong")


def test_a_reader_as_session_keeps_its_rounding(rich):
    # rounding="meflib" places exact halves elsewhere: the array follows the Reader given
    assert_exact(rich, None, 0.9, windows=[(1_500, 2_001_500)], reader_kw={"rounding": "meflib"})


def test_random_windows_and_chunks(rich):
    rng = np.random.default_rng(5)
    reader = neo_mef3.Reader(rich)
    for _ in range(12):
        c = ["a", "b", "c"][: int(rng.integers(1, 4))]
        t0 = T0 + int(rng.integers(-3_000_000, 50_000_000))
        t1 = t0 + int(rng.integers(0, 20_000_000))
        cs = [None, float(rng.uniform(0.05, 9.0))][int(rng.integers(0, 2))]
        got = nd.to_dask(reader, c, t0, t1, chunk_seconds=cs).compute()
        for i, name in enumerate(c):
            assert np.array_equal(got[i], reader.read(name, t0, t1), equal_nan=True), (name, t0, t1, cs)


def test_oracle_scenarios_exact(oracle_sessions):
    from support.scenarios import SCENARIOS

    checked = 0
    for name in SCENARIOS:
        sc = oracle_sessions.scenario(name)
        for writer in sc.writers:
            path = oracle_sessions(name, writer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert_exact(path, sc.read_password, None, windows=[(123_457, 2_345_679), (-1_000_001, 777_777)])
                assert_exact(path, sc.read_password, 0.61)
            checked += 1
    assert checked >= 15


def _straddled(reader, g):
    """Chunk boundaries of group g that fall strictly inside a block of some channel."""
    bad = []
    for c in g.channels:
        t = reader.block_table(c)
        pos = nd.grid_positions(t["start_uutc"], g.start_uutc, g.sampling_frequency)
        for cut in g.chunk_bounds[1:-1]:
            if ((pos < cut) & (pos + t["number_of_samples"] > cut)).any():
                bad.append((c, int(cut)))
    return bad


def test_default_chunks_follow_blocks(rich, tmp_path, monkeypatch):
    reader = neo_mef3.Reader(rich)
    groups = nd.to_dask_groups(rich)
    for g in groups.values():
        if g.channels != ("a", "b", "c"):  # (c's 777-sample blocks cannot line up with a's and b's)
            assert _straddled(reader, g) == []
    # a long aligned session: chunks of about DEFAULT_CHUNK_SAMPLES, whole blocks, none split
    path = str(tmp_path / "long.mefd")
    rng = np.random.default_rng(1)
    with neo_mef3.Writer(path, overwrite=True, block_length=3000) as w:
        for c in ("x", "y"):
            x = np.round(rng.normal(0, 9, 3_500_000), 1)
            x[2_000_000:2_100_000] = np.nan
            w.write(c, x, T0, 1000.0, precision=1)
    monkeypatch.setattr(nd, "DEFAULT_CHUNK_SAMPLES", 1 << 20)  # (several chunks of a short session)
    g = nd.to_dask_groups(path)[1000.0]
    sizes = np.array(g.data.chunks[1])
    assert len(sizes) >= 3 and sizes.max() <= 2 * nd.DEFAULT_CHUNK_SAMPLES
    assert (sizes[:-1] % 3000 == 0).all()  # whole blocks (the gap is a multiple of 3000 too)
    assert _straddled(neo_mef3.Reader(path), g) == []
    assert g.data.numblocks == (2, len(sizes))


def test_a_short_chunk_size_splits_blocks_and_stays_exact(rich):
    reader = neo_mef3.Reader(rich)
    x = nd.to_dask(reader, ["a"], chunk_seconds=0.25)  # 250 samples: 1000-sample blocks split
    assert set(x.chunks[1][:-1]) == {250} and 0 < x.chunks[1][-1] <= 250
    g = nd.to_dask_groups(reader, ["a"], chunk_seconds=0.25)[1000.0]
    assert _straddled(reader, g)
    assert np.array_equal(x.compute()[0], reader.read("a", g.start_uutc, g.end_uutc), equal_nan=True)


def test_an_empty_window(rich):
    for dtype in ("float64", "int32"):
        x = nd.to_dask(rich, ["a", "b"], T0 + 5, T0 + 5, dtype=dtype)
        x = x[0] if dtype == "int32" else x
        assert x.shape == (2, 0) and x.compute().shape == (2, 0)


def test_times_as_datetime64(rich):
    reader = neo_mef3.Reader(rich)
    t0, t1 = T0 + 1_500_000, T0 + 4_250_000
    x = nd.to_dask(rich, ["b"], np.datetime64(t0, "us"), np.datetime64(t1 * 1000, "ns"))
    assert np.array_equal(x.compute()[0], reader.read("b", t0, t1), equal_nan=True)


def test_chunk_seconds_gives_chunks_of_that_length(rich):
    x = nd.to_dask(rich, ["a", "b", "c"], chunk_seconds=7.0)
    assert set(x.chunks[1][:-1]) == {7000} and x.chunks[0] == (1, 1, 1)


def test_mixed_rates_error_names_the_groups(rich):
    with pytest.raises(MixedRatesError) as e:
        nd.to_dask(rich)
    msg = str(e.value)
    assert "256 Hz: s" in msg and "499.907 Hz: f" in msg and "1000 Hz: a, b, c" in msg
    assert "to_dask_groups" in msg
    with pytest.raises(MixedRatesError):
        nd.to_xarray(rich, ["a", "s"])
    assert isinstance(e.value, MefError) and isinstance(e.value, ValueError)


def test_bad_arguments(rich):
    with pytest.raises(ValueError):
        nd.to_dask(rich, ["a"], dtype="float32")
    with pytest.raises(ValueError):
        nd.to_dask(rich, ["a"], chunk_seconds=0)
    with pytest.raises(ValueError):
        nd.to_dask(rich, ["a", "a"])
    with pytest.raises(neo_mef3.UnknownChannelError):
        nd.to_dask(rich, ["nope"])
    with pytest.raises(ValueError):
        nd.to_dask(rich, ["a"], T0 + 10, T0)
    with pytest.raises(TypeError):
        nd.to_dask(neo_mef3.Reader(rich), ["a"], password="x")


def test_storage_options_need_a_reader_that_takes_them(rich):
    import inspect

    if "storage_options" in inspect.signature(neo_mef3.Reader).parameters:
        pytest.skip("the Reader reads remote sessions: covered by the remote tests")
    with pytest.raises(MefError, match="storage_options"):
        nd.to_dask(rich, ["a"], storage_options={"anon": True})
    with pytest.raises(MefError, match="local sessions only"):
        nd.to_dask("s3://bucket/session.mefd", ["a"])


def test_to_xarray(rich):
    import xarray as xr

    reader = neo_mef3.Reader(rich)
    arr = nd.to_xarray(rich, ["a", "b", "c"], chunk_seconds=4.0)
    assert isinstance(arr, xr.DataArray) and arr.dims == ("channel", "time")
    assert list(arr.channel.values) == ["a", "b", "c"]
    assert arr.time.dtype == np.dtype("datetime64[ns]")
    t0, fs = arr.attrs["start_uutc"], arr.attrs["sampling_frequency"]
    assert fs == 1000.0 and arr.attrs["timezone"] == "UTC"
    assert int(arr.time.values[0].astype(np.int64)) == t0 * 1000
    assert int(arr.time.values[1234].astype(np.int64)) == t0 * 1000 + 1_234_000_000
    assert int(arr.uutc.values[1234]) == t0 + 1_234_000
    assert isinstance(arr.data, dask.array.Array)  # lazy: backed by the same Dask array
    want = np.stack([reader.read(c, t0, arr.attrs["end_uutc"]) for c in ("a", "b", "c")])
    assert np.array_equal(arr.values, want, equal_nan=True)
    info = reader.info("a")
    assert arr.attrs["units"] == info["units_description"]
    assert arr.attrs["session_name"] == info["session_name"]
    assert np.isnan(arr.units_conversion_factor.values[0])  # two segments, two factors
    assert arr.units_conversion_factor.values[2] == reader.info("c")["units_conversion_factor"]
    assert "subject_name_1" not in arr.attrs and all("subject_id" not in v for v in arr.attrs["channel_info"].values())
    # selection by time works on the datetime coordinate
    sel = arr.sel(time=slice(np.datetime64(t0 * 1000 + 10**9, "ns"), None)).isel(time=slice(0, 5))
    assert np.array_equal(sel.values, want[:, 1000:1005], equal_nan=True)
    raw = nd.to_xarray(rich, ["c"], dtype="int32")
    assert raw.dtype == np.int32 and isinstance(raw.valid.data, dask.array.Array)
    ref = reader.read_raw("c", raw.attrs["start_uutc"], raw.attrs["end_uutc"])
    assert np.array_equal(raw.values[0], ref["samples"]) and np.array_equal(raw.valid.values[0], ref["valid"])


def test_to_xarray_identity_only_when_asked(tmp_path):
    path = str(tmp_path / "id.mefd")
    with neo_mef3.Writer(path, overwrite=True, password1="a1", password2="b2") as w:
        w.write("x", np.arange(3000.0), T0, 500.0, precision=0)
    arr = nd.to_xarray(path, password="b2")
    assert "subject_name_1" not in arr.attrs
    arr = nd.to_xarray(path, password="b2", include_identity=True)
    assert "subject_name_1" in arr.attrs or "subject_name_1" in arr.attrs["channel_info"]["x"]


def test_reader_cache_is_fork_safe(rich):
    """A child forked while another thread holds the cache's lock still reads."""
    import multiprocessing as mp
    import queue
    import threading

    x = nd.to_dask(rich, ["a", "b"], chunk_seconds=2.0)
    want = x.compute(scheduler="threads")  # the cache and its Reader were used by threads
    held, release = threading.Event(), threading.Event()

    def hold():
        with nd._CACHE._lock:
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_compute_in_child, args=(q, x))
    p.start()
    try:
        got = q.get(timeout=30)
    except queue.Empty:
        pytest.fail("the forked child hung on the Reader cache's lock")
    finally:
        release.set()
        t.join(10)
        p.join(10)
        if p.is_alive():
            p.kill()
    assert np.array_equal(got, want, equal_nan=True)


def _compute_in_child(q, x):
    # (the sync scheduler: dask's threaded scheduler does not survive a fork by itself)
    q.put(x.compute(scheduler="sync"))


def test_a_session_written_again_is_read_again(tmp_path):
    """Cached Readers never serve a session that changed since they opened it."""
    path = str(tmp_path / "again.mefd")
    for k, (t, n, new_segment) in enumerate([(0, 5000, False), (6, 7000, False), (15, 3000, True)]):
        with neo_mef3.Writer(path, overwrite=(k == 0)) as w:  # written anew, appended, a new segment
            t = T0 + t * 1_000_000
            w.write("x", np.full(n, float(k + 1)), t, 1000.0, precision=0, new_segment=new_segment)
        x = nd.to_dask(path, chunk_seconds=1.0)
        got = x.compute(scheduler="threads")[0]
        with neo_mef3.Reader(path) as r:
            assert np.array_equal(got, r.read("x"), equal_nan=True), k
        assert np.nanmax(got) == k + 1
    with neo_mef3.Writer(path, overwrite=True) as w:
        w.write("x", np.full(5000, 9.0), T0, 1000.0, precision=0)
    assert np.unique(nd.to_dask(path).compute()).tolist() == [9.0]


def test_a_cached_reader_sees_an_append_to_the_last_of_unpadded_segment_folders(tmp_path):
    """Segment folders spelled ``x-9.segd``, ``x-10.segd``: the last segment is the one
    numbered last (not the last name in text order), and an append to it is seen."""
    from support.spellings import respell

    path = str(tmp_path / "unpadded.mefd")
    with neo_mef3.Writer(path) as w:
        for k in range(11):
            w.write("x", np.full(1000, float(k)), T0 + k * 10_000_000, 1000.0, precision=0, new_segment=True)
    for k in range(11):
        respell(os.path.join(path, "x.timd"), "x", k, str(k))
    assert np.nanmax(nd.to_dask(path).compute(scheduler="sync")) == 10.0  # (a Reader now cached)
    with neo_mef3.Writer(path) as w:
        w.write("x", np.full(1000, 42.0), T0 + 101_000_000, 1000.0, precision=0)
    got = nd.to_dask(path).compute(scheduler="sync")[0]
    with neo_mef3.Reader(path) as r:
        assert np.array_equal(got, r.read("x"), equal_nan=True)
    assert np.nanmax(got) == 42.0 and np.count_nonzero(got == 42.0) == 1000


def test_reader_cache_reuses_and_evicts(rich):
    nd.clear_reader_cache()
    before = nd.reader_cache_opened()
    x = nd.to_dask(rich, ["a", "b"], chunk_seconds=1.0)  # ~100 tasks
    x.sum().compute(scheduler="threads")
    x.sum().compute(scheduler="threads")
    assert nd.reader_cache_opened() - before <= 1  # the planning Reader is kept; at most one open
    cache = type(nd._CACHE)(size=2)  # (a small cache of its own)
    sources = [nd.SessionSource(rich, check_crc=False), nd.SessionSource(rich, rounding="meflib"),
               nd.SessionSource(rich, on_error="skip")]
    readers = []
    for src in sources:
        with cache.use(src) as r:
            readers.append(r)
            assert r.channels
    assert cache.opened == 3 and len(cache._entries) == 2
    with pytest.raises(MefError, match="closed"):  # the least recently used was closed
        readers[0].read("a")
    with cache.use(sources[1]) as r:
        assert r is readers[1]
    with cache.use(sources[2]) as r:  # in use while evicted: closed only when released
        cache.clear()
        assert r.read("a", T0, T0 + 1000).shape == (1,)
    with pytest.raises(MefError, match="closed"):
        r.read("a")
    assert cache.opened == 3


@pytest.mark.timeout(240)
def test_example_dask_features_runs(tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("matplotlib")
    script = os.path.join(os.path.dirname(HERE), "examples", "dask_features.py")
    out = subprocess.run([sys.executable, script, "--out", "features.png"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=200)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "120 minutes x 8 channels at 256 Hz" in out.stdout
    with open(tmp_path / "features.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # the features of the session it made equal those of the Reader's samples
    sys.path.insert(0, os.path.dirname(script))
    try:
        import dask_features
    finally:
        sys.path.remove(os.path.dirname(script))
    reader = neo_mef3.Reader(str(tmp_path / "dask_features_demo.mefd"))
    x = reader.read("ch03")
    minute = 60 * 256
    want = dask_features.per_minute(x[None, : 120 * minute], 256.0, (8.0, 13.0))
    got = dask_features.features(nd.to_dask(reader, ["ch03"], chunk_seconds=600), 256.0, (8.0, 13.0)).compute()
    assert np.array_equal(got, want, equal_nan=True)
    assert np.isnan(got[0, 0]).sum() == 5  # the 5-minute gap of ch03
