"""Picklable readers and where a password goes: Reader, MEF3RawIO, the SpikeInterface
extractor and neo_mef3.dask's tasks reopen the session from a pickle; the password is in
the pickled bytes (in memory, with the task) and nowhere else: not in Dask keys, reprs,
str(task), error messages, nor SpikeInterface's saved provenance."""

import os
import pickle

import numpy as np
import pytest

pytest.importorskip("dask")

import neo_mef3  # noqa: E402
from neo_mef3 import dask as nd  # noqa: E402
from neo_mef3.errors import MefError, PasswordError  # noqa: E402
from neo_mef3.rawio import MEF3RawIO  # noqa: E402

T0 = 1_700_000_000_000_000
P1, P2 = "L1-dask-Pa55", "L2-dask-Secr3t"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dsecret") / "enc.mefd")
    rng = np.random.default_rng(2)
    with neo_mef3.Writer(path, overwrite=True, password1=P1, password2=P2, block_length=500) as w:
        for c in ("L1", "L2"):
            x = np.round(rng.normal(0, 20, 20_000), 2)
            x[5000:6000] = np.nan
            w.write(c, x, T0, 1000.0, precision=2)
    return path


def _forms(secret):
    return {secret.encode("utf-8"), secret.encode("utf-16-le"), secret.encode("utf-8").hex().encode()}


def assert_absent(blob, where):
    if isinstance(blob, str):
        blob = blob.encode("utf-8", "backslashreplace")
    for s in (P1, P2):
        for form in _forms(s):
            assert form not in blob, f"the password ({s[:4]}...) is in {where}"


def _graph_text(arr):
    graph = dict(arr.__dask_graph__())
    keys = " ".join(map(str, graph))
    # (a Task's repr hides its arguments: they are shown as well)
    tasks = " ".join(str(v) + repr(v) + repr(getattr(v, "args", "")) + repr(getattr(v, "kwargs", ""))
                     for v in graph.values())
    return keys, tasks


def test_reader_pickles_and_reopens(enc):
    r = neo_mef3.Reader(enc, password=P1, n_threads=1, check_crc=False, rounding="meflib")
    r2 = pickle.loads(pickle.dumps(r))
    assert (r2.path, r2.n_threads, r2.check_crc, r2.rounding) == (r.path, 1, False, "meflib")
    assert np.array_equal(r2.read("L1"), r.read("L1"), equal_nan=True)
    assert_absent(repr(r2), "repr(Reader)")
    r.close()
    with pytest.raises(MefError, match="closed"):
        pickle.dumps(r)


def test_rawio_pickles_and_reopens(enc):
    io = MEF3RawIO(enc, password=P2)
    io.parse_header()
    io2 = pickle.loads(pickle.dumps(io))
    a = io.get_analogsignal_chunk(0, 0, 100, 4000, 0)
    assert np.array_equal(io2.get_analogsignal_chunk(0, 0, 100, 4000, 0), a)
    assert_absent(repr(io2), "repr(MEF3RawIO)")
    fresh = pickle.loads(pickle.dumps(MEF3RawIO(enc, password=P2)))  # before parse_header too
    fresh.parse_header()
    assert np.array_equal(fresh.get_analogsignal_chunk(0, 0, 100, 4000, 0), a)


