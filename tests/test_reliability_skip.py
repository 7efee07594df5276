"""``Reader(..., on_error="skip")``: read what is intact, say what was left out.

Every case damages a copy of a committed fixture and checks that the skip-mode Reader
opens, warns once with a MefWarning naming what it skipped, and returns nothing that
differs from the undamaged session: each sample it marks valid equals the undamaged
sample at the same grid position (skipped blocks are gaps, never values).
"""

import os
import shutil
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import FormatError, MefError, MefWarning, PasswordError
from support.paths import DATA_DIR as DATA


def _copy(tmp_path, name="plain"):
    work = tmp_path / f"{name}.mefd"
    shutil.copytree(os.path.join(DATA, f"{name}.mefd"), work)
    return str(work)


def _windows(path, password=""):
    """(t0, t1, samples, valid) per channel of the undamaged session."""
    out = {}
    with neo_mef3.Reader(path, password=password) as r:
        for ch in r.channels:
            raw = r.read_raw(ch)
            n = len(raw["samples"])
            t1 = raw["start_uutc"] + int(round(n * 1e6 / raw["sampling_frequency"]))
            out[ch] = (raw["start_uutc"], t1, raw["samples"], raw["valid"])
    return out


def _assert_subset(reader, truth, expect_channels=None):
    """Every valid sample the skip-mode reader returns is the undamaged one."""
    kept = {}
    for ch, (t0, t1, samples, valid) in truth.items():
        if ch not in reader.channels:
            continue
        got = reader.read_raw(ch, t0, t1)
        assert len(got["samples"]) == len(samples)
        ok = got["valid"] == 1
        assert (valid[ok] == 1).all(), f"{ch}: valid where the undamaged session has a gap"
        np.testing.assert_array_equal(got["samples"][ok], samples[ok])
        f = reader.read(ch, t0, t1)
        assert np.isnan(f[~ok]).all() and np.isfinite(f[ok]).all()
        kept[ch] = int(ok.sum())
    if expect_channels is not None:
        assert sorted(kept) == sorted(expect_channels)
    return kept


def _tdat(path, ch, seg=0):
    return os.path.join(path, f"{ch}.timd", f"{ch}-{seg:06d}.segd", f"{ch}-{seg:06d}.tdat")


def _seg_file(path, ch, seg, ext):
    return os.path.join(path, f"{ch}.timd", f"{ch}-{seg:06d}.segd", f"{ch}-{seg:06d}.{ext}")


def test_on_error_value_is_checked(tmp_path):
    with pytest.raises(ValueError):
        neo_mef3.Reader(os.path.join(DATA, "plain.mefd"), on_error="ignore")


def test_healthy_session_skips_nothing(recwarn):
    with neo_mef3.Reader(os.path.join(DATA, "plain.mefd"), on_error="skip") as r:
        truth = _windows(os.path.join(DATA, "plain.mefd"))
        kept = _assert_subset(r, truth)
        assert r.skipped == []
        for ch, (_, _, _, valid) in truth.items():
            assert kept[ch] == int(valid.sum())
    assert not [w for w in recwarn if issubclass(w.category, MefWarning)]


def test_damaged_block_reads_as_gap(tmp_path):
    path = _copy(tmp_path)
    truth = _windows(path)
    with open(_tdat(path, "A"), "r+b") as f:  # inside the first block's coded payload
        f.seek(1024 + 400)
        f.write(b"\xff" * 8)
    with pytest.raises(MefError):
        neo_mef3.Reader(path).read("A")
    with neo_mef3.Reader(path, on_error="skip") as r:
        with pytest.warns(MefWarning, match="A-000000.tdat.*CRC_MISMATCH"):
            kept = _assert_subset(r, truth, ["A", "B"])
        first = r.toc("A")[0]["number_of_samples"]
        assert kept["A"] == int(truth["A"][3].sum()) - first
        assert kept["B"] == int(truth["B"][3].sum())
        assert [s["what"] for s in r.skipped] == ["blocks"]


def test_damaged_block_with_one_thread_and_many(tmp_path):
    path = _copy(tmp_path)
    truth = _windows(path)
    with open(_tdat(path, "B", 1), "r+b") as f:
        f.seek(1024 + 350)
        f.write(b"\x00" * 4)
    results = []
    for n_threads in (1, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MefWarning)
            with neo_mef3.Reader(path, on_error="skip", n_threads=n_threads) as r:
                results.append(_assert_subset(r, truth))
    assert results[0] == results[1]


def test_truncated_data_file_keeps_the_blocks_before_the_cut(tmp_path):
    path = _copy(tmp_path)
    truth = _windows(path)
    tdat = _tdat(path, "B")
    os.truncate(tdat, os.path.getsize(tdat) // 2)
    with pytest.warns(MefWarning, match="outside"):
        r = neo_mef3.Reader(path, on_error="skip")
    with r:
        kept = _assert_subset(r, truth, ["A", "B"])
        assert 0 < kept["B"] < int(truth["B"][3].sum())
        assert r.skipped[0]["what"] == "blocks"


@pytest.mark.parametrize("ext", ["tmet", "tidx", "tdat"])
def test_missing_segment_file_skips_the_segment(tmp_path, ext):
    path = _copy(tmp_path)
    truth = _windows(path)
    os.remove(_seg_file(path, "B", 1, ext))
    with pytest.warns(MefWarning, match=f"B-000001.{ext}"):
        r = neo_mef3.Reader(path, on_error="skip")
    with r:
        kept = _assert_subset(r, truth, ["A", "B"])
        assert 0 < kept["B"] < int(truth["B"][3].sum())
        assert kept["A"] == int(truth["A"][3].sum())
        assert [s["what"] for s in r.skipped] == ["segment"]
        assert r.info("B")["n_segments"] == 1


def test_channel_with_no_readable_segment_is_left_out(tmp_path):
    path = _copy(tmp_path)
    truth = _windows(path)
    with open(_seg_file(path, "A", 0, "tmet"), "r+b") as f:
        f.seek(3000)
        f.write(b"\x55")
    with pytest.raises(MefError):
        neo_mef3.Reader(path).info("A")
    with pytest.warns(MefWarning) as rec:
        r = neo_mef3.Reader(path, on_error="skip")
    assert len([w for w in rec if issubclass(w.category, MefWarning)]) == 1
    with r:
        assert r.channels == ["B"]
        _assert_subset(r, truth, ["B"])
        with pytest.raises(FormatError, match="skipped"):
            r.read("A")
        whats = [s["what"] for s in r.skipped]
        assert whats == ["segment", "channel"]


def test_damaged_records_are_skipped(tmp_path):
    path = _copy(tmp_path, "encrypted")
    rdat = os.path.join(path, "encrypted.rdat")
    with open(rdat, "r+b") as f:
        f.seek(1030)
        f.write(b"\x00")
    with neo_mef3.Reader(path, password="pass2") as r:
        with pytest.raises(MefError):
            r.records()
    with neo_mef3.Reader(path, password="pass2", on_error="skip") as r:
        with pytest.warns(MefWarning, match="encrypted.rdat"):
            assert r.records() == []
        assert r.records("E") is not None


def test_passwords_still_raise(tmp_path):
    src = os.path.join(DATA, "encrypted.mefd")
    with pytest.raises(PasswordError):
        neo_mef3.Reader(src, password="wrong", on_error="skip")
    with pytest.raises(PasswordError):
        neo_mef3.Reader(src, on_error="skip")
