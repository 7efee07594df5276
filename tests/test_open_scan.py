"""Opening a session: the C channel scan and the bulk metadata check change nothing.

``session.scan_channel`` lists a channel and reads its segments' small files in C
(``_scan``); ``headers.plain_metadata`` validates their metadata in bulk and keeps only
the header and fields of later segments. Both are shortcuts for what the Python scan
(``session._scan_channel_py``) and ``headers.parse_metadata`` do file by file; these
tests hold them to exactly the same results, on awkward directories, on damaged
metadata and on whole sessions read through every public method.
"""
import errno
import math
import os
import struct

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import _red
from neo_mef3 import session as session_mod
from neo_mef3.errors import MefError
from neo_mef3.format import headers
from neo_mef3.format.layout import METADATA_FILE_BYTES, UNIVERSAL_HEADER_BYTES, text
from neo_mef3.rawio import MEF3RawIO
from support.reports import session_report

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "data")
SCAN_ARGS = dict(metadata_bytes=METADATA_FILE_BYTES, keep=headers.SCAN_KEEP, field_offsets=headers.SCAN_FIELDS,
                 fs_offset=headers.SCAN_FS_OFFSET)

needs_c_scan = pytest.mark.skipif(session_mod._scan is None, reason="no C scan on this platform")


def _tmet_of(path):
    for root, _, files in os.walk(path):
        for f in sorted(files):
            if f.endswith(".tmet"):
                with open(os.path.join(root, f), "rb") as fh:
                    return fh.read()
    raise AssertionError("no .tmet")


def _segment(channel_dir, name, number, tmet=None, tidx=None, rdat=False, ridx=False, width=6):
    d = os.path.join(channel_dir, f"{name}-{number:0{width}d}.segd")
    os.makedirs(d)
    stem = os.path.join(d, f"{name}-{number:0{width}d}.")
    if tmet is not None:
        with open(stem + "tmet", "wb") as f:
            f.write(tmet)
    if tidx is not None:
        with open(stem + "tidx", "wb") as f:
            f.write(bytes(tidx))
    for ext, present in (("rdat", rdat), ("ridx", ridx)):
        if present:
            open(stem + ext, "wb").close()
    return d


def _assert_same_scan(a, b):
    assert a._fields == b._fields
    for field, x, y in zip(a._fields, a, b):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert np.array_equal(np.asarray(x), np.asarray(y)), field
            assert np.asarray(x).dtype == np.asarray(y).dtype, field
        else:
            assert x == y, field


