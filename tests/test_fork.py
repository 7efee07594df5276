"""Fork safety: a Reader, MEF3RawIO or SpikeInterface recording that decoded on its
thread pool in the parent reads correctly in a child made by fork, forkserver or spawn.

Before the fix a forked child waited forever for the parent's decode threads, so every
test here runs under a timeout: a regression fails instead of hanging the suite.
"""

import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys

import numpy as np
import pytest

import neo_mef3
from neo_mef3.rawio import MEF3RawIO

pytestmark = pytest.mark.timeout(180)

T0 = 1_700_000_000_000_000
FS = 2000.0
N = 400_000  # 200 s: a whole-channel read spans hundreds of RED blocks, many pieces


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fork") / "s.mefd")
    rng = np.random.default_rng(3)
    data = {c: np.round(rng.normal(0, 50, N), 1) for c in ("A", "B")}
    with neo_mef3.Writer(path, overwrite=True) as w:
        for c, x in data.items():
            w.write(c, x, T0, FS, precision=1)
    return path, data


def _in_child(method, target, *args):
    """Run target(q, *args) in a child started by ``method``; its result or a failure."""
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(q,) + args)
    p.start()
    try:
        return q.get(timeout=90)
    except queue.Empty:
        pytest.fail(f"the {method} child did not answer in 90 s (hung in the decode pool?)")
    finally:
        p.join(10)
        if p.is_alive():
            p.kill()
            p.join()


_PARENT = {}  # objects the forked child inherits


def _read_inherited_reader(q):
    r = _PARENT["reader"]
    q.put((r.read("A"), r.read_raw("B")["samples"]))


def _read_inherited_rawio(q):
    io = _PARENT["rawio"]
    q.put(io.get_analogsignal_chunk(0, 0, None, None, 0, None))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_forked_child_reads_with_the_parents_reader(session):
    path, data = session
    r = neo_mef3.Reader(path, n_threads=2)
    try:
        np.testing.assert_allclose(r.read("A"), data["A"], atol=1e-9)  # the pool exists now
        _PARENT["reader"] = r
        a, b = _in_child("fork", _read_inherited_reader)
        np.testing.assert_allclose(a, data["A"], atol=1e-9)
        np.testing.assert_array_equal(b, r.read_raw("B")["samples"])
        # and the parent's pool still works after the fork
        np.testing.assert_allclose(r.read("B"), data["B"], atol=1e-9)
    finally:
        _PARENT.clear()
        r.close()


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_forked_child_reads_with_the_parents_rawio(session):
    path, data = session
    io = MEF3RawIO(path)
    io.parse_header()
    whole = io.get_analogsignal_chunk(0, 0, None, None, 0, None)
    _PARENT["rawio"] = io
    try:
        np.testing.assert_array_equal(_in_child("fork", _read_inherited_rawio), whole)
    finally:
        _PARENT.clear()
    gain = io.header["signal_channels"]["gain"][0]
    np.testing.assert_allclose(whole[:, 0] * gain, data["A"], atol=1e-9)


_SI_SCRIPT = """
import sys
import numpy as np
import spikeinterface.preprocessing as spre
from neo_mef3.spikeinterface import read_mef3

path, method, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rec = read_mef3(path)
rec.get_traces(start_frame=0, end_frame=n)  # decodes on this process's pool before the jobs start
filtered = spre.bandpass_filter(rec, freq_min=300.0, freq_max=900.0)
kw = dict(chunk_duration="20s", progress_bar=False)
serial = filtered.save(folder=out + "/serial", n_jobs=1, **kw)
saved = filtered.save(folder=out + "/parallel", n_jobs=2, mp_context=method, **kw)
expected = serial.get_traces(start_frame=0, end_frame=n)
got = saved.get_traces(start_frame=0, end_frame=n)
print("max", float(np.abs(expected).max()), "equal", bool(np.array_equal(got, expected)))
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_spikeinterface_parallel_save_after_reading(session, tmp_path, method):
    """The reported hang: traces read in the parent, then a filtered save with two jobs.

    Run in a child process so that a hang (worker processes waiting forever) is killed
    after a timeout and fails the test instead of blocking the suite's teardown."""
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} not available here")
    pytest.importorskip("spikeinterface")
    path, _ = session
    cmd = [sys.executable, "-c", _SI_SCRIPT, path, method, str(tmp_path), str(N)]
    p = subprocess.Popen(cmd, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"save(n_jobs=2, mp_context={method!r}) did not finish in 150 s (hang)")
    assert p.returncode == 0, err.decode()[-3000:]
    words = out.decode().split()
    assert float(words[words.index("max") + 1]) > 100  # a real filtered signal, not zeros
    assert words[words.index("equal") + 1] == "True"


def test_finalizers_never_wait_for_decoding_threads(session, monkeypatch):
    path = session[0]
    """The garbage collector may run ``__del__`` on a thread that is starting; waiting
    there for the decode pool's threads deadlocked a test run (MEF3RawIO.__del__ ->
    Reader.close -> shutdown(wait=True)). Finalizers release without waiting."""
    import concurrent.futures

    from neo_mef3.legacy import MefReader

    waits = []
    real = concurrent.futures.ThreadPoolExecutor.shutdown

    def spy(self, wait=True, **kw):
        waits.append(wait)
        return real(self, wait=wait, **kw)

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "shutdown", spy)
    io = MEF3RawIO(path, n_threads=2)
    io.parse_header()
    io.get_analogsignal_chunk(0, 0, None, None, stream_index=0)  # (several blocks: the pool exists)
    assert io._reader is not None
    io.__del__()
    assert io._reader is None and waits == [False]
    legacy = MefReader(path)
    legacy.reader.read(legacy.reader.channels[0])
    waits.clear()
    legacy.__del__()
    assert False in waits and True not in waits
    with neo_mef3.Reader(path, n_threads=2) as r:  # (an explicit close still waits)
        r.read(r.channels[0])
        waits.clear()
    assert waits and all(waits)