def test_spikeinterface_extractor_pickles_and_never_saves_the_password(enc, tmp_path):
    pytest.importorskip("spikeinterface")
    from neo_mef3.spikeinterface import read_mef3

    with pytest.warns(UserWarning, match="records"):  # (level 1 opens no records)
        rec = read_mef3(enc, password=P1)
    with pytest.warns(UserWarning, match="records"):  # (unpickling reopens the session)
        rec2 = pickle.loads(pickle.dumps(rec))
    for k in range(rec.get_num_segments()):
        a = rec.get_traces(segment_index=k, start_frame=10, end_frame=3000)
        assert np.array_equal(rec2.get_traces(segment_index=k, start_frame=10, end_frame=3000), a)
    assert_absent(repr(rec2), "repr(extractor)")
    saved = rec.save(folder=tmp_path / "saved", n_jobs=1, verbose=False)
    assert np.array_equal(saved.get_traces(segment_index=1), rec.get_traces(segment_index=1))
    n = 0
    for root, _, names in os.walk(tmp_path / "saved"):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                assert_absent(f.read(), os.path.join(root, name))
            n += 1
    assert n >= 2
    with pytest.raises(Exception):
        rec.dump_to_json(tmp_path / "rec.json")  # not serializable to files with a password
    assert not (tmp_path / "rec.json").exists() or assert_absent((tmp_path / "rec.json").read_bytes(), "json")


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_keys_reprs_and_tasks_hold_no_password(enc, dtype):
    arrays = nd.to_dask(enc, password=P2, dtype=dtype, chunk_seconds=2.0)
    arrays = arrays if isinstance(arrays, tuple) else (arrays,)
    for arr in arrays:
        keys, tasks = _graph_text(arr)
        assert_absent(keys, "the Dask keys")
        assert_absent(tasks, "str(task) / repr(task)")
        assert_absent(repr(arr) + str(arr) + arr.name, "repr(array)")
        assert "SessionSource" in tasks  # (the tasks were looked at)
    # keys do not depend on the password at all: level 1 and level 2 make the same graph keys
    other = nd.to_dask(enc, password=P1, dtype=dtype, chunk_seconds=2.0)
    other = other if isinstance(other, tuple) else (other,)
    assert [set(dict(a.__dask_graph__())) for a in arrays] == [set(dict(b.__dask_graph__())) for b in other]
    x = nd.to_xarray(enc, password=P2)
    assert_absent(repr(x) + str(x.attrs), "the DataArray")
    g = nd.to_dask_groups(enc, password=P2)[1000.0]
    assert_absent(repr(g), "repr(SignalGroup)")


def test_the_password_travels_in_memory_only_with_the_tasks(enc):
    arr = nd.to_dask(enc, password=P1, chunk_seconds=5.0)
    blob = pickle.dumps(dict(arr.__dask_graph__()))
    assert P1.encode() in blob  # in the pickled tasks, as documented (that is how workers open it)
    tasks = [v for v in dict(arr.__dask_graph__()).values() if hasattr(v, "args")]
    assert tasks and all("SessionSource" in repr(t.args) for t in tasks)


def test_env_password_never_enters_the_tasks(enc, monkeypatch):
    monkeypatch.setenv("NEO_MEF3_TEST_PASSWORD", P1)
    reader = neo_mef3.Reader(enc, password=P1)
    arr = nd.to_dask(enc, password=nd.EnvPassword("NEO_MEF3_TEST_PASSWORD"), chunk_seconds=5.0)
    assert_absent(pickle.dumps(dict(arr.__dask_graph__())), "pickled tasks (EnvPassword)")
    nd.clear_reader_cache()  # (tasks must open the session from the environment)
    got = arr.compute(scheduler="sync")
    assert np.array_equal(got[1], reader.read("L2", T0, T0 + 20_000_000), equal_nan=True)
    monkeypatch.delenv("NEO_MEF3_TEST_PASSWORD")
    nd.clear_reader_cache()
    with pytest.raises(PasswordError, match="NEO_MEF3_TEST_PASSWORD"):
        arr.compute(scheduler="sync")
    # any picklable callable works too
    arr = nd.to_dask(enc, password=_level2, chunk_seconds=5.0)
    assert np.array_equal(arr.compute()[0], reader.read("L1", T0, T0 + 20_000_000), equal_nan=True)


def _level2():
    return P2


def test_errors_from_tasks_hold_no_password(enc, tmp_path):
    import shutil

    copy = str(tmp_path / "copy.mefd")
    shutil.copytree(enc, copy)
    arr = nd.to_dask(copy, password=P2, chunk_seconds=5.0)
    nd.clear_reader_cache()
    for root, _, names in os.walk(copy):  # the data files go away after planning
        for name in names:
            if name.endswith(".tdat"):
                os.remove(os.path.join(root, name))
    with pytest.raises(MefError) as e:
        arr.compute(scheduler="sync")
    assert_absent(str(e.value) + repr(e.value), "the task's error")
    with pytest.raises(PasswordError) as e:
        nd.to_dask(enc, password="not-" + P1)
    assert_absent(str(e.value), "the password error")


def test_a_reader_given_keeps_its_password_out_of_keys(enc):
    r = neo_mef3.Reader(enc, password=P1)
    arr = nd.to_dask(r, ["L1"], chunk_seconds=3.0)
    keys, tasks = _graph_text(arr)
    assert_absent(keys + tasks, "graph of a Reader's array")
    nd.clear_reader_cache()
    assert np.array_equal(arr.compute()[0], r.read("L1", T0, T0 + 20_000_000), equal_nan=True)