@needs_c_scan
def test_c_scan_equals_python_scan_on_an_awkward_channel(tmp_path):
    good = _tmet_of(os.path.join(DATA, "plain.mefd"))
    ch = tmp_path / "A.timd"
    ch.mkdir()
    c = str(ch)
    _segment(c, "A", 0, good, tidx=1080, rdat=True)
    _segment(c, "A", 1, good[:100], ridx=True)                  # short .tmet, no .tidx
    _segment(c, "A", 2, good + b"x", tidx=56)                   # longer than a .tmet
    _segment(c, "A", 3, None, tidx=0, rdat=True, ridx=True)     # no .tmet
    _segment(c, "A", 999999, good[::-1], tidx=7)                # damaged, last possible number
    _segment(c, "A", 4, b"")                                    # empty .tmet
    for other in ("A-.segd", "A-12345678901.segd", "A-2147483648.segd", "A-\u0660\u0660\u0660\u0660\u0660\u0666.segd",
                  "A-000007.segd\n", "B-000008.segd", "A-1-000009.segd", "A-000013.segdx", "a-000014.segd",
                  "A-00001x.segd", "A-+00015.segd"):
        os.makedirs(os.path.join(c, other))
    open(os.path.join(c, "A-000010.segd"), "wb").close()        # a file, not a directory
    os.symlink(os.path.join(c, "A-000000.segd"), os.path.join(c, "A-000011.segd"))  # a link to one
    os.symlink(os.path.join(c, "nowhere"), os.path.join(c, "A-000012.segd"))        # a broken link
    open(os.path.join(c, "A.rdat"), "wb").close()

    fast = session_mod.scan_channel(c, "A", **SCAN_ARGS)
    slow = session_mod._scan_channel_py(c, "A", **SCAN_ARGS)
    _assert_same_scan(fast, slow)
    # what the scan says, by hand
    assert fast.numbers.tolist() == [0, 1, 2, 3, 4, 11, 999999]
    assert fast.lengths.tolist()[:5] == [METADATA_FILE_BYTES, 100, METADATA_FILE_BYTES + 1, -2, 0]
    assert fast.index_sizes.tolist()[:4] == [1080, -2, 56, 0]
    assert fast.record_flags.tolist()[:4] == [1, 2, 0, 3]
    assert fast.channel_record_flags == session_mod.HAS_RDAT
    assert fast.first == good
    assert bytes(fast.heads[0]) == good[: headers.SCAN_KEEP]
    assert bytes(fast.heads[1][:100]) == good[:100] and not fast.heads[1][100:].any()
    assert fast.plain.tolist() == [1, 0, 0, 0, 0, 0, 0]  # (the link holds A-000000.tmet, not A-000011.tmet)
    off = headers.SCAN_FIELDS[0]
    assert fast.fields[0, 0] == struct.unpack_from("<q", good, off)[0]
    assert not fast.fields[3].any()  # nothing read
    # without probing: the same reads, no sizes or record flags
    for scan in (session_mod.scan_channel(c, "A", probe=False, **SCAN_ARGS),
                 session_mod._scan_channel_py(c, "A", probe=False, **SCAN_ARGS)):
        assert scan.index_sizes is None and scan.record_flags is None and scan.channel_record_flags is None
        for field in ("numbers", "heads", "fields", "lengths", "plain"):
            assert np.array_equal(getattr(scan, field), getattr(fast, field)), field
        assert scan.first == fast.first
    # listing only
    _assert_same_scan(session_mod.scan_channel(c, "A", read_files=False),
                      session_mod._scan_channel_py(c, "A", read_files=False))
    assert session_mod.segment_numbers(c, "A").tolist() == fast.numbers.tolist()


@needs_c_scan
def test_c_scan_reports_an_unlistable_channel_as_python_does(tmp_path):
    missing = str(tmp_path / "X.timd")
    with pytest.raises(MefError) as fast:
        session_mod.scan_channel(missing, "X", **SCAN_ARGS)
    with pytest.raises(MefError) as slow:
        session_mod._scan_channel_py(missing, "X", **SCAN_ARGS)
    assert str(fast.value) == str(slow.value)
    assert missing in str(fast.value)


@needs_c_scan
def test_c_scan_rejects_arguments_that_could_overrun(tmp_path):
    d = str(tmp_path).encode()
    from neo_mef3 import _scan

    for bad in (dict(channel=b""), dict(channel=b"a/b"), dict(channel=b"x" * 300), dict(metadata_bytes=-1),
                dict(keep=20000), dict(field_offsets=[16380]), dict(field_offsets=[-1])):
        kw = dict(channel=b"A", metadata_bytes=16384, keep=0, field_offsets=())
        kw.update(bad)
        with pytest.raises(ValueError):
            _scan.scan_channel(d, kw["channel"], kw["metadata_bytes"], True, 1024, kw["keep"], kw["field_offsets"])


def _metadata_variants(good):
    """(label, image, reseal): damage of every kind parse_metadata judges."""
    def at(off, value):
        b = bytearray(good)
        b[off : off + len(value)] = value
        return bytes(b)

    fs_off = headers.SCAN_FIELDS[0]
    yield "intact", good, False
    yield "header byte", at(100, b"\xff"), False
    yield "body byte", at(5000, bytes([good[5000] ^ 1])), False
    yield "type", at(8, b"tmex"), True
    yield "version", at(13, b"\x04"), True
    yield "byte order", at(15, b"\x00"), True
    yield "section 2 level", at(1024, b"\x01"), True
    yield "section 3 level", at(1025, b"\x02"), True
    yield "no CRCs", at(0, bytes(8)), False
    for label, fs in (("fs 0", 0.0), ("fs NaN", math.nan), ("fs inf", math.inf), ("fs -1", -1.0), ("fs 2e9", 2e9),
                      ("fs 1e9", 1e9), ("fs tiny", 1e-300)):
        yield label, at(fs_off, struct.pack("<d", fs)), True
    yield "password fields", at(headers._VALIDATION.start, bytes(range(1, 33))), True


