"""The native Writer, checked against the reference readers.

Every session written here is read back with pymef (meflib) and mef3io and must pass
``mef3io.Validator`` with no errors and no warnings. The one finding the Validator may
report is informational: ``header.max-entry-size`` for ``.tdat``, where we follow the
MEF 3.0 specification and meflib (the number of samples in the largest block) and
mef3io reads the field as the largest block's byte count (its own check says that is
its reading, not the specification).
"""

import glob
import os
import struct

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import PasswordError, UnknownChannelError, WriteConflictError
from neo_mef3.format import headers
from neo_mef3.writer import Writer, default_block_length, infer_precision

pytest.importorskip("pymef", exc_type=ImportError)
mef3io = pytest.importorskip("mef3io", exc_type=ImportError)
from support.build_oracles import build_scenario  # noqa: E402
from support.read_oracles import read_mef3io, read_pymef  # noqa: E402
from support.session_checks import assert_valid, tree_digest  # noqa: E402

T0 = 1_600_000_000_000_000


# --- helpers -------------------------------------------------------------------------


def counts_of(x, p):
    return np.rint(x * 10.0**p)


def seg_files(path, ch, n=0):
    d = os.path.join(str(path), f"{ch}.timd", f"{ch}-{n:06d}.segd")
    return {k: os.path.join(d, f"{ch}-{n:06d}.{k}") for k in ("tmet", "tidx", "tdat")}


def tdat_body(path, ch, n=0):
    with open(seg_files(path, ch, n)["tdat"], "rb") as f:
        return f.read()[1024:]


def index_of(path, ch, n=0):
    with open(seg_files(path, ch, n)["tidx"], "rb") as f:
        return headers.parse_index(f.read())[1]


def section2(path, ch, n=0, password=""):
    with open(seg_files(path, ch, n)["tmet"], "rb") as f:
        return headers.parse_metadata(f.read(), password=password).s2


def decimal_signal(n, rng, scale=40.0, decimals=1):
    return np.round(np.cumsum(rng.normal(0, 1, n)) * scale / 10 + rng.normal(0, scale / 4, n), decimals)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# --- float path, several rates and channels, gaps, fractional fs ----------------------


def test_float_channels_read_back_exactly(tmp_path, rng):
    path = tmp_path / "floats.mefd"
    specs = {  # name: (fs, seconds, gaps as (start, stop) sample ranges, start offset us)
        "a256": (256.0, 12.0, [(700, 1000), (2000, 2001)], 0),
        "b1k": (1000.0, 6.0, [], 1237),
        "c499": (499.907, 8.0, [(1500, 2100)], 0),
        "d30k": (30000.0, 1.5, [(10000, 12000)], 0),
    }
    written = {}
    with Writer(path, overwrite=True) as w:
        for name, (fs, secs, gaps, off) in specs.items():
            x = decimal_signal(int(fs * secs), rng)
            for a, b in gaps:
                x[a:b] = np.nan
            res = w.write(name, x, T0 + off, fs)
            assert res["segment"] == 0
            assert res["samples_written"] == int(np.isfinite(x).sum())
            assert res["gaps_skipped"] == len(gaps)
            written[name] = x
    assert_valid(path)
    pm = read_pymef(path)
    m3 = read_mef3io(path)
    assert not pm["errors"] and not m3["errors"]
    ours = neo_mef3.Reader(path)
    for name, (fs, secs, gaps, off) in specs.items():
        x = written[name]
        counts = counts_of(x, 1)
        n = len(x)
        c = pm["channels"][name]
        assert c["fs"] == fs and c["ufact"] == 0.1 and c["units"] == "uV"
        assert c["start_time"] == T0 + off
        assert c["end_time"] == T0 + off + int(np.floor(n * 1e6 / fs + 0.5))
        assert c["number_of_samples"] == int(np.isfinite(x).sum())
        # pymef: raw counts on the grid, NaN in gaps
        np.testing.assert_array_equal(np.isnan(c["data"]), np.isnan(x))
        np.testing.assert_array_equal(c["data"][~np.isnan(x)], counts[~np.isnan(x)])
        np.testing.assert_array_equal(c["samples"], counts[~np.isnan(x)])
        # mef3io: exact int32 and validity, scaled floats
        raw = m3["channels"][name]["read_raw"]
        np.testing.assert_array_equal(raw["valid"].astype(bool), ~np.isnan(x))
        np.testing.assert_array_equal(raw["samples"][~np.isnan(x)], counts[~np.isnan(x)].astype(np.int32))
        info = m3["channels"][name]["info"]
        assert info["sampling_frequency"] == fs and info["units_conversion_factor"] == 0.1
        y = m3["channels"][name]["read"]
        np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
        np.testing.assert_allclose(y[~np.isnan(x)], x[~np.isnan(x)], rtol=1e-12, atol=1e-12)
        # our reader agrees
        np.testing.assert_array_equal(ours.read_raw(name)["samples"], raw["samples"])
    ours.close()


