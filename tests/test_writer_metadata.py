"""Native Writer: descriptive metadata (set_metadata), truncated-time appends, end_uutc,
int32 validity masks and annotation order -- each read back with our Reader, mef3io and
pymef, and checked with mef3io.Validator."""

import glob
import os

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import WriteConflictError
from neo_mef3.writer import Writer

pytest.importorskip("pymef", exc_type=ImportError)
mef3io = pytest.importorskip("mef3io", exc_type=ImportError)
from support.build_oracles import build_scenario  # noqa: E402
from support.quiet import quiet  # noqa: E402
from support.read_oracles import read_mef3io, read_pymef  # noqa: E402
from support.scenarios import SCENARIOS  # noqa: E402
from support.session_checks import assert_valid, tree_digest  # noqa: E402

T0 = 1_600_000_000_000_000

SECTION2 = {
    "channel_description": "Fp1 depth contact 3",
    "session_description": "overnight, ward 7",
    "reference_description": "linked mastoids",
    "acquisition_channel_number": 17,
    "low_frequency_filter_setting": 0.5,
    "high_frequency_filter_setting": 300.0,
    "notch_filter_frequency_setting": 50.0,
    "AC_line_frequency": 50.0,
}
SECTION3 = {
    "subject_name_1": "Zelda",
    "subject_name_2": "Quokkaberg",
    "subject_id": "SUBJ-0042",
    "recording_location": "Room 12, Hospital X",
    "GMT_offset": 3600,
}
#: Reader.info key -> mef3io Reader.info key
MEF3IO_KEYS = {
    "low_frequency_filter_setting": "low_frequency_filter",
    "high_frequency_filter_setting": "high_frequency_filter",
    "notch_filter_frequency_setting": "notch_filter",
    "AC_line_frequency": "line_frequency",
    "GMT_offset": "gmt_offset",
}
#: Reader.info key -> field name in the MEF structs (pymef's dtypes)
PYMEF_FIELDS = {"subject_id": "subject_ID"}


def half_up(x):
    """The Writer's rounding of microsecond offsets (half away from zero, x >= 0)."""
    return int(np.floor(x + 0.5))


def info_subset(info, keys):
    return {k: info[k] for k in keys}


def pymef_sections(path, password=None):
    """{channel: [(section_2 record, section_3 record) per segment]} as pymef reads them."""
    from pymef.mef_session import MefSession

    out = {}
    with quiet():
        s = MefSession(str(path), password)
        try:
            for name, ch in s.session_md["time_series_channels"].items():
                out[name] = [(seg["section_2"][0], seg["section_3"][0])
                             for _, seg in sorted(ch["segments"].items())]
        finally:
            s.close()
    return out


def pymef_value(s2, s3, key):
    field = PYMEF_FIELDS.get(key, key)
    rec = s2 if key in SECTION2 else s3
    v = rec[field]
    if isinstance(v, bytes):
        return v.decode()
    return type(SECTION2.get(key, SECTION3.get(key)))(v)


def mef3io_info(path, channel, password=""):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mef3io.Reader(str(path), password=password) as r:
            return r.info(channel)


def assert_everywhere(path, channel, expected, password="", n_segments=None):
    """`expected` (Reader.info names) as our Reader, mef3io and pymef read them, per segment."""
    with neo_mef3.Reader(path, password=password) as r:
        assert info_subset(r.info(channel), expected) == expected
    m = mef3io_info(path, channel, password)
    assert {k: m[MEF3IO_KEYS.get(k, k)] for k in expected} == expected
    segs = pymef_sections(path, password or None)[channel]
    if n_segments is not None:
        assert len(segs) == n_segments
    for s2, s3 in segs:
        assert {k: pymef_value(s2, s3, k) for k in expected} == expected


def validator_findings(path, password=""):
    rep = mef3io.Validator(str(path), password=password).validate()
    assert not rep.skipped
    return sorted(str(f) for f in rep.findings)


def tmet_files(path, channel="*"):
    return sorted(glob.glob(os.path.join(str(path), f"{channel}.timd", "*.segd", "*.tmet")))


# --- set_metadata -------------------------------------------------------------------