def _reseal(image):
    """Both CRCs made right again, so that only the damage itself is judged."""
    b = bytearray(image)
    b[4:8] = struct.pack("<I", _red.crc32(bytes(b[UNIVERSAL_HEADER_BYTES:])))
    b[0:4] = struct.pack("<I", _red.crc32(bytes(b[4:UNIVERSAL_HEADER_BYTES])))
    return bytes(b)


@pytest.mark.parametrize("c_scan", [True, False])
def test_bulk_metadata_check_accepts_exactly_what_parse_metadata_takes_as_is(tmp_path, monkeypatch, c_scan):
    if not c_scan:
        monkeypatch.setattr(session_mod, "_scan", None)
    elif session_mod._scan is None:
        pytest.skip("no C scan on this platform")
    good = _tmet_of(os.path.join(DATA, "plain.mefd"))
    v = headers._VALIDATION.start
    keys = headers.crypto.unlock("", good[v : v + 16], good[v + 16 : v + 32])
    accepted = []
    for k, (label, image, reseal) in enumerate(_metadata_variants(good)):
        if reseal:
            image = _reseal(image)
        c = tmp_path / f"v{k}.timd"
        c.mkdir()
        _segment(str(c), "A", 0, good, tidx=0)   # a first segment that is fine
        _segment(str(c), "A", 1, image, tidx=0)  # the variant, second: no whole image kept
        scan = session_mod.scan_channel(str(c), "A", **SCAN_ARGS)
        paths = [str(c / f"A-{n:06d}.segd" / f"A-{n:06d}.tmet") for n in (0, 1)]
        calls = []
        (plain,) = headers.plain_metadata([scan], [paths], lambda head, path: calls.append(path) or keys)
        assert plain[0] is not None and len(calls) == 1
        try:
            ref = headers.parse_metadata(image, paths[1], keys=keys)
            simple = max(struct.unpack_from("bb", image, 1024)) <= 0  # nothing to decrypt
        except MefError:
            ref, simple = None, False
        if label == "password fields":  # valid, but other keys: left to the one-by-one path
            assert plain[1] is None
            continue
        assert (plain[1] is not None) == simple, label
        if plain[1] is None:
            continue
        accepted.append(label)
        got = plain[1]
        assert got.raw is None  # a later segment keeps no image ...
        for attr in ("fs", "ufact", "start_stored", "end_stored", "start_sample", "number_of_samples",
                     "number_of_blocks", "rto", "section3_available", "head"):
            assert getattr(got, attr) == getattr(ref, attr), (label, attr)
        assert got.uh.tobytes() == ref.uh.tobytes()
        assert got.s2.tobytes() == ref.s2.tobytes()  # ... and reads its sections again when asked
        assert got.s3.tobytes() == ref.s3.tobytes()
        assert got.raw == ref.raw
    assert accepted == ["intact", "no CRCs", "fs 1e9", "fs tiny"]


def _everything(path, password=""):
    return session_report(path, password)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
            for f in x:
                xv, yv = x[f], y[f]
                if isinstance(xv, np.ndarray):
                    assert np.array_equal(xv, yv, equal_nan=xv.dtype.kind == "f"), (key, f)
                else:
                    assert repr(xv) == repr(yv), (key, f)
        else:
            assert repr(x) == repr(y), key


@needs_c_scan
@pytest.mark.parametrize("name,password", [("plain", ""), ("plain_mef3io", ""), ("encrypted", "pass2"),
                                           ("encrypted_mef3io", "pass2"), ("encrypted", "pass1")])
def test_sessions_read_the_same_without_the_c_scan(name, password, monkeypatch):
    path = os.path.join(DATA, f"{name}.mefd")
    fast = _everything(path, password)
    monkeypatch.setattr(session_mod, "_scan", None)
    _assert_same(fast, _everything(path, password))


