"""Remote sessions on real servers: an S3-compatible server (moto, read through s3fs) and
an HTTP server honouring ranges and listing directories (read through fsspec's HTTP
file system), both on 127.0.0.1, started once per store for this module and stopped.

What is read remotely must equal what is read from the directory, exactly, through
every API; the servers count requests and bytes so that a window is seen to cost its
blocks (plus index and metadata) and an open to take a few waves of requests however
many files the session has; failures of the store give clear RemoteErrors.
"""
import io
import json
import os
import pickle
import shutil
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import cli
from neo_mef3.errors import (
    FormatError,
    MefError,
    RemoteAccessError,
    RemoteConnectionError,
    RemoteError,
    RemoteNotFoundError,
    RemoteTimeoutError,
)
from neo_mef3.reader.decode import PIECE_MIN_BYTES
from support.paths import DATA_DIR
from support.reader_report import reader_report
from support.remote_stores import data_requests, round_trips, start_store

pytest.importorskip("fsspec")
pytestmark = pytest.mark.timeout(120)

T0 = 1_600_000_000_000_000
DATA = [("plain", ""), ("encrypted", "pass2"), ("plain_mef3io", ""), ("encrypted_mef3io", "pass1")]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Sessions our Writer makes for this module: an hour of one channel (1 s blocks) and
    64 channels of one segment; packed copies of two committed sessions."""
    base = tmp_path_factory.mktemp("remote_sessions")
    out = {}
    rng = np.random.default_rng(14)
    out["hour"] = str(base / "hour.mefd")
    with neo_mef3.Writer(out["hour"], block_length=256, durable=False) as w:
        w.write("LA1", np.round(rng.normal(0, 50, 3600 * 256), 1), T0, 256.0)
    out["wide"] = str(base / "wide.mefd")
    with neo_mef3.Writer(out["wide"], block_length=256, durable=False) as w:
        for k in range(64):
            w.write(f"C{k:02d}", np.round(rng.normal(0, 50, 512), 1), T0, 256.0)
    from neo_mef3.tools.pack import pack_session

    for name in ("plain", "encrypted"):
        shutil.copytree(os.path.join(DATA_DIR, f"{name}.mefd"), str(base / f"{name}.mefd"))
        for kind in ("tar", "zip"):
            out[f"{name}.{kind}"] = pack_session(str(base / f"{name}.mefd"), str(base / f"{name}.mefd.{kind}"))[
                "destination"]
    return out


@pytest.fixture(scope="module", params=["http", "s3"])
def store(request, tmp_path_factory):
    if request.param == "s3":
        pytest.importorskip("s3fs")
        pytest.importorskip("moto.server")
    s = start_store(request.param, tmp_path_factory.mktemp(f"store_{request.param}"))
    s.published = {}
    try:
        yield s
    finally:
        s.server.stop()


def publish(store, local, name=None):
    """The URL of `local` on the store (published once)."""
    name = name or os.path.basename(local)
    if name not in store.published:
        store.published[name] = store.put(local, name)
    return store.published[name]


def _local(path, password=""):
    with neo_mef3.Reader(path, password=password) as r:
        return reader_report(r, "<S>")


# --- the same values ------------------------------------------------------------------

@pytest.mark.parametrize("name,password", DATA)
def test_a_remote_session_reads_exactly_as_the_directory(store, fixture_data, name, password):
    exp = fixture_data(name)  # (values mef3io and pymef read from the committed session)
    url = publish(store, exp["path"])
    with neo_mef3.Reader(url, password=password, storage_options=store.options) as r:
        assert r.path == url and "Fsspec" in type(r.source).__name__
        r.preload()
        assert reader_report(r, "<S>") == _local(exp["path"], password)
        for ch, e in exp["channels"].items():
            raw = r.read_raw(ch)
            assert np.array_equal(raw["samples"], e["raw_samples"]) and np.array_equal(raw["valid"] == 1,
                                                                                      e["raw_valid"])
            assert np.array_equal(r.read_samples(ch), e["stored_samples"])


@pytest.mark.parametrize("scenario,writer", [("segments", "mef3io"), ("records_encrypted", "mef_tools")])
def test_oracle_sessions_read_remotely(store, oracle_sessions, scenario, writer):
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    url = publish(store, path, f"{writer}/{scenario}.mefd")  # (the directory keeps the session name)
    with neo_mef3.Reader(url, password=password, storage_options=store.options) as r:
        assert reader_report(r, "<S>") == _local(path, password)


@pytest.mark.parametrize("name,password", [("plain", ""), ("encrypted", "pass2")])
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_packed_session_reads_in_place_remotely(store, written, name, password, kind):
    url = publish(store, written[f"{name}.{kind}"])
    store.reset()
    with neo_mef3.Reader(url, password=password, storage_options=store.options) as r:
        opened = store.log
        assert type(r.source).__name__ == "ArchiveSource"
        assert reader_report(r, "<S>") == _local(os.path.join(DATA_DIR, f"{name}.mefd"), password)
    # the archive's size, its index (and the small files, in the same range), a channel's metadata
    assert len(opened) <= 4, [(s.method, s.range) for s in opened]


def test_every_api_reads_a_remote_session_as_the_directory(store, tmp_path):
    from neo.io import get_io

    from neo_mef3 import MEF3IO, MEF3RawIO, MefReader

    path = os.path.join(DATA_DIR, "encrypted.mefd")
    url = publish(store, path)
    opts = store.options
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local, remote = MEF3RawIO(path, password="pass2"), MEF3RawIO(url, password="pass2", storage_options=opts)
        local.parse_header()
        remote.parse_header()
        assert repr(remote.header) == repr(local.header)
        for s in range(local.segment_count(0)):
            for k in range(local.signal_streams_count()):
                assert np.array_equal(remote.get_analogsignal_chunk(0, s, stream_index=k),
                                      local.get_analogsignal_chunk(0, s, stream_index=k))
        kw = {} if opts is None else {"storage_options": opts}
        blocks = [MEF3IO(path, password="pass2").read_block(), MEF3IO(url, password="pass2", **kw).read_block(),
                  get_io(url, password="pass2", **kw).read_block()]
    for blk in blocks[1:]:
        for sa, sb in zip(blocks[0].segments, blk.segments):
            for a, b in zip(sa.analogsignals, sb.analogsignals):
                assert np.array_equal(a.magnitude, b.magnitude) and a.t_start == b.t_start
            assert [e.times.tolist() for e in sa.events] == [e.times.tolist() for e in sb.events]
    mef_path = path.rstrip("/")
    with MefReader(mef_path, "pass2") as a, MefReader(url, "pass2", storage_options=opts) as b:
        assert b.channels == a.channels
        for ch in a.channels:
            assert np.array_equal(np.nan_to_num(a.get_data(ch), nan=-1e9), np.nan_to_num(b.get_data(ch), nan=-1e9))
        assert repr(b.get_annotations()) == repr(a.get_annotations())
    pytest.importorskip("spikeinterface")
    from neo_mef3.spikeinterface import get_streams, read_mef3

    ids = get_streams(path, password="pass2")[1]
    assert get_streams(url, password="pass2", storage_options=opts)[1] == ids
    for sid in ids:
        a = read_mef3(path, password="pass2", stream_id=sid)
        b = read_mef3(url, password="pass2", stream_id=sid, storage_options=opts)
        assert np.array_equal(a.get_traces(), b.get_traces())
        assert b.check_serializability("memory")


def test_the_cli_reads_urls(store, written, tmp_path, monkeypatch):
    path = os.path.join(DATA_DIR, "plain.mefd")
    url = publish(store, path)
    extra = []
    if store.kind == "s3":  # (credentials from the environment, the endpoint as an option)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", store.server.KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", store.server.SECRET)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        extra = ["--storage-option", f"endpoint_url={store.server.endpoint}"]

    def run(*args):
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = cli.main([*map(str, args)])
        return code, buf.getvalue()

    for args in (["info", "--json"], ["records", "--csv"], ["check", "--json"]):
        code_a, a = run(args[0], path, *args[1:])
        code_b, b = run(args[0], url, *args[1:], *extra)
        assert code_a == code_b == 0
        assert b.replace(url, "<S>") == a.replace(path, "<S>")
    code, _ = run("cut", url, tmp_path / "cut.mefd", "--start", "1", "--duration", "2s", *extra)
    assert code == 0
    run("cut", path, tmp_path / "cut_local.mefd", "--start", "1", "--duration", "2s")
    with neo_mef3.Reader(str(tmp_path / "cut.mefd")) as a, neo_mef3.Reader(str(tmp_path / "cut_local.mefd")) as b:
        for ch in b.channels:
            assert np.array_equal(a.read_raw(ch)["samples"], b.read_raw(ch)["samples"])
    code, _ = run("anonymize", url, tmp_path / "anon.mefd", *extra)
    assert code == 0 and os.path.isdir(tmp_path / "anon.mefd")
    pytest.importorskip("matplotlib")
    code, _ = run("plot", url, "--duration", "2s", "--out", tmp_path / "look.png", *extra)
    assert code == 0 and os.path.getsize(tmp_path / "look.png") > 1000


def test_names_a_url_must_quote(store, tmp_path):
    path = str(tmp_path / "odd names.mefd")
    with neo_mef3.Writer(path, block_length=256, durable=False) as w:
        for k, name in enumerate(["L A1#x%20y", "Ü+é", "a?b=c"]):
            w.write(name, np.arange(512.0) * (k + 1), T0, 256.0)
    url = publish(store, path)
    with neo_mef3.Reader(url, storage_options=store.options) as r:
        assert reader_report(r, "<S>") == _local(path)


# --- what a read costs ----------------------------------------------------------------

def test_a_one_second_window_fetches_its_blocks_and_the_index(store, written):
    url = publish(store, written["hour"])
    with neo_mef3.Reader(written["hour"]) as local:
        blocks = local.block_table("LA1")
        want = local.read("LA1", T0 + 1800_000_000, T0 + 1801_000_000)
        tidx = os.path.getsize(local.segment_files("LA1")[0].tidx)
    ends = blocks["start_uutc"] + blocks["number_of_samples"] * 1_000_000 // 256
    with neo_mef3.Reader(url, storage_options=store.options) as r:
        for t in (T0 + 1800_000_000, T0 + 2_345_678_901):
            store.reset()
            store.set_latency(0.05)  # (round trips show with a latency)
            try:
                got = r.read("LA1", t, t + 1_000_000)
            finally:
                store.set_latency(0)
            log = store.log
            if t == T0 + 1800_000_000:
                assert np.array_equal(got, want)
            hit = (blocks["start_uutc"] < t + 1_000_000) & (ends > t)
            block_bytes = int(blocks["block_bytes"][hit].sum())
            tdat = [s for s in data_requests(log) if s.path.endswith(".tdat") and s.range != "bytes=0-1023"]
            assert sum(s.bytes for s in tdat) == block_bytes and len(tdat) == 1  # (adjacent blocks: one range)
            total = sum(s.bytes for s in log)
            if t == T0 + 1800_000_000:  # first window: the index with the data file's header, then the blocks
                assert total <= tidx + 1024 + block_bytes
                assert round_trips(log) <= 2
            else:  # the index is kept: only the blocks
                assert total == block_bytes and len(log) == 1
        store.reset()
        whole = r.read("LA1")
        reads = [s for s in data_requests(store.log) if s.path.endswith(".tdat")]
        total = int(blocks["block_bytes"].sum())
        assert sum(s.bytes for s in reads) == total
        assert len(reads) <= total // PIECE_MIN_BYTES + 2  # (large ranges, not a block at a time)
    with neo_mef3.Reader(written["hour"]) as local:
        assert np.array_equal(whole, local.read("LA1"))


def test_opening_64_channels_takes_a_few_waves_of_requests(store, written):
    from neo_mef3 import MEF3RawIO

    url = publish(store, written["wide"])
    store.set_latency(0.1)  # (a wave: requests sent before the first answer, 0.1 s later)
    try:
        store.reset()
        with neo_mef3.Reader(url, storage_options=store.options) as r:
            r.preload()
            assert len(r.channels) == 64
        opened = store.log
        store.reset()
        raw = MEF3RawIO(url, storage_options=store.options)
        raw.parse_header()
        parsed = store.log
    finally:
        store.set_latency(0)
    # S3: one listing, the first channel's metadata, then every other .tmet in one batch.
    # HTTP: three levels of index pages, the first channel, then a batch of the metadata
    # and the sizes the pages do not give (192 requests: two waves through aiohttp's
    # 100 connections)
    assert len(opened) >= 65
    assert round_trips(opened) <= (3 if store.kind == "s3" else 8), round_trips(opened)
    assert round_trips(parsed) <= round_trips(opened) + 1
    assert raw.signal_channels_count(0) == 64


# --- failures -------------------------------------------------------------------------

def _fast_fail_options(store):
    """Options with short timeouts and no retries, so a fault shows in a second."""
    if store.kind == "s3":
        return store.server.options(config_kwargs={"read_timeout": 0.5, "connect_timeout": 0.5,
                                                    "retries": {"max_attempts": 1}})
    import aiohttp

    return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_read=0.5, sock_connect=0.5)}}


FAULTS = [
    ("tidx", "status", 403, RemoteAccessError, "access denied"),
    ("tidx", "status", 404, RemoteNotFoundError, "missing"),
    ("tdat", "slow", 3.0, RemoteTimeoutError, "in time"),
    ("tdat", "truncate", 100, RemoteConnectionError, "dropped"),
    ("tdat", "drop", None, RemoteConnectionError, "dropped"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("ext,action,value,error,words", FAULTS, ids=[f"{f[1]}-{f[2]}" for f in FAULTS])
def test_a_failing_store_gives_a_clear_error_naming_the_file(store, written, ext, action, value, error, words,
                                                             monkeypatch):
    if store.kind == "s3" and action in ("truncate", "drop"):
        pytest.skip("the S3 test server fails by status or slowness only (the HTTP server drops connections)")
    # (s3fs retries a read timeout dozens of times; a batch's own limit ends it)
    monkeypatch.setenv("NEO_MEF3_REMOTE_TIMEOUT", "2")
    url = publish(store, written["hour"])
    opts = _fast_fail_options(store)
    # a missing file is damage ("skip" would leave it out, as locally); a failed transfer
    # is not: on_error="skip" (which reads every index at the open) skips none
    mode = "raise" if error is RemoteNotFoundError else "skip"
    store.fail(f".{ext}", action, value)
    try:
        with pytest.raises(error) as got:
            with neo_mef3.Reader(url, storage_options=opts, on_error=mode) as r:
                r.read("LA1", T0, T0 + 1_000_000)
    finally:
        store.heal()
    message = str(got.value)
    assert f"{url}/LA1.timd/LA1-000000.segd/LA1-000000.{ext}" in message and words in message, message
    assert "Zq9x" not in message and not got.value.__cause__
    if error is RemoteNotFoundError:
        assert isinstance(got.value, FormatError)
    else:
        assert isinstance(got.value, RemoteError)


@pytest.mark.timeout(30)
def test_a_truncated_object_and_a_missing_session_are_format_errors(store, written, tmp_path):
    cut = str(tmp_path / "truncated.mefd")
    shutil.copytree(written["hour"], cut)
    tdat = os.path.join(cut, "LA1.timd", "LA1-000000.segd", "LA1-000000.tdat")
    with open(tdat, "r+b") as f:
        f.truncate(os.path.getsize(tdat) // 2)
    url = publish(store, cut)
    with neo_mef3.Reader(url, storage_options=store.options) as r:
        with pytest.raises(FormatError, match="outside the .*-byte data file") as got:
            r.read("LA1", T0 + 3000_000_000, T0 + 3001_000_000)
    assert f"{url}/LA1.timd" in str(got.value)
    missing = url.rsplit("/", 1)[0] + "/nowhere.mefd"
    with pytest.raises(FormatError, match="not a MEF 3.0 session"):
        neo_mef3.Reader(missing, storage_options=store.options)


@pytest.mark.timeout(30)
def test_a_store_refusing_the_metadata_fails_the_open(store, written):
    url = publish(store, written["wide"])
    store.fail(".tmet", "status", 403)
    try:
        with pytest.raises(RemoteAccessError, match="C00-000000.tmet"):
            neo_mef3.Reader(url, storage_options=_fast_fail_options(store), on_error="skip")
    finally:
        store.heal()


# --- caching, secrets -----------------------------------------------------------------

def _cached(store, cache, tmp_path):
    """storage_options of a `cache`:: URL over the store."""
    opts = {cache: {"cache_storage": str(tmp_path / cache)}}
    if store.kind == "s3":
        opts["s3"] = store.options
    return opts


def test_simplecache_keeps_fetched_files_locally(store, tmp_path):
    path = os.path.join(DATA_DIR, "plain.mefd")
    url = publish(store, path)
    opts = _cached(store, "simplecache", tmp_path)
    for _ in range(2):
        store.reset()
        with neo_mef3.Reader("simplecache::" + url, storage_options=opts) as r:
            assert reader_report(r, "<S>") == _local(path)
        fetched = [s for s in store.log if s.method == "GET" and "/plain.mefd/" in s.path
                   and s.path.endswith((".tmet", ".tidx", ".tdat"))]
    assert fetched == []  # (the second time, nothing but the listing)


def test_blockcache_reads_the_same(store, tmp_path):
    path = os.path.join(DATA_DIR, "encrypted.mefd")
    url = publish(store, path)
    opts = _cached(store, "blockcache", tmp_path)
    with neo_mef3.Reader("blockcache::" + url, password="pass2", storage_options=opts) as r:
        assert reader_report(r, "<S>") == _local(path, "pass2")


def test_credentials_stay_out_of_reprs_messages_and_pickles_for_files(store, written):
    if store.kind != "s3":
        pytest.skip("the S3 store takes credentials")
    secret, key = store.server.SECRET, store.server.KEY
    url = publish(store, os.path.join(DATA_DIR, "encrypted.mefd"))
    with neo_mef3.Reader(url, password="pass2", storage_options=store.options) as r:
        spec = r.spec
        want = reader_report(r, "<S>")
        shown = " ".join([repr(r), repr(r.source), repr(spec), str(spec), r.path])
        with pytest.raises(MefError) as err:
            r.read("nope")
    for text in (shown, str(err.value)):
        assert secret not in text and key not in text and "pass2" not in text
    # for a worker process: everything needed to reopen (in memory, never in a file)
    back = pickle.loads(pickle.dumps(spec))
    with back.open() as r:
        assert reader_report(r, "<S>") == want
    # for a file or a log: no password, no credential
    blob = pickle.dumps(spec.redacted())
    assert secret.encode() not in blob and key.encode() not in blob and b"pass2" not in blob
    assert json.dumps(spec.redacted().location)  # (plain values)
    pytest.importorskip("spikeinterface")
    from neo_mef3.spikeinterface import read_mef3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_mef3(url, password="pass2", stream_id="0", storage_options=store.options)
    assert not rec.check_serializability("json") and not rec.check_serializability("pickle")
    assert rec.check_serializability("memory")


def test_writing_stays_local():
    with pytest.raises(ValueError, match="pack"):
        neo_mef3.Writer("s3://bucket/new.mefd")
    from neo_mef3 import MEF3IO

    with pytest.raises(ValueError, match="local"):
        MEF3IO("http://127.0.0.1:9/new.mefd").write_block(None)  # (nothing is fetched)


def test_any_fsspec_file_system_and_file_urls(tmp_path):
    import fsspec

    from neo_mef3.source import LocalSource, open_source

    path = os.path.join(DATA_DIR, "encrypted.mefd")
    want = _local(path, "pass2")
    memory = fsspec.filesystem("memory")
    memory.put(path, "/remote-test/encrypted.mefd", recursive=True)
    try:
        for location, kw in [("memory://remote-test/encrypted.mefd", {}),
                             (path, {"fs": fsspec.filesystem("file")})]:
            with neo_mef3.Reader(location, password="pass2", **kw) as r:
                assert type(r.source).__name__ == "FsspecSource"
                assert reader_report(r, "<S>") == want
                again = open_source(pickle.loads(pickle.dumps(r.source.describe())))
                assert again.list_session().channels == r.channels
    finally:
        memory.rm("/remote-test", recursive=True)
    assert isinstance(open_source("file://" + path), LocalSource)  # (the local fast path)
    with pytest.raises(ValueError, match="URLs"):
        open_source(path, storage_options={"anon": True})


_INHERITED = {}


def _read_in_child(q):
    try:
        q.put(np.nan_to_num(_INHERITED["reader"].read("B"), nan=-1e300).tolist())
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        q.put(repr(exc))


@pytest.mark.timeout(60)
def test_a_forked_child_reads_with_the_parents_remote_reader(store):
    import multiprocessing as mp
    import queue

    url = publish(store, os.path.join(DATA_DIR, "plain.mefd"))
    with neo_mef3.Reader(url, storage_options=store.options) as r:
        r.read("A")  # (the parent's file system and event loop in use)
        want = np.nan_to_num(r.read("B"), nan=-1e300).tolist()
        _INHERITED["reader"] = r
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_read_in_child, args=(q,))
        p.start()
        try:
            got = q.get(timeout=40)
        except queue.Empty:
            pytest.fail("the forked child did not answer (waiting for the parent's event loop?)")
        finally:
            p.join(10)
            if p.is_alive():
                p.kill()
            _INHERITED.clear()
    assert got == want
