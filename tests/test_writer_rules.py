"""The Writer's precision and segment rules (docs/writing.md), its warnings and summary.

Every session written here is read back by our Reader and by the oracles (pymef, whose
reads are raw counts: scaled here by each segment's own factor; mef3io, which scales by
each segment's factor itself).
"""

import os
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import Writer
from neo_mef3.errors import PrecisionWarning, WriteWarning

from support.read_oracles import read_mef3io, read_pymef

T0 = 1_700_000_000_000_000
FS = 1000.0


def _size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _read_all(path, channel, n):
    """(ours, mef3io, pymef) reads of `n` samples of a gap-free channel starting at T0."""
    with neo_mef3.Reader(path) as r:
        ours = r.read(channel, T0, T0 + int(round(n * 1e6 / FS)))
    m3 = read_mef3io(path)["channels"][channel]["read"]
    pm = read_pymef(path)
    ch = pm["channels"][channel]
    assert not pm["errors"], pm["errors"]
    scaled = []
    for seg in ch["segments"]:  # pymef reads counts; each segment has its own factor
        k = seg["number_of_samples"]
        first = sum(s["number_of_samples"] for s in scaled)
        scaled.append({"number_of_samples": k, "values": ch["samples"][first:first + k] * seg["ufact"]})
    return ours, m3, np.concatenate([s["values"] for s in scaled])


def _close(got, want, bound=0.0):
    """got == want up to float64 rounding of counts * factor (and `bound` more)."""
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=bound + 1e-12)


def test_a_flat_first_write_does_not_round_later_data(tmp_path):
    """Issue 13: zeros fixed the factor at 1.0, and 2.51 read back as 3.0."""
    path = tmp_path / "flat.mefd"
    flat = np.zeros(1000)
    real = np.round(np.random.default_rng(1).normal(0, 20, 3000), 2)
    with Writer(path, overwrite=True) as w:
        first = w.write("A", flat, T0, FS)
        second = w.write("A", real, T0 + 1_000_000, FS)
        summary = w.summary
    assert first["precision"] == 0 and first["segment_created"] and first["reason"] == "first write"
    assert second["segment"] == 1 and second["segment_created"] and second["precision"] == 2
    assert "finer than segment 0" in second["reason"]
    ch = summary["channels"]["A"]
    assert ch["segments_created"] == [0, 1] and [s["units_conversion_factor"] for s in ch["segments"]] == [1.0, 0.01]
    for got in _read_all(path, "A", 4000):
        _close(got, np.concatenate([flat, real]))


def test_an_append_finer_than_the_segment_starts_a_finer_segment(tmp_path):
    """Issue 13: 3.333 appended to a segment stored at 0.1 read 3.3."""
    path = tmp_path / "finer.mefd"
    coarse = np.round(np.linspace(-5, 5, 500), 1)
    with Writer(path, overwrite=True) as w:
        assert w.write("A", coarse, T0, FS)["units_conversion_factor"] == 0.1
        more = w.write("A", np.full(500, 3.333), T0 + 500_000, FS)
        same = w.write("A", np.full(500, 1.5), T0 + 1_000_000, FS)  # 1.5 fits 0.001: appended
    assert more["segment"] == 1 and more["precision"] == 3
    assert same["segment"] == 1 and not same["segment_created"]
    for got in _read_all(path, "A", 1500):
        _close(got, np.concatenate([coarse, np.full(500, 3.333), np.full(500, 1.5)]))


def test_float64_noise_gets_a_sensible_precision_and_later_chunks_fit(tmp_path):
    """Issue 13: N(0, 50) noise was stored at 1e-7 (larger files than mef3io, which
    picks 0.01) and a later chunk holding 400 raised ValueError."""
    mef3io = pytest.importorskip("mef3io")
    x = np.random.default_rng(2).normal(0, 50, 200_000)
    path, theirs = tmp_path / "noise.mefd", tmp_path / "noise_mef3io.mefd"
    with Writer(path, overwrite=True) as w:
        res = w.write("A", x, T0, FS)
        later = w.write("A", np.full(1000, 400.0), T0 + 200_000_000, FS)
        huge = np.linspace(-3e7, 3e7, 1000)  # beyond int32 at 0.01: a coarser segment
        big = w.write("A", huge, T0 + 201_000_000, FS)
    assert res["units_conversion_factor"] == 0.01
    assert later["segment"] == 0 and not later["segment_created"]
    assert big["segment_created"] and "exceed int32" in big["reason"]
    assert big["units_conversion_factor"] == 10.0 ** -big["precision"]
    assert np.abs(huge).max() / big["units_conversion_factor"] <= 2**31 - 2
    with mef3io.Writer(str(theirs)) as w:
        w.write("A", x, T0, FS)
    with neo_mef3.Reader(path) as r:
        assert _size(path / "A.timd" / "A-000000.segd") <= 1.1 * _size(theirs)
        got = r.read("A", T0, T0 + 200_000_000)
        np.testing.assert_allclose(got, x, rtol=0, atol=0.005 + 1e-9)  # half the factor
        tail = r.read("A", T0 + 201_000_000, T0 + 202_000_000)
        np.testing.assert_allclose(tail, huge, rtol=0, atol=0.5 * big["units_conversion_factor"] + 1e-6)
    m3 = read_mef3io(path)["channels"]["A"]["read"]
    np.testing.assert_allclose(m3[:200_000], x, atol=0.005 + 1e-9)