@needs_c_scan
@pytest.mark.parametrize("scenario,writer", [("segments", "mef_tools"), ("segments", "mef3io"),
                                             ("appends", "mef3io"), ("records", "mef_tools"),
                                             ("records_encrypted", "mef3io")])
def test_oracle_sessions_read_the_same_without_the_c_scan(oracle_sessions, scenario, writer, monkeypatch):
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    fast = _everything(path, password)
    monkeypatch.setattr(session_mod, "_scan", None)
    _assert_same(fast, _everything(path, password))


def test_later_segments_keep_no_metadata_image_until_asked(oracle_sessions):
    path = oracle_sessions("segments", "mef3io")
    with neo_mef3.Reader(path) as r:
        ch = "seg"  # (in three MEF segments)
        metas, files = r.segment_metadata(ch), r.segment_files(ch)
        assert len(metas) > 1
        assert metas[0].raw is not None and all(m.raw is None for m in metas[1:])
        reported = r.segments(ch)  # reads the later segments' sections again
        for meta, sf, rep in zip(metas, files, reported):
            with open(sf.tmet, "rb") as f:
                ref = headers.parse_metadata(f.read(), sf.tmet, keys=meta.keys)
            assert meta.raw == ref.raw
            assert rep["channel_description"] == text(ref.s2["channel_description"])


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_damaged_metadata_file_is_reported_as_before(tmp_path, n_threads):
    """The bulk check leaves a damaged file to parse_metadata: the same error, naming it."""
    import shutil

    path = str(tmp_path / "s.mefd")
    shutil.copytree(os.path.join(DATA, "plain.mefd"), path)
    tmet = os.path.join(path, "B.timd", "B-000000.segd", "B-000000.tmet")
    with open(tmet, "r+b") as f:
        f.seek(9000)
        byte = f.read(1)
        f.seek(9000)
        f.write(bytes([byte[0] ^ 0x40]))
    with neo_mef3.Reader(path, n_threads=n_threads) as r:
        assert r.info("A")["number_of_samples"] > 0
        with pytest.raises(MefError, match="body CRC mismatch") as exc:
            r.info("B")
        assert tmet in str(exc.value)
    with pytest.raises(MefError, match="body CRC mismatch"):
        io = MEF3RawIO(dirname=path, n_threads=n_threads)
        io.parse_header()


@pytest.mark.parametrize("c_scan", [True, False])
def test_writer_appends_to_the_segment_the_reader_lists_last(tmp_path, monkeypatch, c_scan):
    """Writer and Reader list segments with the same scan, with or without the C one."""
    if not c_scan:
        monkeypatch.setattr(session_mod, "_scan", None)
    elif session_mod._scan is None:
        pytest.skip("no C scan on this platform")
    path = str(tmp_path / "w.mefd")
    t0, fs = 1_600_000_000_000_000, 100.0
    x = np.arange(600, dtype=np.int32)
    with neo_mef3.Writer(path) as w:
        w.write_int32("A", x[:200], 1.0, t0, fs)
        w.write_int32("A", x[200:400], 1.0, t0 + 3_000_000, fs, new_segment=True)
    os.makedirs(os.path.join(path, "A.timd", "A-0000x2.segd"))  # not a segment (not digits)
    with neo_mef3.Writer(path) as w:  # appends to segment 1, the last listed
        w.write_int32("A", x[400:], 1.0, t0 + 5_000_000, fs)
    with neo_mef3.Reader(path) as r:
        segs = r.segments("A")
        assert [s["number_of_samples"] for s in segs] == [200, 400]
        got = r.read_samples("A")
        assert np.array_equal(got, x)


def test_a_torn_metadata_read_is_read_again():
    """A later segment's sections are read again on demand; a read torn by a Writer
    rewriting the file is retried (``headers.parse_stable``), real damage stands."""
    good = _tmet_of(os.path.join(DATA, "plain.mefd"))
    torn = good[:9000] + bytes(len(good) - 9000)
    parse = lambda raw: headers.parse_metadata(raw, "x.tmet")  # noqa: E731
    reads = iter([torn, good])
    assert headers.parse_stable(lambda: next(reads), parse).raw == good
    with pytest.raises(MefError, match="CRC"):
        headers.parse_stable(lambda: torn, parse)


