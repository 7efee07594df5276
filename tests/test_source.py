"""The byte-source seam: a Reader reads every byte through its ByteSource.

``MemorySource`` holds a session's files in a dict and knows nothing of the disk; the
session directory is then moved away. A Reader on it must report and read exactly what
a Reader on the directory did: anything read behind the seam's back would fail.
"""
import os
import pickle
import shutil

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import FormatError, MefError
from neo_mef3.format import headers
from neo_mef3.format.layout import METADATA_FILE_BYTES, SEGMENT_EXT, TS_CHANNEL_EXT
from neo_mef3.reader import ReaderSpec
from neo_mef3.session import SessionTree, channel_scan, record_flags
from neo_mef3.source import ByteSource, LocalSource, RangeFile, open_source
from support.reader_report import reader_report as _report

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "data")
ENOENT = -2


class MemoryRangeFile(RangeFile):
    def __init__(self, data, calls):
        self.data, self.calls = data, calls

    def read(self, start, stop):
        self.calls.append((start, stop))
        return self.data[start:stop]

    def close(self):
        pass


class MemorySource(ByteSource):
    """A session's files held in memory (path -> bytes), listed and scanned in Python."""

    def __init__(self, path):
        self.location = os.path.abspath(path)
        self.files = {}
        for root, _, names in os.walk(self.location):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    self.files[os.path.join(root, name)] = f.read()
        self.calls = {"scan": 0, "read_files": 0, "sizes": 0, "exists": 0, "open": 0}
        self.ranges = []

    def describe(self):
        return {"kind": "memory", "location": self.location}

    def list_session(self):
        channels = {}
        for p in self.files:
            rel = os.path.relpath(p, self.location).split(os.sep)
            if rel[0].endswith(TS_CHANNEL_EXT):
                channels[rel[0][: -len(TS_CHANNEL_EXT)]] = os.path.join(self.location, rel[0])
        return SessionTree.from_listing(self.location, channels)

    def scan_channels(self, names, probe=False, executor=None, parts=1):
        self.calls["scan"] += 1
        tree = self.list_session()
        out = []
        for name in names:
            d = tree.channel_dirs[name]
            numbers = sorted({int(os.path.basename(os.path.dirname(p))[len(name) + 1 : -len(SEGMENT_EXT)])
                              for p in self.files if os.path.dirname(os.path.dirname(p)) == d})
            files = tree.segment_files(name, numbers)
            images = [self.files[f.tmet][: METADATA_FILE_BYTES + 1] if f.tmet in self.files else ENOENT
                      for f in files]
            sizes = [len(self.files[f.tidx]) if f.tidx in self.files else ENOENT for f in files] if probe else None
            flags = [record_flags(f.rdat in self.files, f.ridx in self.files) for f in files] if probe else None
            rdat, ridx = tree.channel_records(name)
            out.append(channel_scan(np.array(numbers, np.int64), images, METADATA_FILE_BYTES, headers.SCAN_KEEP,
                                    headers.SCAN_FIELDS, headers.SCAN_FS_OFFSET, sizes, flags,
                                    record_flags(rdat in self.files, ridx in self.files) if probe else None))
        return out

    def read_files(self, paths, what="", expected=None):
        self.calls["read_files"] += 1
        return [self.files[p] if p in self.files else FormatError(f"{what} file is missing", p) for p in paths]

    def sizes(self, paths):
        self.calls["sizes"] += 1
        return [len(self.files[p]) if p in self.files else None for p in paths]

    def exists(self, path):
        self.calls["exists"] += 1
        return path in self.files

    def open(self, path):
        self.calls["open"] += 1
        if path not in self.files:
            raise FileNotFoundError(2, "No such file", path)
        return MemoryRangeFile(self.files[path], self.ranges)


def _moved_away(path, tmp_path):
    """(a copy of the session, a MemorySource of it) with the copy then moved away."""
    copy = str(tmp_path / os.path.basename(path))
    shutil.copytree(path, copy)
    source = MemorySource(copy)
    return copy, source


@pytest.mark.parametrize("name,password", [("plain", ""), ("plain_mef3io", ""), ("encrypted", "pass2"),
                                           ("encrypted_mef3io", "pass1")])
def test_a_reader_reads_only_through_its_byte_source(tmp_path, name, password):
    copy, source = _moved_away(os.path.join(DATA, f"{name}.mefd"), tmp_path)
    with neo_mef3.Reader(copy, password=password) as r:
        want = _report(r)
    shutil.move(copy, str(tmp_path / "elsewhere"))
    with neo_mef3.Reader(source, password=password, n_threads=2) as r:
        assert r.path == source.location
        r.preload()
        got = _report(r)
    assert got == want
    assert source.calls["scan"] >= 1 and source.calls["open"] >= 1 and source.ranges