def test_a_pinned_precision_warns_with_the_error_bound(tmp_path):
    path = tmp_path / "pinned.mefd"
    with Writer(path, overwrite=True) as w:
        with pytest.warns(PrecisionWarning, match=r"error up to 0\.05"):
            res = w.write("A", np.array([1.234, 2.5, 3.0]), T0, FS, precision=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # values at the pinned precision: nothing to say
            w.write("A", np.array([1.2, 2.5]), T0 + 3000, FS, precision=1)
        assert "error up to 0.05" in w.summary["warnings"][0]
    assert res["precision"] == 1
    with neo_mef3.Reader(path) as r:
        np.testing.assert_allclose(r.read("A", T0, T0 + 5000), [1.2, 2.5, 3.0, 1.2, 2.5])


def test_segments_of_different_factors_read_exactly_everywhere(tmp_path):
    """Several segments with their own factors (inferred ones and a write_int32 step)."""
    rng = np.random.default_rng(3)
    parts = [np.round(rng.normal(0, 5, 700), 1), np.round(rng.normal(0, 5, 700), 4),
             np.round(rng.normal(0, 5e6, 700), 0)]  # beyond int32 at 1e-4: a segment at 1
    path = tmp_path / "factors.mefd"
    with Writer(path, overwrite=True, block_length=256) as w:
        t = T0
        for p in parts:
            w.write("A", p, t, FS)
            t += 700_000
        w.write_int32("A", np.arange(-350, 350), 0.195, t, FS, new_segment=True)  # (pinned: a new factor is asked)
        factors = [s["units_conversion_factor"] for s in w.summary["channels"]["A"]["segments"]]
    assert factors == [0.1, 0.0001, 1.0, 0.195]
    want = np.concatenate(parts + [np.arange(-350, 350) * 0.195])
    for got in _read_all(path, "A", 2800):
        _close(got, want)


@pytest.mark.parametrize("start, hint, factor", [(1_709_676_000, "in seconds", 1_000_000),
                                                 (1_709_676_000_000, "in milliseconds", 1000)])
def test_implausible_times_warn_with_the_fix(tmp_path, start, hint, factor):
    """Issue 13: a start in seconds dated the session in 1970, silently."""
    path = tmp_path / "time.mefd"
    with Writer(path, overwrite=True) as w:
        with pytest.warns(WriteWarning, match=hint) as rec:
            w.write("A", np.ones(10), start, FS)
        assert "1970-01-" in str(rec[0].message) and str(start * factor) in str(rec[0].message)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            w.write("B", np.ones(10), T0, FS)  # 2023: no warning


def test_the_channel_argument_is_named_channel(tmp_path):
    path = tmp_path / "kw.mefd"
    with Writer(path, overwrite=True) as w:
        w.write(channel="A", data=np.arange(10.0), start_uutc=T0, fs=FS)
        w.write_int32(channel="B", data=np.arange(10), ufact=0.5, start_uutc=T0, fs=FS)
        w.write("C", np.arange(10.0), T0, FS)  # positional use keeps working
        w.write_int32("D", np.arange(10), 0.5, T0, FS)
    with neo_mef3.Reader(path) as r:
        assert r.channels == ["A", "B", "C", "D"]


def test_the_summary_names_precision_factor_segments_and_repairs(tmp_path):
    path = tmp_path / "sum.mefd"
    with Writer(path, overwrite=True) as w:
        w.write("A", np.round(np.linspace(0, 1, 100), 2), T0, FS)
        w.write("A", np.round(np.linspace(0, 1, 100), 2), T0 + 100_000, FS)
        w.write("A", np.round(np.linspace(0, 1, 100), 3), T0 + 200_000, FS)
        w.write("B", np.array([1.0, np.nan, np.nan, 2.0]), T0, FS)
        summary = w.close()
    a, b = summary["channels"]["A"], summary["channels"]["B"]
    assert a["precision"] == 3 and a["units_conversion_factor"] == 0.001 and a["segments_created"] == [0, 1]
    assert [(s["number"], s["precision"], s["samples_written"]) for s in a["segments"]] == [(0, 2, 200), (1, 3, 100)]
    assert b["samples_written"] == 2 and b["gaps_skipped"] == 1 and summary["repairs"] == []
    assert summary["repair_skipped"] is None