def test_metadata_fields(tmp_path, rng):
    """Section 2 and universal headers hold exactly what the data on disk implies."""
    path = tmp_path / "meta.mefd"
    fs = 250.0
    x = decimal_signal(10_000, rng)
    x[3000:3500] = np.nan
    with Writer(path, overwrite=True, units="mV") as w:
        w.write("m", x, T0, fs)
    e = index_of(path, "m")
    s2 = section2(path, "m")
    L = default_block_length(fs)
    assert L == 2500 and default_block_length(5000.0) == 5000 and default_block_length(0.05) == 1
    runs = [3000, 6500]
    assert list(e["number_of_samples"]) == [2500, 500, 2500, 2500, 1500]
    assert list(e["RED_block_flags"]) == [1, 0, 1, 0, 0]
    assert list(e["start_sample"]) == [0, 2500, 3000, 5500, 8000]  # segment-relative
    assert list(e["file_offset"]) == list(1024 + np.concatenate(([0], np.cumsum(e["block_bytes"])[:-1])))
    assert int(s2["number_of_samples"]) == sum(runs) and int(s2["number_of_blocks"]) == 5
    assert int(s2["maximum_block_samples"]) == 2500
    assert int(s2["maximum_block_bytes"]) == int(e["block_bytes"].max())
    assert int(s2["number_of_discontinuities"]) == 2
    assert int(s2["maximum_contiguous_blocks"]) == 3
    assert int(s2["maximum_contiguous_samples"]) == 6500
    assert int(s2["maximum_contiguous_block_bytes"]) == int(e["block_bytes"][2:].sum())
    assert int(s2["block_interval"]) == 10_000_000
    assert int(s2["recording_duration"]) == 40_000_000
    assert s2["units_description"] == b"mV" and float(s2["units_conversion_factor"]) == 0.1
    fin = x[np.isfinite(x)]
    assert float(s2["maximum_native_sample_value"]) == pytest.approx(fin.max(), abs=1e-9)
    assert float(s2["minimum_native_sample_value"]) == pytest.approx(fin.min(), abs=1e-9)
    # difference bytes: the largest any block header declares
    body = tdat_body(path, "m")
    declared = [struct.unpack_from("<I", body, int(o) - 1024 + 28)[0] for o in e["file_offset"]]
    assert int(s2["maximum_difference_bytes"]) == max(declared)
    # universal headers
    uhs = {}
    for kind, p in seg_files(path, "m").items():
        with open(p, "rb") as f:
            raw = f.read()
        uhs[kind] = headers.parse_universal_header(raw, p, kind)
        headers.check_body_crc(raw, uhs[kind], p)
        assert int(uhs[kind]["start_time"]) == -T0 and int(uhs[kind]["end_time"]) == -(T0 + 40_000_000)
        assert int(uhs[kind]["segment_number"]) == 0
        assert uhs[kind]["channel_name"] == b"m" and uhs[kind]["session_name"] == b"meta"
        assert bytes(uhs[kind]["file_uuid"]) == bytes(uhs[kind]["provenance_uuid"]) != bytes(16)
    assert len({bytes(u["level_uuid"]) for u in uhs.values()}) == 1
    assert len({bytes(u["file_uuid"]) for u in uhs.values()}) == 3
    assert [int(uhs[k]["number_of_entries"]) for k in ("tmet", "tidx", "tdat")] == [1, 5, 5]
    assert [int(uhs[k]["maximum_entry_size"]) for k in ("tmet", "tidx", "tdat")] == [16384, 56, 2500]
    assert_valid(path)


# --- int32 path ----------------------------------------------------------------------


def test_int32_bit_exact_with_extremes(tmp_path, rng):
    path = tmp_path / "ints.mefd"
    fs = 1000.0
    big = np.array([2**31 - 1, -(2**31 - 1), 0, 2**31 - 2, -5], np.int64)
    data = np.concatenate((np.tile(big, 400), rng.integers(-(2**31) + 1, 2**31 - 1, 3000)))
    valid = np.ones(len(data), np.uint8)
    valid[1200:1350] = 0
    with Writer(path, overwrite=True, block_length=777) as w:
        res = w.write_int32("i", data, 0.195, T0, fs, valid=valid)
        w.write_int32("u16", rng.integers(0, 65535, 4000).astype(np.uint16), 1.0, T0, fs)
    assert res["samples_written"] == len(data) - 150 and res["gaps_skipped"] == 1
    assert_valid(path)
    m3 = read_mef3io(path)
    raw = m3["channels"]["i"]["read_raw"]
    ok = valid.astype(bool)
    np.testing.assert_array_equal(raw["valid"].astype(bool), ok)
    np.testing.assert_array_equal(raw["samples"][ok], data[ok].astype(np.int32))
    assert m3["channels"]["i"]["info"]["units_conversion_factor"] == 0.195
    pm = read_pymef(path)
    np.testing.assert_array_equal(pm["channels"]["i"]["samples"], data[ok])
    s2 = section2(path, "i")
    assert float(s2["maximum_native_sample_value"]) == (2**31 - 1) * 0.195


def test_int32_rejects_bad_input(tmp_path):
    path = tmp_path / "bad.mefd"
    with Writer(path, overwrite=True) as w:
        with pytest.raises(TypeError):
            w.write_int32("c", np.zeros(10), 1.0, T0, 100.0)
        with pytest.raises(TypeError):
            w.write_int32("c", np.zeros(10, np.float32), 1.0, T0, 100.0)
        with pytest.raises(ValueError):
            w.write_int32("c", np.array([0, 2**31], np.int64), 1.0, T0, 100.0)
        with pytest.raises(ValueError):
            w.write_int32("c", np.array([0, -(2**31)], np.int64), 1.0, T0, 100.0)
        with pytest.raises(ValueError):
            w.write_int32("c", np.zeros(10, np.int32), 1.0, T0, 100.0, valid=np.ones(9))
        with pytest.raises(ValueError):
            w.write_int32("c", np.zeros(10, np.int32), float("nan"), T0, 100.0)
        with pytest.raises(ValueError):
            w.write_int32("c", np.zeros(10, np.int32), 1.0, T0, -1.0)
    assert os.listdir(path) == []


