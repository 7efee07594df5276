"""neo_mef3.dask on dask.distributed: a LocalCluster of two worker processes (one
thread each, on 127.0.0.1, shared by the module) computes whole channels, random
windows and a per-minute reduction over all channels of plain and encrypted sessions;
every result equals the in-process Reader's. A worker killed during a computation is
replaced, its tasks are run again, and the result is still exact."""

import logging
import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import neo_mef3  # noqa: E402
from neo_mef3 import dask as nd  # noqa: E402

T0 = 1_700_000_000_000_000
FS = 1000.0
MINUTE = int(60 * FS)
N = 6 * MINUTE + 12_345  # a little over six minutes per channel
CHANNELS = ("c1", "c2", "c3", "c4")
PASSWORD, ENV = "dist-Secr3t", "NEO_MEF3_TEST_DIST_PASSWORD"

pytestmark = pytest.mark.timeout(150)


def _write(path, password=""):
    rng = np.random.default_rng(7)
    with neo_mef3.Writer(path, overwrite=True, password1=password, password2=password + "2" if password else "",
                         block_length=2000) as w:
        for i, c in enumerate(CHANNELS):
            x = np.round(rng.normal(0, 25, N), 2)
            x[40_000 + 9_000 * i : 52_000 + 9_000 * i] = np.nan  # a gap, elsewhere in each channel
            w.write(c, x, T0, FS, precision=2)
    return path


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    base = tmp_path_factory.mktemp("dist")
    return {"plain": (_write(str(base / "plain.mefd")), None),
            "encrypted": (_write(str(base / "enc.mefd"), PASSWORD), PASSWORD)}


@pytest.fixture(scope="module")
def client():
    os.environ[ENV] = PASSWORD  # (the workers inherit it: EnvPassword reads it there)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       host="127.0.0.1", silence_logs=logging.WARNING)
    c = distributed.Client(cluster, timeout="60s")
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close(timeout=30)
    cluster.close(timeout=30)
    os.environ.pop(ENV, None)


def _reference(path, password, channel, t0=None, t1=None):
    with neo_mef3.Reader(path, password=password or "") as r:
        return r.read(channel, t0, t1)


def line_length_per_minute(block):
    """Per-minute line length (sum of |differences|, NaN ignored) of a (channels, k * MINUTE)
    block; a trailing part minute is dropped."""
    k = block.shape[1] // MINUTE
    rows = block[:, : k * MINUTE].reshape(block.shape[0], k, MINUTE)
    return np.nansum(np.abs(np.diff(rows, axis=-1)), axis=-1)


@pytest.mark.parametrize("which", ["plain", "encrypted"])
def test_whole_channel(client, sessions, which):
    path, password = sessions[which]
    x = nd.to_dask(path, ["c2"], password=password)
    got = client.compute(x).result(timeout=60)
    assert np.array_equal(got[0], _reference(path, password, "c2"), equal_nan=True)
    raw, valid = nd.to_dask(path, ["c3"], dtype="int32", password=password, chunk_seconds=50)
    raw, valid = client.compute([raw, valid], sync=True)
    with neo_mef3.Reader(path, password=password or "") as r:
        ref = r.read_raw("c3")
    assert np.array_equal(raw[0], ref["samples"]) and np.array_equal(valid[0], ref["valid"])


@pytest.mark.parametrize("which", ["plain", "encrypted"])
def test_random_windows(client, sessions, which):
    path, password = sessions[which]
    rng = np.random.default_rng(3 if which == "plain" else 4)
    windows = []
    for _ in range(8):
        t0 = T0 + int(rng.integers(-2_000_000, N * 1000))
        windows.append((t0, t0 + int(rng.integers(1, 90_000_000)), list(rng.choice(CHANNELS, 2, replace=False))))
    arrays = [nd.to_dask(path, chans, t0, t1, password=password, chunk_seconds=float(rng.uniform(3, 40)))
              for t0, t1, chans in windows]
    results = client.compute(arrays, sync=True)
    for (t0, t1, chans), got in zip(windows, results):
        for i, c in enumerate(chans):
            assert np.array_equal(got[i], _reference(path, password, c, t0, t1), equal_nan=True), (c, t0, t1)


@pytest.mark.parametrize("which", ["plain", "encrypted", "env"])
def test_per_minute_line_length_over_all_channels(client, sessions, which):
    path, password = sessions["plain" if which == "plain" else "encrypted"]
    pw = nd.EnvPassword(ENV) if which == "env" else password
    x = nd.to_dask(path, password=pw, chunk_seconds=120)  # chunks of two minutes, whole blocks
    assert all(c % MINUTE == 0 for c in x.chunks[1][:-1])
    per_chunk = [c // MINUTE for c in x.chunks[1]]
    ll = x.map_blocks(line_length_per_minute, chunks=(x.chunks[0], tuple(per_chunk)), dtype=np.float64)
    got = client.compute(ll).result(timeout=90)
    assert got.shape == (len(CHANNELS), N // MINUTE)
    for i, c in enumerate(CHANNELS):
        ref = _reference(path, password, c)
        want = [np.nansum(np.abs(np.diff(ref[m * MINUTE : (m + 1) * MINUTE]))) for m in range(N // MINUTE)]
        assert np.array_equal(got[i], np.array(want)), c


def test_workers_reuse_their_readers(client, sessions):
    path, password = sessions["encrypted"]
    x = nd.to_dask(path, password=password, chunk_seconds=10)  # 4 x 38 tasks
    client.run(nd.clear_reader_cache)
    before = client.run(nd.reader_cache_opened)
    got = client.compute(x).result(timeout=60)
    for i, c in enumerate(CHANNELS):
        assert np.array_equal(got[i], _reference(path, password, c), equal_nan=True)
    after = client.run(nd.reader_cache_opened)
    opened = sum(after[w] - before.get(w, 0) for w in after)
    assert 1 <= opened <= 2, after  # at most one open per worker process, not one per task


def _slow_copy(block):
    time.sleep(0.15)
    return block.copy()


def test_a_killed_worker_is_replaced_and_the_result_is_exact(client, sessions):
    path, password = sessions["encrypted"]
    x = nd.to_dask(path, password=password, chunk_seconds=15)  # 4 x 25 tasks of >= 0.15 s
    future = client.compute(x.map_blocks(_slow_copy, dtype=np.float64))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the workers are busy and some results exist
        if sum(len(v) for v in client.has_what().values()) >= 4:
            break
        time.sleep(0.05)
    assert not future.done()
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)  # in the middle of the computation
    got = future.result(timeout=120)
    for i, c in enumerate(CHANNELS):
        assert np.array_equal(got[i], _reference(path, password, c), equal_nan=True), c
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid)  # (the nanny started a new worker)


def test_a_failing_task_reports_without_the_password(client, sessions, tmp_path):
    import shutil

    path = str(tmp_path / "gone.mefd")
    shutil.copytree(sessions["encrypted"][0], path)
    x = nd.to_dask(path, ["c1"], password=PASSWORD, chunk_seconds=100)
    shutil.rmtree(path)  # the session goes away between planning and computing
    with pytest.raises(neo_mef3.MefError) as e:
        client.compute(x).result(timeout=60)
    assert PASSWORD not in str(e.value) + repr(e.value)


def test_logs_hold_no_password(client):
    """Run last: the scheduler's and workers' logs of everything above (a killed worker,
    a failed task) name no password."""
    text = repr(client.get_scheduler_logs(n=10_000)) + repr(client.get_worker_logs(n=10_000))
    assert "gone.mefd" in text  # (the failed task was logged)
    assert PASSWORD not in text and PASSWORD + "2" not in text