def _awkward_session(tmp_path):
    """A session directory whose channels hold every kind of odd entry and damage."""
    good = _tmet_of(os.path.join(DATA, "plain.mefd"))
    s = tmp_path / "odd.mefd"
    s.mkdir()
    a = s / "A.timd"
    a.mkdir()
    c = str(a)
    _segment(c, "A", 0, good, tidx=1080, rdat=True)
    _segment(c, "A", 1, good[:100], ridx=True)
    _segment(c, "A", 2, good + b"x", tidx=56)
    _segment(c, "A", 3, None, tidx=0, rdat=True, ridx=True)
    _segment(c, "A", 999999, good[::-1], tidx=7)
    _segment(c, "A", 5, good, tidx=1080, width=5)  # (another writer's spelling: A-00005.segd)
    _segment(c, "A", 2147483647, good, width=10)   # the largest number MEF's int32 holds
    for other in ("B-000008.segd", "A-000013.segdx", "A-2147483648.segd", "A-12345678901.segd", "A-.segd"):
        os.makedirs(os.path.join(c, other))
    os.symlink(os.path.join(c, "A-000000.segd"), os.path.join(c, "A-000011.segd"))
    os.symlink(os.path.join(c, "nowhere"), os.path.join(c, "A-000012.segd"))
    open(os.path.join(c, "A.rdat"), "wb").close()
    os.symlink(os.path.join(c, "nowhere"), os.path.join(c, "A.ridx"))  # a broken link: not there
    for k in range(40):  # many plain channels: the scan's threads share them
        d = s / f"C{k:02d}.timd"
        d.mkdir()
        for n in range(k % 3 + 1):
            _segment(str(d), f"C{k:02d}", n, good, tidx=1024 + 56 * (k % 2), ridx=k % 5 == 0)
        if k % 7 == 0:
            open(d / f"C{k:02d}.ridx", "wb").close()
    (s / "E.timd").mkdir()  # no segments
    u = s / "U.timd"  # segments spelled unpadded, as other writers do
    u.mkdir()
    for n in (0, 1, 10):
        _segment(str(u), "U", n, good, tidx=1080, width=len(str(n)))
    t = s / "T.timd"  # two folders claiming segment 0: refused, naming both
    t.mkdir()
    _segment(str(t), "T", 0, good, width=1)
    _segment(str(t), "T", 0, good)
    os.symlink(str(s / "gone"), str(s / "L.timd"))  # a channel directory that cannot be listed
    return s


@needs_c_scan
@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("probe", [False, True])
def test_session_scan_equals_the_python_scan_channel_by_channel(tmp_path, threads, probe):
    s = _awkward_session(tmp_path)
    names = ["A", "E", "L", "T", "U"] + [f"C{k:02d}" for k in range(40)]
    fast = session_mod.scan_session(str(s), names, METADATA_FILE_BYTES, headers.SCAN_KEEP, headers.SCAN_FIELDS,
                                    headers.SCAN_FS_OFFSET, probe, threads)
    slow = []
    for n in names:
        try:
            slow.append(session_mod._scan_channel_py(str(s / f"{n}.timd"), n, probe=probe, **SCAN_ARGS))
        except MefError as exc:
            slow.append(exc)
    ref = session_mod.join_scans(names, slow)
    assert [str(e) for e in fast.errors] == [str(e) for e in ref.errors]
    assert isinstance(fast.errors[2], MefError) and fast.errors[0] is None
    for field in ("starts", "numbers", "heads", "fields", "lengths", "plain", "index_sizes", "record_flags",
                  "channel_record_flags", "widths"):
        x, y = getattr(fast, field), getattr(ref, field)
        if not probe and field in ("index_sizes", "record_flags", "channel_record_flags"):
            assert x is None and y is None
            continue
        assert np.array_equal(x, y) and x.dtype == y.dtype, field
    assert fast.images.keys() == ref.images.keys() and all(fast.images[k] == ref.images[k] for k in fast.images)
    # by hand: channel A as test_c_scan_equals_python_scan_on_an_awkward_channel found it
    a, b = fast.starts[0], fast.starts[1]
    assert fast.numbers[a:b].tolist() == [0, 1, 2, 3, 5, 11, 999999, 2147483647]
    assert fast.widths[a:b].tolist() == [6, 6, 6, 6, 5, 6, 6, 10]
    assert fast.lengths[a + 4] == fast.lengths[a + 7] == METADATA_FILE_BYTES  # (read by their own spelling)
    # the unpadded channel read whole; the channel with two folders for segment 0 refused, naming both
    a, b = fast.starts[4], fast.starts[5]
    assert fast.numbers[a:b].tolist() == [0, 1, 10] and fast.widths[a:b].tolist() == [1, 1, 2]
    assert fast.plain[a:b].tolist() == [1, 1, 1]
    assert fast.starts[3] == fast.starts[4] and "T-0.segd and T-000000.segd" in str(fast.errors[3])
    if probe:
        assert fast.index_sizes[a:b].tolist() == [1080, 1080, 1080]
        assert fast.channel_record_flags[0] == session_mod.HAS_RDAT  # (the .ridx link leads nowhere)
        assert fast.channel_record_flags.tolist()[5:12] == [session_mod.HAS_RIDX, 0, 0, 0, 0, 0, 0]