# --- precision inference and the float path's limits ----------------------------------


def test_precision_inference():
    assert infer_precision(np.array([1.0, -3.0, 7.0])) == 0
    assert infer_precision(np.array([0.1, 0.25, -0.3])) == 2
    assert infer_precision(np.array([12.345678], np.float32).astype(np.float64), np.float32) == 6
    assert infer_precision(np.arange(1000) * 0.195) == 3
    assert infer_precision(np.zeros(5)) == 0
    # float64 noise: a step of at most 1/1000 of the typical sample-to-sample change
    noise = np.random.default_rng(0).normal(0, 50, 1000)
    step = np.abs(np.diff(noise)).mean()  # ~56 (50 * 2 / sqrt(pi))
    assert 10 < step < 100 and infer_precision(noise) == 2  # 0.01 <= 56 / 1000 < 0.1
    assert infer_precision(noise / 1000) == 5
    # the same noise rounded to 6 decimals: decimals a million times finer than the
    # step are kept no further (10**-6 > 56 * 1e-6 fails: not kept), 4 decimals are
    assert infer_precision(np.round(noise, 4)) == 4
    assert infer_precision(np.round(noise, 6)) == 2
    # float32 noise: its float32 digits are rounding, not resolution
    assert infer_precision(noise.astype(np.float32), np.float32) == 2
    # values beyond int32 at precision 0: a coarser factor (10**1) that fits
    assert infer_precision(np.array([3e9, 2e9, -1e9])) == -1
    with pytest.raises(ValueError):
        infer_precision(np.array([3e19]))


def test_float_path_limits(tmp_path):
    from neo_mef3.errors import ClampedSamplesWarning, WriteWarning

    path = tmp_path / "lim.mefd"
    with Writer(path, overwrite=True) as w:
        with pytest.warns(WriteWarning, match="all 50 sample"):  # NaN only: nothing written, said so
            res = w.write("c", np.full(50, np.nan), T0, 100.0)
        assert res["samples_written"] == 0 and res["gaps_skipped"] == 1 and res["segment"] == 0
        assert os.listdir(path) == []
        with pytest.warns(ClampedSamplesWarning, match="2 value"):  # +-inf: the largest count, counted
            res = w.write("inf", np.array([1.0, np.inf, -np.inf, 2.0]), T0, 100.0)
        assert res["clamped"] == 2 and res["clamped_infinite"] == 2 and res["precision"] == 0
        with pytest.warns(ClampedSamplesWarning):  # beyond int32 at a pinned precision: clamped, counted
            res = w.write("pin", np.array([1.0, 300.0, -300.0]), T0, 100.0, precision=8)
        assert res["clamped"] == 2 and res["clamped_infinite"] == 0
        res = w.write("c", np.array([np.nan, np.nan, 1.5, 2.5, np.nan, 3.0, np.nan]), T0, 100.0)
        assert (res["samples_written"], res["blocks"], res["gaps_skipped"], res["segment"]) == (3, 2, 3, 0)
        res = w.write("f32", (np.arange(500) * 0.1).astype(np.float32), T0, 100.0)
        summary = w.summary
    assert summary["channels"]["pin"]["clamped"] == 2 and summary["channels"]["inf"]["clamped_infinite"] == 2
    assert float(section2(path, "f32")["units_conversion_factor"]) == 0.1
    m3 = read_mef3io(path)
    np.testing.assert_array_equal(m3["channels"]["f32"]["read_raw"]["samples"], np.arange(500))
    big = 2**31 - 2
    np.testing.assert_array_equal(m3["channels"]["inf"]["read_raw"]["samples"], [1, big, -big, 2])
    np.testing.assert_array_equal(m3["channels"]["pin"]["read_raw"]["samples"], [100_000_000, big, -big])


# --- appends, segments, conflicts ------------------------------------------------------