@pytest.mark.parametrize("scenario,writer", [("segments", "mef3io"), ("records", "mef_tools"),
                                             ("appends", "mef3io")])
def test_oracle_sessions_through_a_memory_source(oracle_sessions, tmp_path, scenario, writer):
    password = oracle_sessions.scenario(scenario).read_password or ""
    copy, source = _moved_away(oracle_sessions(scenario, writer), tmp_path)
    with neo_mef3.Reader(copy, password=password) as r:
        want = _report(r)
    shutil.rmtree(copy)
    with neo_mef3.Reader(source, password=password) as r:
        assert _report(r) == want


def test_the_index_of_a_channel_is_read_in_one_batch(tmp_path):
    _, source = _moved_away(os.path.join(DATA, "plain.mefd"), tmp_path)
    with neo_mef3.Reader(source, n_threads=1) as r:
        before = dict(source.calls)
        r.block_table(r.channels[0])
        assert source.calls["read_files"] - before["read_files"] == 1
        assert source.calls["sizes"] - before["sizes"] == 1


def test_the_local_source_and_the_python_scan_agree(tmp_path):
    path = os.path.join(DATA, "plain.mefd")
    local, memory = LocalSource(path), MemorySource(path)
    names = local.list_session().channels
    assert memory.list_session().channels == names
    for probe in (False, True):
        for a, b in zip(local.scan_channels(names, probe=probe), memory.scan_channels(names, probe=probe)):
            for field, x, y in zip(a._fields, a, b):
                if isinstance(x, np.ndarray):
                    assert np.array_equal(x, y), field
                else:
                    assert x == y, field


def test_read_ranges_merges_close_ranges(tmp_path):
    p = tmp_path / "f.bin"
    data = bytes(range(256)) * 40
    p.write_bytes(data)
    calls = []
    f = MemoryRangeFile(data, calls)
    ranges = [(900, 1000), (10, 20), (15, 40), (50, 60), (5000, 5100)]
    got = f.read_ranges(ranges, merge_gap=10)
    assert got == [data[a:b] for a, b in ranges]
    assert calls == [(10, 60), (900, 1000), (5000, 5100)]
    local = LocalSource(str(tmp_path)).open(str(p))
    try:
        assert local.read_ranges(ranges) == [data[a:b] for a, b in ranges]
        assert local.read(10_200, 10_300) == data[10_200:10_240]  # (short at the end)
    finally:
        local.close()


def test_read_into_fills_the_callers_buffer(tmp_path):
    """read_into (the local file's own, and the copying fallback of every RangeFile)
    reads exactly the range into the given buffer, short only at the end of the file."""
    p = tmp_path / "f.bin"
    data = bytes(range(251)) * 50
    p.write_bytes(data)
    local = LocalSource(str(tmp_path)).open(str(p))
    try:
        for f in (local, MemoryRangeFile(data, [])):
            buf = bytearray(b"\x07" * 700)
            assert f.read_into(1234, memoryview(buf)[:500]) == 500
            assert bytes(buf[:500]) == data[1234:1734] and buf[500:] == b"\x07" * 200
            assert f.read_into(len(data) - 100, buf) == 100  # (short at the end)
            assert bytes(buf[:100]) == data[-100:]
            assert f.read_into(len(data), buf) == 0
    finally:
        local.close()


def test_open_source_takes_paths_descriptions_and_sources(tmp_path):
    path = os.path.join(DATA, "plain.mefd")
    local = open_source(path)
    assert isinstance(local, LocalSource) and local.location == os.path.abspath(path)
    assert open_source(local) is local
    again = open_source(pickle.loads(pickle.dumps(local.describe())))
    assert again.location == local.location
    with pytest.raises(ValueError):
        open_source({"kind": "nowhere"})
    with pytest.raises(FormatError):
        neo_mef3.Reader(str(tmp_path / "missing.mefd"))


def test_a_reader_spec_reopens_the_same_reader_and_never_shows_the_password(tmp_path):
    path = os.path.join(DATA, "encrypted.mefd")
    with neo_mef3.Reader(path, password="pass2", n_threads=1, on_error="skip", rounding="meflib") as r:
        spec = r.spec
        want = _report(r)
        shown = [repr(spec), str(spec), repr(r), repr(r.source), repr(r._keyring)]
    assert all("pass2" not in s for s in shown), shown
    assert "password=<set>" in repr(spec)
    back = pickle.loads(pickle.dumps(spec))
    assert isinstance(back, ReaderSpec) and back == spec
    assert (back.n_threads, back.on_error, back.rounding, back.check_crc) == (1, "skip", "meflib", True)
    with back.open() as r:
        assert _report(r) == want