def test_set_metadata_before_and_after_writing(tmp_path):
    path = tmp_path / "meta.mefd"
    with Writer(path, overwrite=True) as w:
        assert w.set_metadata(SECTION3) == 0  # no channel yet: remembered for every channel
        w.write("a", np.arange(1000) * 0.5, T0, 100.0)
        w.write("a", np.arange(500) * 0.5, T0 + 20_000_000, 100.0, new_segment=True)
        w.write("b", np.ones(300), T0, 100.0)
        # one channel, after the fact: its two segments' .tmet are rewritten
        assert w.set_metadata(SECTION2, channel="a") == 2
        # appends and new segments keep the values
        w.write("a", np.arange(500) * 0.5, T0 + 25_000_000, 100.0)
        w.write("a", np.arange(100) * 0.5, T0 + 40_000_000, 100.0, new_segment=True)
    assert_valid(path)
    assert_everywhere(path, "a", {**SECTION2, **SECTION3}, n_segments=3)
    assert all(b"Quokkaberg" in open(f, "rb").read() for f in tmet_files(path))  # unencrypted: plain text
    assert_everywhere(path, "b", SECTION3)
    with neo_mef3.Reader(path) as r:
        assert r.info("b")["channel_description"] == ""  # not set for b
        assert r.info("b")["acquisition_channel_number"] == -1
        assert r.read_raw("a")["samples"].size > 0
    # a new Writer: an append and a new segment keep what is on disk
    with Writer(path) as w:
        w.write("a", np.arange(100) * 0.5, T0 + 41_000_000, 100.0)
        w.write("a", np.arange(100) * 0.5, T0 + 50_000_000, 100.0, new_segment=True)
        # None and absent keys leave fields alone; later calls win
        assert w.set_metadata({"channel_description": "renamed", "subject_name_1": None}) == 5
    assert_valid(path)
    assert_everywhere(path, "a", {**SECTION2, **SECTION3, "channel_description": "renamed"}, n_segments=4)
    assert_everywhere(path, "b", {**SECTION3, "channel_description": "renamed"})


def test_set_metadata_channel_none_reaches_later_channels_and_later_calls_win(tmp_path):
    path = tmp_path / "later.mefd"
    with Writer(path, overwrite=True) as w:
        w.set_metadata({"channel_description": "for c"}, channel="c")
        w.set_metadata({"channel_description": "all", "AC_line_frequency": 60.0})
        w.set_metadata({"reference_description": "Cz"}, channel="c")
        w.write("c", np.ones(100), T0, 100.0)
        w.write("d", np.ones(100), T0, 100.0)
    with neo_mef3.Reader(path) as r:
        assert info_subset(r.info("c"), ["channel_description", "AC_line_frequency", "reference_description"]) == {
            "channel_description": "all", "AC_line_frequency": 60.0, "reference_description": "Cz"}
        assert info_subset(r.info("d"), ["channel_description", "reference_description"]) == {
            "channel_description": "all", "reference_description": ""}
    assert_valid(path)


def test_set_metadata_encrypted_session(tmp_path):
    path = tmp_path / "enc.mefd"
    with Writer(path, overwrite=True, password1="pass1", password2="pass2") as w:
        w.write("e", np.arange(2000) * 0.1, T0, 200.0)
        w.write("e", np.arange(200) * 0.1, T0 + 20_000_000, 200.0, new_segment=True)
        assert w.set_metadata({**SECTION2, **SECTION3}) == 2
    with Writer(path, password2="pass2") as w:  # reopened: appends and new segments keep them
        w.write("e", np.arange(200) * 0.1, T0 + 21_000_000, 200.0)
        w.write("f", np.ones(100), T0, 100.0)
        w.set_metadata({"subject_id": "SUBJ-0043"}, channel="f")
    expected = {**SECTION2, **SECTION3}
    assert_valid(path, password="pass2")
    assert_everywhere(path, "e", expected, password="pass2", n_segments=2)
    with neo_mef3.Reader(path, password="pass2") as r:
        assert r.info("f")["subject_id"] == "SUBJ-0043"
        # channel=None values are remembered by the Writer that set them, not by the session
        assert r.info("f")["channel_description"] == ""
    # level 1 sees section 2, not section 3
    with neo_mef3.Reader(path, password="pass1") as r:
        info = r.info("e")
        assert info_subset(info, SECTION2) == SECTION2
        assert all(info[k] is None for k in SECTION3)
    m = mef3io_info(path, "e", "pass1")
    assert m["section3_available"] is False and m["subject_name_1"] is None
    # nothing identifying in plain text: section 3 stays level-2 encrypted, section 2 level 1
    for f in tmet_files(path):
        raw = open(f, "rb").read()
        assert raw[1024:1026] == bytes([1, 2])
        for needle in (b"Zelda", b"Quokkaberg", b"SUBJ-004", b"Hospital X", b"Fp1 depth"):
            assert needle not in raw, (needle, f)