def test_appends_across_writer_objects(tmp_path, rng):
    path = tmp_path / "app.mefd"
    fs = 1000.0
    parts = [decimal_signal(3000, rng, decimals=2) for _ in range(4)]
    with Writer(path, overwrite=True, block_length=1000) as w:
        w.write("a", parts[0], T0, fs)
    with Writer(path) as w:  # contiguous: continues the last run
        r = w.write("a", parts[1], T0 + 3_000_000, fs)
        assert r["segment"] == 0
    with Writer(path) as w:  # 1 s later: a discontinuity
        w.write("a", parts[2], T0 + 7_000_000, fs)
        w.write("a", parts[3], T0 + 10_000_000, fs)  # same Writer, contiguous again
    e = index_of(path, "a")
    assert list(e["RED_block_flags"]) == [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert list(e["start_sample"]) == list(range(0, 12000, 1000))
    s2 = section2(path, "a")
    assert int(s2["number_of_samples"]) == 12000 and int(s2["number_of_blocks"]) == 12
    assert int(s2["number_of_discontinuities"]) == 2 and int(s2["maximum_contiguous_samples"]) == 6000
    assert int(s2["recording_duration"]) == 13_000_000
    assert float(s2["units_conversion_factor"]) == 0.01  # precision reused on append
    assert_valid(path)
    expected = np.concatenate((parts[0], parts[1], np.full(1000, np.nan), parts[2], parts[3]))
    pm = read_pymef(path)["channels"]["a"]
    np.testing.assert_array_equal(np.isnan(pm["data"]), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_array_equal(pm["data"][ok], counts_of(expected[ok], 2))
    assert pm["end_time"] == T0 + 13_000_000
    m3 = read_mef3io(path)["channels"]["a"]
    np.testing.assert_array_equal(m3["read_raw"]["samples"][ok], counts_of(expected[ok], 2).astype(np.int32))
    assert [s["segment"] for s in m3["segments"]] == [0]


def test_new_segments(tmp_path, rng):
    path = tmp_path / "segs.mefd"
    fs = 500.0
    x0, x1, x2 = (decimal_signal(n, rng) for n in (2000, 1500, 1000))
    x1[400:900] = np.nan
    with Writer(path, overwrite=True) as w:
        assert w.write("s", x0, T0, fs)["segment"] == 0
        assert w.write("s", x1, T0 + 6_000_000, fs, new_segment=True)["segment"] == 1
    with Writer(path) as w:
        assert w.write_int32("s", np.arange(1000), 0.5, T0 + 12_000_000, fs, new_segment=True)["segment"] == 2
        assert w.write("s", x2, T0 + 14_000_000, fs, new_segment=True)["segment"] == 3
    assert_valid(path)
    starts = [int(section2(path, "s", k)["start_sample"]) for k in range(4)]
    assert starts == [0, 2000, 3000, 4000]  # channel-wide in section 2
    assert [int(index_of(path, "s", k)["start_sample"][0]) for k in range(4)] == [0, 0, 0, 0]
    pm = read_pymef(path)["channels"]["s"]
    assert [s["ufact"] for s in pm["segments"]] == [0.1, 0.1, 0.5, 0.1]
    stored = np.concatenate((counts_of(x0, 1), counts_of(x1[np.isfinite(x1)], 1), np.arange(1000), counts_of(x2, 1)))
    np.testing.assert_array_equal(pm["samples"], stored)  # pymef's sample-mode read across segments
    m3 = read_mef3io(path)["channels"]["s"]
    assert [s["segment"] for s in m3["segments"]] == [0, 1, 2, 3]
    raw = m3["read_raw"]
    assert raw["start_uutc"] == T0
    np.testing.assert_array_equal(raw["samples"][raw["valid"] == 1], stored.astype(np.int32))


def test_conflicts_leave_session_untouched(tmp_path, rng):
    path = tmp_path / "conf.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("c", decimal_signal(2000, rng), T0, 200.0)
        w.write_int32("k", np.arange(100), 0.5, T0, 100.0)
    before = tree_digest(path)
    with Writer(path) as w:
        cases = [
            lambda: w.write("c", np.ones(10), T0 + 10_000_000, 250.0),  # other rate
            lambda: w.write("c", np.ones(10), T0 + 10_000_000, 200.0, precision=3),  # other factor
            lambda: w.write("c", np.ones(10), T0 + 9_999_000, 200.0),  # overlaps the end
            lambda: w.write("c", np.ones(10), T0, 200.0, new_segment=True),  # back in time
            lambda: w.write("c", np.ones(10), T0 + 20_000_000, 100.0, new_segment=True),  # one rate per channel
            lambda: w.write_int32("k", np.arange(10), 0.25, T0 + 1_000_000, 100.0),  # other factor
            lambda: w.write("k", np.ones(10), T0 + 1_000_000, 100.0, precision=1),  # 0.1 is not 0.5
        ]
        for case in cases:
            with pytest.raises(WriteConflictError):
                case()
    assert issubclass(WriteConflictError, neo_mef3.MefError)
    assert tree_digest(path) == before


@pytest.mark.parametrize("name", ["a/b", "..", "", "x" * 256, "é" * 128, ".hidden", "a\\b", "a\x00"])
def test_invalid_channel_names(tmp_path, name):
    path = tmp_path / "names.mefd"
    with Writer(path, overwrite=True) as w:
        with pytest.raises(ValueError):
            w.write(name, np.ones(10), T0, 10.0)
        with pytest.raises(ValueError):
            w.write_int32(name, np.ones(10, np.int32), 1.0, T0, 10.0)
        with pytest.raises(ValueError):
            w.write_annotations([{"time": T0}], channel=name)
    assert os.listdir(path) == []


def test_session_path_rules(tmp_path):
    with pytest.raises(ValueError):
        Writer(tmp_path / "nosuffix")
    assert not (tmp_path / "nosuffix").exists()
    p = tmp_path / "x.mefd"
    with Writer(p, overwrite=True) as w:
        w.write("c", np.ones(10), T0, 10.0)
    with Writer(p, overwrite=True) as w:  # overwrite deletes the old session
        pass
    assert os.listdir(p) == []
    w = Writer(p)
    w.close()
    with pytest.raises(neo_mef3.MefError):
        w.write("c", np.ones(3), T0, 10.0)


# --- encryption ----------------------------------------------------------------------


def test_encrypted_session(tmp_path, rng):
    path = tmp_path / "enc.mefd"
    fs = 256.0
    x = decimal_signal(3000, rng)
    x[1000:1300] = np.nan
    with Writer(path, overwrite=True, password1="pass1", password2="pass2", units="SecretUnits") as w:
        w.write("e1", x, T0, fs)
        w.write_annotations([{"time": T0 + 5, "text": "SubjectSecretNote"}])
        w.write_annotations([{"time": T0 + 7, "type": "EDFA", "text": "SecretEvent", "duration": 9}], channel="e1")
    with Writer(path, password2="pass2") as w:  # reopening needs only the level-2 password
        w.write("e1", x[:500], T0 + int(3000 * 1e6 / fs), fs)
    for bad in (dict(), dict(password2="wrong"), dict(password1="pass1"), dict(password1="x", password2="pass2")):
        with pytest.raises(PasswordError):
            Writer(path, **bad)
    # nothing identifying in plaintext: record texts, units, section 3
    for f in glob.glob(str(path / "**" / "*.*"), recursive=True):
        if not os.path.isfile(f):
            continue
        with open(f, "rb") as fh:
            body = fh.read()[1024:]
        for needle in (b"SubjectSecretNote", b"SecretEvent", b"SecretUnits"):
            assert needle not in body, (needle, f)
    with open(seg_files(path, "e1")["tmet"], "rb") as fh:
        raw = fh.read()
    assert struct.unpack_from("bb", raw, 1024) == (1, 2)
    assert_valid(path, password="pass2")
    expected = np.concatenate((x, x[:500]))
    pm = read_pymef(path, password="pass2")
    assert not pm["errors"]
    c = pm["channels"]["e1"]
    np.testing.assert_array_equal(np.isnan(c["data"]), np.isnan(expected))
    np.testing.assert_array_equal(c["data"][np.isfinite(expected)], counts_of(expected[np.isfinite(expected)], 1))
    assert [r["text"] for r in pm["records"]] == ["SubjectSecretNote"]
    assert [(r["type"], r["text"], r["duration"]) for r in c["records"]] == [("EDFA", "SecretEvent", 9)]
    m3 = read_mef3io(path, password="pass2")
    assert not m3["errors"]
    assert [r["text"] for r in m3["records"]] == ["SubjectSecretNote"]
    np.testing.assert_array_equal(
        m3["channels"]["e1"]["read_raw"]["samples"][np.isfinite(expected)],
        counts_of(expected[np.isfinite(expected)], 1).astype(np.int32),
    )
    with mef3io.Reader(str(path), password="pass1") as r1:  # level 1: signal yes, identity no
        assert r1.info("e1")["section3_available"] is False
    with neo_mef3.Reader(path, password="pass1") as r1:
        assert len(r1.read("e1")) == len(expected)
        with pytest.raises(PasswordError):
            r1.records()


def test_password_rules(tmp_path):
    with pytest.raises(ValueError):
        Writer(tmp_path / "one.mefd", password1="only")
    with pytest.raises(ValueError):
        Writer(tmp_path / "two.mefd", password2="only")
    with pytest.raises(ValueError):
        Writer(tmp_path / "same.mefd", password1="same", password2="same")
    assert not (tmp_path / "one.mefd").exists()
    plain = tmp_path / "plain.mefd"
    with Writer(plain, overwrite=True) as w:
        w.write("c", np.ones(10), T0, 10.0)
    with pytest.raises(WriteConflictError):
        Writer(plain, password1="a", password2="b")


# --- annotations ---------------------------------------------------------------------


def test_annotations_both_levels(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "ann.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("c1", decimal_signal(2560, rng), T0, 256.0)
        w.write("c2", decimal_signal(2560, rng), T0, 256.0)
        w.write_annotations([{"time": T0 + 1, "text": "will be replaced"}])
        n = w.write_annotations(
            [
                {"time": T0 + 3_000_000, "type": "Seiz", "annotation": "onset", "duration": 2_000_000},
                {"time": T0 + 1_000_000, "text": "lights off"},
                {"time": T0 + 2_000_000, "type": "EDFA", "text": "arousal", "duration": 1500},
                {"time": T0 + 2_500_000, "type": "SyLg", "text": "amp reset"},
            ]
        )
        assert n == 4
        df = pd.DataFrame(
            {"time": [T0 + 10, T0 + 20], "type": ["Note", "EDFA"], "text": ["n1", "e1"], "duration": [None, 40]}
        )
        w.write_annotations(df, channel="c1")
        with pytest.raises(UnknownChannelError):
            w.write_annotations([{"time": T0}], channel="nope")
        with pytest.raises(ValueError):
            w.write_annotations([{"text": "no time"}])
    assert_valid(path)
    with neo_mef3.Reader(path) as r:  # records read back can be written again as they are
        session_records, channel_records = r.records(), r.records("c1")
    with Writer(path) as w:
        assert w.write_annotations(session_records) == 4 and w.write_annotations(channel_records, channel="c1") == 2
    expect_session = [
        ("Note", T0 + 1_000_000, "lights off"),
        ("EDFA", T0 + 2_000_000, "arousal"),
        ("SyLg", T0 + 2_500_000, "amp reset"),
        ("Seiz", T0 + 3_000_000, "onset"),
    ]
    pm = read_pymef(path)
    assert not pm["errors"]
    got = [(r["type"], r["time"], r.get("text", r.get("annotation"))) for r in pm["records"]]
    assert got == expect_session
    seiz = pm["records"][3]
    assert seiz["duration"] == 2_000_000 and [c["name"] for c in seiz["channels"]] == ["c1", "c2"]
    assert pm["records"][1]["duration"] == 1500
    assert [(r["type"], r["time"], r["text"]) for r in pm["channels"]["c1"]["records"]] == [
        ("Note", T0 + 10, "n1"),
        ("EDFA", T0 + 20, "e1"),
    ]
    m3 = read_mef3io(path)
    assert [(r["type"], r["time"]) for r in m3["records"]] == [(t, tm) for t, tm, _ in expect_session]
    assert [r["text"] for r in m3["records"][:3]] == ["lights off", "arousal", "amp reset"]
    assert [(r["type"], r["time"], r.get("duration")) for r in m3["channels"]["c1"]["records"]] == [
        ("Note", T0 + 10, None),
        ("EDFA", T0 + 20, 40),
    ]
    with neo_mef3.Reader(path) as r:
        ours = r.records()
        assert [(x["type"], x["time"]) for x in ours] == [(t, tm) for t, tm, _ in expect_session]
        assert ours[3]["annotation"] == "onset" and ours[3]["latest_offset"] == T0 + 5_000_000
    uh = headers.parse_universal_header(open(path / "ann.rdat", "rb").read())
    assert int(uh["segment_number"]) == -3 and int(uh["number_of_entries"]) == 4
    uh = headers.parse_universal_header(open(path / "c1.timd" / "c1.ridx", "rb").read())
    assert int(uh["segment_number"]) == -2 and int(uh["maximum_entry_size"]) == 24
    with Writer(path) as w:  # an empty list removes the level's records
        w.write_annotations([], channel="c1")
    assert not (path / "c1.timd" / "c1.rdat").exists()


# --- encoder: meflib byte equality, threads --------------------------------------------


def _pymef_int32_session(path, ch, data, fs, block):
    from pymef.mef_session import MefSession

    s = MefSession(str(path), "", new_session=True)
    s2 = {"sampling_frequency": fs, "units_conversion_factor": 1.0, "start_sample": 0}
    s.write_mef_ts_segment_metadata(ch, 0, "", "", T0, T0 + int(len(data) / fs * 1e6), s2,
                                    {"recording_time_offset": 0, "GMT_offset": 0})
    s.write_mef_ts_segment_data(ch, 0, "", "", block, data)


@pytest.mark.parametrize("kind", ["walk", "noise", "constant", "extremes"])
def test_red_blocks_match_meflib(tmp_path, rng, kind):
    """Same int32 samples, same block length: our .tdat blocks are meflib's, byte for byte."""
    n = 4321  # last block partial
    data = {
        "walk": np.cumsum(rng.integers(-60, 61, n)),
        "noise": rng.integers(-(2**30), 2**30, n),
        "constant": np.full(n, -7),
        "extremes": np.resize([2**31 - 1, -(2**31 - 1), 0, 3, -(2**31 - 2)], n),
    }[kind].astype(np.int32)
    _pymef_int32_session(tmp_path / "pm.mefd", "c", data, 1000.0, 1000)
    with Writer(tmp_path / "us.mefd", overwrite=True, block_length=1000) as w:
        w.write_int32("c", data, 1.0, T0, 1000.0)
    assert tdat_body(tmp_path / "us.mefd", "c") == tdat_body(tmp_path / "pm.mefd", "c")
    ours, theirs = index_of(tmp_path / "us.mefd", "c"), index_of(tmp_path / "pm.mefd", "c")
    assert ours.tobytes() == theirs.tobytes()


def test_red_block_times_differ_from_meflib_only_by_rounding(tmp_path, rng):
    """Where the bytes differ: block start times.

    pymef stamps block b at ``start + b * trunc(B * 1e6 / fs)`` (the block period is
    truncated to whole microseconds and then accumulated, drifting from the true sample
    times); we stamp each block at its first sample's time rounded to the nearest
    microsecond. At 3 Hz with 2-sample blocks the period is 666666.67 us. The
    difference is confined to the 8-byte start time (and so the block CRC); the coded
    samples are identical.
    """
    data = np.cumsum(rng.integers(-5, 6, 40)).astype(np.int32)
    _pymef_int32_session(tmp_path / "pm.mefd", "c", data, 3.0, 2)
    with Writer(tmp_path / "us.mefd", overwrite=True, block_length=2) as w:
        w.write_int32("c", data, 1.0, T0, 3.0)
    a, b = tdat_body(tmp_path / "pm.mefd", "c"), tdat_body(tmp_path / "us.mefd", "c")
    ia, ib = index_of(tmp_path / "pm.mefd", "c"), index_of(tmp_path / "us.mefd", "c")
    assert len(a) == len(b) and list(ia["file_offset"]) == list(ib["file_offset"])
    k = np.arange(len(ib))
    assert list(-ia["start_time"]) == list(T0 + k * 666666)
    assert list(-ib["start_time"]) == list(T0 + np.floor(k * 2 * 1e6 / 3.0 + 0.5).astype(np.int64))
    for off, nb in zip(ia["file_offset"] - 1024, ia["block_bytes"]):
        x, y = bytearray(a[off : off + nb]), bytearray(b[off : off + nb])
        x[0:4] = y[0:4] = bytes(4)  # block CRC
        x[40:48] = y[40:48] = bytes(8)  # block start time
        assert x == y


def test_files_identical_for_any_thread_count(tmp_path, rng):
    x = decimal_signal(60_000, rng)
    x[20_000:21_000] = np.nan
    outs = []
    for n_threads in (1, 2, 0):
        p = tmp_path / f"t{n_threads}.mefd"
        with Writer(p, overwrite=True, n_threads=n_threads, block_length=1000) as w:
            w.write("c", x, T0, 1000.0)
            w.write("c", x[:5000], T0 + 60_000_000, 1000.0)
        s2 = section2(p, "c")
        outs.append((tdat_body(p, "c"), index_of(p, "c").tobytes(), s2.tobytes()))
    assert outs[0] == outs[1] == outs[2]


# --- crash safety --------------------------------------------------------------------


class _Crash(Exception):
    pass


@pytest.mark.parametrize("steps_done", [1, 2, 3, 4])
def test_interrupted_append(tmp_path, rng, monkeypatch, steps_done):
    """Kill an append after each of its flushed steps; the session still opens, every
    block whose index entry was written reads back, and the next Writer completes it."""
    import neo_mef3.fileio as fileio_mod

    path = tmp_path / "crash.mefd"
    fs = 100.0
    a, b, c = (decimal_signal(1000, rng) for _ in range(3))
    with Writer(path, overwrite=True, block_length=300) as w:
        w.write("c", a, T0, fs)
    calls = {"n": 0}
    real = fileio_mod.fsync

    def crashing_fsync(fd, durable):
        real(fd, durable)
        calls["n"] += 1
        if calls["n"] == steps_done:
            raise _Crash

    monkeypatch.setattr(fileio_mod, "fsync", crashing_fsync)
    with pytest.raises(_Crash):
        Writer(path).write("c", b, T0 + 10_000_000, fs)
    monkeypatch.setattr(fileio_mod, "fsync", real)

    indexed = steps_done >= 2  # the new index entries were written
    expected = np.concatenate((a, b)) if indexed else a
    # meflib clamps to the declared counts: the previous, consistent state until the metadata lands
    pm = read_pymef(path)["channels"]["c"]
    np.testing.assert_array_equal(pm["samples"], counts_of(a, 1))
    # our Reader: every indexed block
    with neo_mef3.Reader(path) as r:
        toc = r.toc("c")
        assert sum(t["number_of_samples"] for t in toc) == len(expected)
        got = r.read_raw("c", T0, T0 + int(len(expected) * 1e6 / fs))
        np.testing.assert_array_equal(got["samples"], counts_of(expected, 1))
        np.testing.assert_array_equal(r.read_raw("c")["samples"], counts_of(expected, 1))
    # a new Writer adopts what was indexed and completes the segment
    with Writer(path) as w:
        t_next = T0 + int(len(expected) * 1e6 / fs)
        w.write("c", c, t_next, fs)
    assert_valid(path)
    full = np.concatenate((expected, c))
    m3 = read_mef3io(path)["channels"]["c"]["read_raw"]
    np.testing.assert_array_equal(m3["samples"], counts_of(full, 1).astype(np.int32))
    assert m3["valid"].all()


def test_stale_temporaries_are_ignored_and_removed(tmp_path, rng):
    path = tmp_path / "tmp.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("c", decimal_signal(100, rng), T0, 10.0)
    junk = [path / ".d.timd.neo_mef3-tmp" / "d-000000.segd", path / "c.timd" / ".c-000001.segd.neo_mef3-tmp"]
    for j in junk:
        j.mkdir(parents=True)
        (j / "partial.tdat").write_bytes(b"\0" * 10)
    with neo_mef3.Reader(path) as r:  # a crash while creating a segment leaves nothing a reader sees
        assert r.channels == ["c"] and len(r.segments("c")) == 1
    with Writer(path) as w:
        w.write("c", decimal_signal(100, rng), T0 + 20_000_000, 10.0, new_segment=True)
    assert not any(j.exists() for j in junk)
    assert_valid(path)


# --- the demo path -------------------------------------------------------------------


def test_write_then_read_with_our_reader(tmp_path, rng):
    path = tmp_path / "demo.mefd"
    x = decimal_signal(5000, rng)
    x[1000:1100] = np.nan
    with Writer(path, overwrite=True) as w:
        w.write("Fp1", x, T0, 500.0)
        w.write_int32("Fp2", np.arange(5000), 0.195, T0, 500.0)
        w.write_annotations([{"time": T0 + 1_000_000, "text": "demo"}])
    with neo_mef3.Reader(path) as r:
        assert r.channels == ["Fp1", "Fp2"]
        y = r.read("Fp1")
        np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
        np.testing.assert_allclose(y[~np.isnan(x)], x[~np.isnan(x)], atol=1e-9)
        np.testing.assert_array_equal(r.read_raw("Fp2")["samples"], np.arange(5000))
        assert r.info("Fp2")["units_conversion_factor"] == 0.195
        assert [a["text"] for a in r.records()] == ["demo"]


# --- format.headers.parse_index after an interrupted append ----------------------------


def test_parse_index_keeps_uncommitted_entries(tmp_path, rng):
    path = tmp_path / "idx.mefd"
    with Writer(path, overwrite=True, block_length=100) as w:
        w.write("c", decimal_signal(500, rng), T0, 100.0)
    with open(seg_files(path, "c")["tidx"], "rb") as f:
        raw = f.read()
    full = headers.parse_index(raw)[1]
    assert len(full) == 5
    # the header says 3 entries (CRC over those 3): what an interrupted append leaves
    uh = np.frombuffer(raw[:1024], headers.UNIVERSAL_HEADER, 1)[0].copy()
    uh["number_of_entries"] = 3
    head = bytearray(uh.tobytes())
    from neo_mef3 import _red

    struct.pack_into("<I", head, 4, _red.crc32(raw[1024 : 1024 + 3 * 56]))
    struct.pack_into("<I", head, 0, _red.crc32(bytes(head[4:])))
    torn = bytes(head) + raw[1024:] + b"\x01" * 20  # plus a torn partial entry
    got = headers.parse_index(torn)[1]
    assert got.tobytes() == full.tobytes()
    # an entry that does not continue the index ends it
    bad = bytearray(torn)
    struct.pack_into("<q", bad, 1024 + 4 * 56, 999)  # entry 4's file offset
    assert len(headers.parse_index(bytes(bad))[1]) == 4
    # the committed part is still CRC-checked, and over-declaring is damage
    bad = bytearray(torn)
    bad[1024 + 8] ^= 1
    with pytest.raises(neo_mef3.CrcError):
        headers.parse_index(bytes(bad))
    uh["number_of_entries"] = 6
    head = bytearray(uh.tobytes())
    struct.pack_into("<I", head, 0, _red.crc32(bytes(head[4:])))
    with pytest.raises(neo_mef3.FormatError):
        headers.parse_index(bytes(head) + raw[1024:])


# --- appending to sessions other tools wrote --------------------------------------------


@pytest.mark.parametrize("writer", ["mef_tools", "mef3io"])
def test_append_to_foreign_session(tmp_path, writer):
    """Our appends extend mef_tools/mef3io segments; every declaration is re-derived."""
    path = build_scenario("appends", str(tmp_path / f"{writer}.mefd"), writer)
    before = read_mef3io(path)
    with Writer(path) as w:
        for ch, c in before["channels"].items():
            info = c["info"]
            res = w.write_int32(ch, np.arange(2000), info["units_conversion_factor"], info["end_time"] + 1_000_000,
                                info["sampling_frequency"])
            assert res["segment"] == c["segments"][-1]["segment"]
    assert_valid(path)
    pm = read_pymef(path)
    m3 = read_mef3io(path)
    for ch, c in before["channels"].items():
        old = c["read_raw"]["samples"][c["read_raw"]["valid"] == 1]
        raw = m3["channels"][ch]["read_raw"]
        np.testing.assert_array_equal(raw["samples"][raw["valid"] == 1], np.concatenate((old, np.arange(2000))))
        np.testing.assert_array_equal(pm["channels"][ch]["samples"][-2000:], np.arange(2000))
        starts = pm["channels"][ch]["segments"][-1]["block_start_samples"]
        sizes = pm["channels"][ch]["segments"][-1]["block_samples"]
        np.testing.assert_array_equal(starts[1:], (starts + sizes)[:-1])  # numbering continued


def test_chunked_encoding_is_invisible(tmp_path, rng, monkeypatch):
    """Large writes are encoded a chunk of blocks at a time; the files do not show it."""
    import neo_mef3.writer.encode as encode_mod

    x = decimal_signal(20_000, rng)
    x[7_000:7_300] = np.nan
    outs = []
    for chunk in (1 << 22, 2_500, 1):
        monkeypatch.setattr(encode_mod, "CHUNK_SAMPLES", chunk)
        p = tmp_path / f"c{chunk}.mefd"
        with Writer(p, overwrite=True, block_length=1000, n_threads=2) as w:
            w.write("c", x, T0, 1000.0)
            w.write("c", x[:3000], T0 + 20_000_000, 1000.0)
        outs.append((tdat_body(p, "c"), index_of(p, "c").tobytes(), section2(p, "c").tobytes()))
    assert outs[0] == outs[1] == outs[2]


@pytest.mark.parametrize("record, hint", [
    ({"type": "Seiz", "text": "onset"}, "annotation"),
    ({"type": "Curs", "text": "cursor"}, "name"),
    ({"type": "Note", "text": "x", "duration": 5}, "EDFA"),
    ({"type": "SyLg", "text": "x", "duration": 5}, "EDFA"),
    ({"type": "EDFA", "text": "x", "annotation": "y"}, "dropped"),
    ({"type": "Note", "text": "x", "colour": "red"}, "dropped"),
])
def test_record_fields_a_type_cannot_hold_are_refused(tmp_path, record, hint):
    """Fields a record type has no place for are refused, not dropped (as mef3io does for
    text and duration); nothing is written."""
    path = tmp_path / "rec.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("c", np.ones(10), T0, 10.0)
        with pytest.raises(ValueError, match=hint) as err:
            w.write_annotations([{"time": T0 + 5, "text": "fine"}, dict(record, time=T0)])
        assert "annotation 1" in str(err.value) and record["type"] in str(err.value)
    assert not os.path.exists(path / "rec.rdat")
