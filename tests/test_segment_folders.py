"""Segment folders as other writers spell them (``ch1-0.segd`` for MEF's ``ch1-000000.segd``).

meflib and mef3io take the number from the digits after the channel name, however many,
and name the files inside after the folder. The Reader does the same in both channel
scans (C and Python); two folders claiming one number are refused with an error naming
both, where pymef and mef3io would read a second segment 0.
"""
import os
import shutil
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import session as session_mod
from neo_mef3.check import check_session
from neo_mef3.errors import FormatError, MefWarning
from neo_mef3.writer import Writer
from support.spellings import respell

T0 = 1_600_000_000_000_000


def _session(path):
    w = Writer(str(path))
    w.write("ch1", np.arange(1000) / 10.0, T0, 100.0)
    w.write("ch1", np.arange(500) / 10.0 + 7, T0 + 20_000_000, 100.0, new_segment=True)
    w.write("ch2", np.arange(300) / 10.0, T0, 100.0)
    w.close()
    return str(path)


@pytest.fixture(params=["c", "python"])
def scan_kind(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(session_mod, "_scan", None)
    elif session_mod._scan is None:
        pytest.skip("no C scan on this platform")
    return request.param


def test_unpadded_folders_read_as_the_reference_readers_read_them(tmp_path, scan_kind, oracles_installed):
    import mef3io
    from pymef.mef_session import MefSession

    path = _session(tmp_path / "s.mefd")
    with neo_mef3.Reader(path) as r:
        before = r.read("ch1")
    d = os.path.join(path, "ch1.timd")
    respell(d, "ch1", 0, "0")
    respell(d, "ch1", 1, "01")
    with neo_mef3.Reader(path) as r:
        assert [s["segment"] for s in r.segments("ch1")] == [0, 1]
        assert [os.path.basename(s["path"]) for s in r.segments("ch1")] == ["ch1-0.segd", "ch1-01.segd"]
        ours = r.read("ch1")
        assert r.segment_files("ch1")[1].tdat.endswith(os.path.join("ch1-01.segd", "ch1-01.tdat"))
        recs = r.records("ch1")
    np.testing.assert_array_equal(ours, before)
    assert recs == []
    ref = mef3io.Reader(path)
    try:
        np.testing.assert_array_equal(ours, ref.read("ch1", None, None))
    finally:
        ref.close()
    s = MefSession(path + "/", "")
    try:
        assert int(s.read_ts_channel_basic_info()[0]["nsamp"][0]) == 1500
    finally:
        s.close()
    assert check_session(path).problems == []
    assert [sf.number for sf in session_mod.SessionTree(path).segments("ch1")] == [0, 1]


def test_two_folders_claiming_one_number_are_refused(tmp_path, scan_kind):
    path = _session(tmp_path / "s.mefd")
    d = os.path.join(path, "ch1.timd")
    # another writer's segment 0 beside ours: both spell number 0
    shutil.copytree(os.path.join(d, "ch1-000000.segd"), os.path.join(d, "ch1-000000.copy"))
    respell(d, "ch1", 0, "0")
    os.rename(os.path.join(d, "ch1-000000.copy"), os.path.join(d, "ch1-000000.segd"))
    with pytest.raises(FormatError, match=r"ch1-0\.segd and ch1-000000\.segd both claim segment number 0"):
        session_mod.segment_numbers(d, "ch1")
    with neo_mef3.Reader(path) as r:
        with pytest.raises(FormatError, match="both claim segment number 0"):
            r.read("ch1")
        assert r.read_raw("ch2")["samples"].tolist() == list(range(300))  # the other channel reads
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        with neo_mef3.Reader(path, on_error="skip") as r:
            assert r.channels == ["ch2"]
    assert any(issubclass(w.category, MefWarning) and "both claim" in str(w.message) for w in got)
    report = check_session(path)
    assert any("both claim segment number 0" in m for _, m in report.problems)


def test_c_and_python_scans_agree_on_spellings(tmp_path):
    if session_mod._scan is None:
        pytest.skip("no C scan on this platform")
    path = _session(tmp_path / "s.mefd")
    d = os.path.join(path, "ch1.timd")
    respell(d, "ch1", 1, "1")
    os.makedirs(os.path.join(d, "ch1-4294967295.segd"))  # past int32: not a segment
    os.makedirs(os.path.join(d, "ch1-00000000002.segd"))  # 11 digits: not a segment
    fast = session_mod.scan_channel(d, "ch1", metadata_bytes=16384)
    slow = session_mod._scan_channel_py(d, "ch1", metadata_bytes=16384)
    assert fast.numbers.tolist() == slow.numbers.tolist() == [0, 1]
    assert fast.widths.tolist() == slow.widths.tolist() == [6, 1]
    assert fast.lengths.tolist() == slow.lengths.tolist() and (fast.lengths > 0).all()  # both .tmet found
    # every folder MEF's way: no widths at all (what the other branches' listings rely on)
    assert session_mod.scan_channel(os.path.join(path, "ch2.timd"), "ch2", read_files=False).widths is None


def test_a_listed_source_reads_the_same_spellings(tmp_path):
    """Remote stores and archives list on their own (session.segments_in): the same rule."""
    fsspec = pytest.importorskip("fsspec")
    path = _session(tmp_path / "s.mefd")
    d = os.path.join(path, "ch1.timd")
    respell(d, "ch1", 1, "1")
    with neo_mef3.Reader(path) as r:
        want = r.read("ch1")
    fs = fsspec.filesystem("file")
    with neo_mef3.Reader(path, fs=fs) as r:
        assert type(r.source).__name__ == "FsspecSource"
        np.testing.assert_array_equal(r.read("ch1"), want)
        assert [os.path.basename(s["path"]) for s in r.segments("ch1")] == ["ch1-000000.segd", "ch1-1.segd"]
    shutil.copytree(os.path.join(d, "ch1-1.segd"), os.path.join(d, "ch1-000001.segd"))  # a second segment 1
    with neo_mef3.Reader(path, fs=fs) as r:
        with pytest.raises(FormatError, match=r"ch1-000001\.segd and ch1-1\.segd both claim segment number 1"):
            r.read("ch1")
        assert r.read_raw("ch2")["samples"].tolist() == list(range(300))