def test_set_metadata_refusals_write_nothing(tmp_path):
    path = tmp_path / "bad.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("c", np.ones(100), T0, 100.0)
        before = tree_digest(path)
        cases = [
            ({"channel_description": "x", "no_such_field": 1}, ValueError),
            ({"sampling_frequency": 200.0}, ValueError),  # not settable
            ({"channel_description": "x" * 2048}, ValueError),  # 2047 bytes fit
            ({"subject_name_1": "é" * 64}, ValueError),  # 128 UTF-8 bytes; 127 fit
            ({"recording_location": "x" * 512}, ValueError),
            ({"channel_description": "a\x00b"}, ValueError),
            ({"GMT_offset": 2**31}, ValueError),
            ({"channel_description": b"bytes"}, TypeError),
            ({"acquisition_channel_number": 1.5}, TypeError),
            ({"acquisition_channel_number": True}, TypeError),
            ({"AC_line_frequency": "50"}, TypeError),
            (["channel_description"], TypeError),
        ]
        for fields, exc in cases:
            with pytest.raises(exc):
                w.set_metadata(fields)
            with pytest.raises(exc):
                w.set_metadata(fields, channel="c")
        assert tree_digest(path) == before
        # the limits themselves fit
        w.set_metadata({"channel_description": "x" * 2047, "subject_name_1": "é" * 63 + "x",
                        "recording_location": "y" * 511})
        w.write("c", np.ones(100), T0 + 1_000_000, 100.0)
    with neo_mef3.Reader(path) as r:
        info = r.info("c")
    assert info["channel_description"] == "x" * 2047 and info["subject_name_1"] == "é" * 63 + "x"
    assert_valid(path)


def test_set_metadata_without_updating_existing_segments(tmp_path):
    path = tmp_path / "noupd.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("c", np.ones(100), T0, 100.0)
        before = tree_digest(path)
        assert w.set_metadata({"channel_description": "second"}, update_existing=False) == 0
        assert tree_digest(path) == before
        w.write("c", np.ones(100), T0 + 5_000_000, 100.0, new_segment=True)
    with neo_mef3.Reader(path) as r:
        assert r.info("c")["channel_description"] == ""  # Reader.info: the first segment's
    segs = pymef_sections(path)["c"]
    assert [s2["channel_description"] for s2, _ in segs] == [b"", b"second"]
    assert_valid(path)


@pytest.mark.parametrize("writer,scenario", [("mef_tools", "segments"), ("mef3io", "segments"),
                                             ("mef_tools", "encrypted"), ("mef3io", "encrypted")])
def test_set_metadata_on_foreign_sessions(tmp_path, writer, scenario):
    """Sessions meflib (mef_tools) and mef3io wrote: only the given fields change, every
    segment's .tmet is rewritten, CRCs and encryption stay valid."""
    sc = SCENARIOS[scenario]
    path = build_scenario(sc, str(tmp_path / f"{writer}.mefd"), writer)
    pw = sc.read_password or ""
    with neo_mef3.Reader(path, password=pw) as r:
        ch = r.channels[0]
        old = r.info(ch)
        old_raw = r.read_raw(ch)
    files_before = {f: open(f, "rb").read() for f in tmet_files(path, ch)}
    findings_before = validator_findings(path, pw)
    with Writer(path, password2=sc.password2 or "") as w:
        assert w.set_metadata({"subject_id": "X1", "channel_description": "desc"}, channel=ch) == old["n_segments"]
    with neo_mef3.Reader(path, password=pw) as r:
        new = r.info(ch)
        new_raw = r.read_raw(ch)
    changed = {"subject_id": "X1", "channel_description": "desc"}
    assert info_subset(new, changed) == changed
    assert {k: v for k, v in new.items() if k not in changed} == {k: v for k, v in old.items() if k not in changed}
    assert np.array_equal(new_raw["samples"], old_raw["samples"])
    for f, before in files_before.items():
        after = open(f, "rb").read()
        assert after[1024:1026] == before[1024:1026]  # section encryption levels kept
        assert after[8:1024] == before[8:1024]  # universal header: only its CRCs changed
        if sc.password2:
            assert b"X1" not in after[1024 + 10752:]
    assert_everywhere(path, ch, changed, password=pw)
    # the writers' own findings (e.g. meflib's section-2 statistics) neither grow nor shrink
    assert validator_findings(path, pw) == findings_before