@needs_c_scan
def test_session_scan_rejects_arguments_that_could_overrun(tmp_path):
    from neo_mef3 import _scan

    d = str(tmp_path).encode()
    for dirs, names in (([b"a/b"], [b"a"]), ([b"a"], [b""]), ([b"a"], [b"x\0"]), ([b"a"], [b"x" * 300]),
                        ([b"a", b"b"], [b"a"])):
        with pytest.raises(ValueError):
            _scan.list_channels(d, dirs, names)
    one = np.zeros(1, np.int64)
    key = one + ((0 << 8) | 6)  # segment 0 spelled with six digits
    ok = dict(heads=np.zeros((1, 10), np.uint8), fields=np.zeros((1, 1), np.int64), lengths=np.zeros(1, np.int64),
              plain=np.zeros(1, np.uint8), whole=np.zeros(1, np.uint8))
    for bad in (dict(heads=np.zeros((1, 9), np.uint8)), dict(fields=np.zeros((1, 1), np.int32)),
                dict(lengths=np.zeros(2, np.int64)), dict(plain=np.zeros(1, np.uint8)[::-1][:0]),
                dict(whole=[0])):
        kw = dict(ok, **bad)
        with pytest.raises((ValueError, TypeError)):
            _scan.read_segments(d, [b"a"], [b"a"], one, key, 0, 1, 16384, 1024, 10, [0], 0, kw["heads"],
                                kw["fields"], kw["lengths"], kw["plain"], kw["whole"])
    with pytest.raises(ValueError):  # a channel index outside the list
        _scan.read_segments(d, [b"a"], [b"a"], one + 1, key, 0, 1, 16384, 1024, 10, [0], 0, *ok.values())
    # a segment key (number << 8 | digits) that spells no folder: 0 or 11 digits, a number
    # its digits cannot hold, one past int32
    for number, digits in ((0, 0), (0, 11), (10**6, 6), (123, 2), (2**31, 10), (-1, 6)):
        with pytest.raises(ValueError):
            _scan.read_segments(d, [b"a"], [b"a"], one, one + ((number << 8) | digits), 0, 1, 16384, 1024, 10, [0], 0,
                                *ok.values())
    # the arguments above, all fine: the missing file is reported in its row
    assert _scan.read_segments(d, [b"a"], [b"a"], one, key, 0, 1, 16384, 1024, 10, [0], 0, *ok.values()) == (0, {})
    assert ok["lengths"][0] == -errno.ENOENT