# --- appends at truncated times, end_uutc ------------------------------------------


@pytest.mark.parametrize("fs,n", [(2048.0, 3000), (1024.0, 1000)])
def test_truncated_append_times_are_contiguous(tmp_path, fs, n):
    """mef_tools' chunking idiom t = int(t + n/fs*1e6) starts up to 1 us before the
    rounded end: accepted, stored contiguously (also across Writer objects)."""
    path = tmp_path / "trunc.mefd"
    rng = np.random.default_rng(int(fs))
    chunks = [rng.integers(-5000, 5000, n).astype(np.int32) for _ in range(4)]
    t = T0
    starts = []
    with Writer(path, overwrite=True) as w:
        for c in chunks[:3]:
            starts.append(t)
            assert w.write_int32("c", c, 1.0, t, fs)["segment"] == 0
            t = int(t + n / fs * 1e6)
    with Writer(path) as w:
        starts.append(t)
        w.write_int32("c", chunks[3], 1.0, t, fs)
    assert starts[1] - T0 == int(n / fs * 1e6) == half_up(n / fs * 1e6) - 1  # the case at hand
    expected = np.concatenate(chunks)
    assert_valid(path)
    with neo_mef3.Reader(path) as r:
        toc = r.toc("c")
        assert [b["discontinuity"] for b in toc] == [True] + [False] * (len(toc) - 1)
        assert [b["start_uutc"] for b in toc if b["start_sample"] % n == 0] == starts  # times as given
        raw = r.read_raw("c")
        assert raw["valid"].all() and np.array_equal(raw["samples"], expected)
        assert r.info("c")["end_time"] == starts[-1] + half_up(n * 1e6 / fs)
    m3 = read_mef3io(path)
    assert not m3["errors"]
    raw = m3["channels"]["c"]["read_raw"]
    assert raw["valid"].all() and np.array_equal(raw["samples"], expected)
    pm = read_pymef(path)
    assert not pm["errors"]
    c = pm["channels"]["c"]
    assert not np.isnan(c["data"]).any() and np.array_equal(c["data"], expected)
    assert np.array_equal(c["samples"], expected)


def test_real_overlaps_are_still_refused(tmp_path):
    path = tmp_path / "ovl.mefd"
    with Writer(path, overwrite=True) as w:
        w.write_int32("c", np.zeros(3000, np.int32), 1.0, T0, 2048.0)
        end = T0 + half_up(3000 / 2048 * 1e6)
        before = tree_digest(path)
        for t in (end - 2, end - 488, T0):
            with pytest.raises(WriteConflictError):
                w.write_int32("c", np.zeros(10, np.int32), 1.0, t, 2048.0)
            with pytest.raises(WriteConflictError):
                w.write_int32("c", np.zeros(10, np.int32), 1.0, t, 2048.0, new_segment=True)
        assert tree_digest(path) == before
        # below 1 MHz the slack holds (a period is longer than 1 us) ...
        w.write_int32("h", np.zeros(3, np.int32), 1.0, T0, 600_000.0)  # ends at T0 + 5 us
        w.write_int32("h", np.zeros(3, np.int32), 1.0, T0 + 4, 600_000.0)
        # ... at 1 MHz and above 1 us is a whole sample: no slack
        w.write_int32("m", np.zeros(3, np.int32), 1.0, T0, 1e6)  # ends at T0 + 3 us
        with pytest.raises(WriteConflictError):
            w.write_int32("m", np.zeros(3, np.int32), 1.0, T0 + 2, 1e6)
        w.write_int32("m", np.zeros(3, np.int32), 1.0, T0 + 3, 1e6)
    assert_valid(path)