def test_layouts_in_one_pass_equal_the_channel_by_channel_sections(tmp_path, oracle_sessions):
    """Reader.layouts judges one-segment channels together in numpy: the same sections
    (or None) as continuous_sections(from_metadata=True), damage included."""
    import shutil

    from neo_mef3.reader import sections

    path = str(tmp_path / "s.mefd")
    shutil.copytree(oracle_sessions("segments", "mef3io"), path)
    src = os.path.join(DATA, "plain.mefd")
    for ch in os.listdir(src):  # one-segment channels beside the multi-segment ones
        if ch.endswith(".timd") and not os.path.exists(os.path.join(path, ch)):
            shutil.copytree(os.path.join(src, ch), os.path.join(path, ch))
    with neo_mef3.Reader(path) as r:
        r.preload()
        names = r.channels
        got = r.layouts()
        for name in names:
            ref = r.continuous_sections(name, from_metadata=True)
            numbers, factors, layout = got[name]
            assert numbers == r.segment_table(name)["segment"].tolist()
            assert factors == r.segment_table(name)["units_conversion_factor"].tolist()
            assert (layout is None) == (ref is None), name
            if ref is not None:
                assert all(np.array_equal(x, y) for x, y in zip(layout, ref)), name
    # the rules, case by case, on rows made by hand
    from neo_mef3.reader.rows import SegmentRows

    def Rows(values, size):
        return SegmentRows("A", "/x", [0], [values], None, 0, None, None, [size], [0], None)

    base = (1000.0, 1.0, 0, 1000, 2, 0, 1_000_000, 2_000_000)
    cases = [base, base[:3] + (0,) + base[4:], base[:4] + (0,) + base[5:], base[:6] + (-(2**63),) + base[7:],
             base[:7] + (2_000_400,), base[:7] + (2_000_600,), base[:5] + (-(2**63),) + base[6:],
             base[:5] + (5_000_000, -1_000_000, -2_000_000), base[:3] + (2**62 + 5,) + base[4:],
             base[:3] + (2**63 + 5,) + base[4:]]  # (no int64 holds it: the bulk pass gives way to the loop)
    sizes = [1024 + 2 * 56, 1024 + 3 * 56]
    chans = [(Rows(v, size), 1000.0) for v in cases for size in sizes]
    # channels of several segments: in order, overlapping, one damaged row, totals past int64
    def Many(values, sizes):
        return SegmentRows("A", "/x", list(range(len(values))), list(values), None, 0, None, None, list(sizes),
                           [0] * len(values), None)

    def later(v, shift):
        return v[:6] + (v[6] + shift, v[7] + shift)

    size = 1024 + 2 * 56
    for case in cases:
        rows = [base, later(base, 2_000_000), later(case, 4_000_000)]
        chans.append((Many(rows, [size] * 3), 1000.0))
        chans.append((Many([later(case, -3_000_000), base, later(base, 3_000_000)], [size] * 3), 1000.0))
    chans.append((Many([base, later(base, 500_000)], [size] * 2), 1000.0))  # (overlap)
    chans += [(Many([base, later(base, 2_000_000)], [size] * 2), float("nan")), (Many([base], [size]), -1000.0),
              (Many([base, later(base, 2_000_000)], [size] * 2), -1000.0), (Many([base], [size]), 1000.0)]
    # (a row no int64 holds sends the whole call to the loop: judged with and without one)
    fits = [c for c in chans if all(-(2**63) <= x < 2**63 for r in c[0].values for x in r[3:8])]
    assert len(fits) < len(chans)
    for some in (chans, fits):
        bulk = sections.layouts_from_metadata(some, lambda paths: [])
        for (rows, fs), b in zip(some, bulk):
            one = sections.sections_from_metadata(rows, fs, lambda paths: [])
            assert (b is None) == (one is None), rows.values
            if one is not None:
                assert all(np.array_equal(x, y) for x, y in zip(b, one))
    # 400 segments of 2**55 samples (each fine for the numpy pass): no int64 holds where the
    # last one starts, and the bulk pass hands the channel to the loop, which says so
    huge = (1.024e9, 1.0, 0, 2**55, 2, 0, 1_000_000, 1_000_000 + 2**45)
    many = Many([later(huge, k * 2**45) for k in range(400)], [size] * 400)
    with pytest.raises(OverflowError):
        sections.sections_from_metadata(many, 1.024e9, lambda paths: [])
    with pytest.raises(OverflowError):
        sections.layouts_from_metadata([(many, 1.024e9)], lambda paths: [])