def test_end_uutc(tmp_path):
    path = tmp_path / "end.mefd"
    with Writer(path, overwrite=True) as w:
        # the recording went on without data: the stored end is later than the data
        w.write("a", np.ones(100), T0, 100.0, end_uutc=T0 + 5_000_000)
        with pytest.raises(WriteConflictError):  # before the stored end
            w.write("a", np.ones(100), T0 + 2_000_000, 100.0)
        w.write("a", np.ones(100), T0 + 5_000_000, 100.0)  # at it: not contiguous with the data
        # mef_tools' truncated end, then the next chunk at it
        n, fs = 3000, 2048.0
        w.write_int32("b", np.arange(n), 1.0, T0, fs, end_uutc=int(T0 + n / fs * 1e6))
        w.write_int32("b", np.arange(n), 1.0, int(T0 + n / fs * 1e6), fs,
                      end_uutc=int(int(T0 + n / fs * 1e6) + n / fs * 1e6))
        for bad in (T0 + 9_000_000 + 990_000, T0 + 9_000_000 - 1):  # the last sample's time, before start
            with pytest.raises(ValueError):
                w.write("c", np.ones(100), T0 + 9_000_000, 100.0, end_uutc=bad)
    with neo_mef3.Reader(path) as r:
        assert r.info("a")["end_time"] == T0 + 6_000_000
        assert [b["discontinuity"] for b in r.toc("a")] == [True, True]
        assert r.segments("a")[0]["end_time"] == T0 + 6_000_000
        assert r.info("b")["end_time"] == int(int(T0 + n / fs * 1e6) + n / fs * 1e6) == T0 + 2929686
        assert [b["discontinuity"] for b in r.toc("b")] == [True, False]
        assert np.array_equal(r.read_raw("b")["samples"], np.r_[np.arange(n), np.arange(n)])
        assert "c" not in r.channels
    with Writer(path) as w:  # the stored end survives a reopen
        with pytest.raises(WriteConflictError):
            w.write("a", np.ones(10), T0 + 5_999_000, 100.0)
        w.write_int32("b", np.arange(10), 1.0, T0 + 2929686, fs)
    assert_valid(path)
    pm = read_pymef(path)
    assert pm["channels"]["a"]["end_time"] == T0 + 6_000_000 and not pm["errors"]


# --- int32 validity masks ------------------------------------------------------------


def test_write_int32_does_not_range_check_invalid_samples(tmp_path):
    path = tmp_path / "mask.mefd"
    with Writer(path, overwrite=True) as w:
        res = w.write_int32("c", np.array([1, -(2**31), 2]), 1.0, T0, 100.0, valid=[1, 0, 1])
        assert res["samples_written"] == 2 and res["gaps_skipped"] == 1
        w.write_int32("d", np.array([5, 2**40, -(2**40), 6], np.int64), 1.0, T0, 100.0, valid=[1, 0, 0, 1])
        with pytest.raises(ValueError):  # valid samples are still checked
            w.write_int32("e", np.array([1, -(2**31), 2]), 1.0, T0, 100.0, valid=[1, 1, 0])
        with pytest.raises(ValueError):
            w.write_int32("e", np.array([1, 2**31, 2]), 1.0, T0, 100.0, valid=[1, 1, 0])
    with neo_mef3.Reader(path) as r:
        raw = r.read_raw("c")
        assert raw["valid"].tolist() == [1, 0, 1] and raw["samples"][[0, 2]].tolist() == [1, 2]
        raw = r.read_raw("d")
        assert raw["valid"].tolist() == [1, 0, 0, 1] and raw["samples"][[0, 3]].tolist() == [5, 6]
        assert "e" not in r.channels
    assert_valid(path)


# --- annotation order ----------------------------------------------------------------


def test_annotation_order(tmp_path):
    path = tmp_path / "ann.mefd"
    recs = [{"time": T0 + 3, "text": "c"}, {"time": T0 + 1, "text": "a"}, {"time": T0 + 2, "text": "b"},
            {"time": T0 + 1, "text": "a2"}]
    with Writer(path, overwrite=True, password1="p1", password2="p2") as w:
        w.write("x", np.ones(100), T0, 100.0)
        w.write_annotations(recs)
        w.write_annotations(recs, channel="x", sort=False)
    with neo_mef3.Reader(path, password="p2") as r:
        assert [a["text"] for a in r.records()] == ["a", "a2", "b", "c"]  # stable time order
        assert [a["text"] for a in r.records("x") if a.get("level") == "channel"] == ["c", "a", "b", "a2"]
    pm = read_pymef(path, password="p2")
    assert [a["text"] for a in pm["records"]] == ["a", "a2", "b", "c"]
    assert [a["text"] for a in pm["channels"]["x"]["records"]] == ["c", "a", "b", "a2"]
    m3 = read_mef3io(path, password="p2")
    assert not m3["errors"]
    # mef3io returns records in time order whatever the file order; all four are read
    assert [(a["time"], a["text"]) for a in m3["channels"]["x"]["records"]] == \
        [(T0 + 1, "a"), (T0 + 1, "a2"), (T0 + 2, "b"), (T0 + 3, "c")]
    assert_valid(path, password="p2")
