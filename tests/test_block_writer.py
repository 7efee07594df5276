"""``MEF3IO.write_block`` as a stream: bounded memory on a lazy Block, the source's gain
kept, a missing recording date said, progress and cancel."""

import threading
import tracemalloc
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
import quantities as pq

import neo
import neo_mef3
import neo_mef3.block_writer as block_writer
from neo_mef3 import MEF3IO
from neo_mef3.check import check_session
from neo_mef3.errors import CancelledError, WriteWarning

T0 = 1_700_000_000_000_000
FS = 1000.0


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """8 channels x 400,000 int32 counts at 0.195 uV (25.6 MB as float64)."""
    path = str(tmp_path_factory.mktemp("src") / "src.mefd")
    rng = np.random.default_rng(0)
    with neo_mef3.Writer(path, overwrite=True, durable=False) as w:
        for c in range(8):
            w.write_int32(f"ch{c}", np.cumsum(rng.integers(-50, 50, 400_000)).astype(np.int32), 0.195, T0, FS)
    return path


@pytest.mark.timeout(120)
def test_a_lazy_block_is_copied_in_bounded_memory_and_exactly(source, tmp_path, monkeypatch):
    """Issue 13: copying a lazy Block held everything in memory (3.5 GB for a one-hour
    68-channel session). Peak traced memory must stay at a few windows, far below the
    session's size, and the counts must come through as they are (the source's gain)."""
    monkeypatch.setattr(block_writer, "WINDOW_BYTES", 2 << 20)
    session_bytes = 8 * 400_000 * 8
    blk = MEF3IO(source).read_block(lazy=True)
    dst = str(tmp_path / "copy.mefd")
    tracemalloc.start()
    try:
        info = MEF3IO(dst).write_block(blk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.2 * session_bytes and peak < 4 * block_writer.WINDOW_BYTES, peak
    assert info["channels"]["ch3"]["units_conversion_factors"] == [0.195] and info["inexact"] == {}
    with neo_mef3.Reader(source) as a, neo_mef3.Reader(dst) as b:
        for c in range(8):
            x = a.read_raw(f"ch{c}", T0, T0 + 400_000_000)["samples"]
            assert np.array_equal(x, b.read_raw(f"ch{c}", T0, T0 + 400_000_000)["samples"])
        assert [s["number_of_samples"] for s in b.segments("ch0")] == [400_000]  # one segment, whole blocks
    assert check_session(dst).exit_code == 0


def _block(rec_datetime=None):
    bl = neo.Block(rec_datetime=rec_datetime)
    seg = neo.Segment()
    x = np.round(np.random.default_rng(1).normal(0, 50, (20_000, 2)), 1)
    seg.analogsignals.append(neo.AnalogSignal(x, units="uV", sampling_rate=FS * pq.Hz, t_start=0 * pq.s, name="S"))
    bl.segments.append(seg)
    return bl, x


def test_a_block_without_a_recording_date_is_said(tmp_path):
    """Issue 13: a Block without rec_datetime (neo's EDF reader leaves it empty) was dated
    2000-01-01 without a word."""
    bl, _ = _block()
    with pytest.warns(WriteWarning, match="rec_datetime"):
        MEF3IO(str(tmp_path / "a.mefd")).write_block(bl)
    with neo_mef3.Reader(str(tmp_path / "a.mefd")) as r:
        assert r.info("S_0")["start_time"] == 946_684_800_000_000  # 2000-01-01
    when = datetime(2024, 3, 5, 22, 0, tzinfo=timezone.utc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MEF3IO(str(tmp_path / "b.mefd")).write_block(bl, rec_datetime=when)
    with neo_mef3.Reader(str(tmp_path / "b.mefd")) as r:
        assert r.info("S_0")["start_time"] == 1_709_676_000_000_000


def test_write_block_progress_and_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(block_writer, "WINDOW_BYTES", 64 << 10)  # several windows
    when = datetime(2024, 3, 5, tzinfo=timezone.utc)
    bl, x = _block(when)
    seen = []
    MEF3IO(str(tmp_path / "p.mefd")).write_block(bl, block_length=1000, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (40_000, 40_000) and len(seen) > 3
    stop = threading.Event()
    path = str(tmp_path / "c.mefd")
    with pytest.raises(CancelledError):
        MEF3IO(path).write_block(bl, block_length=1000, cancel=stop,
                                 progress=lambda d, t: stop.set() if d >= 10_000 else None)
    assert check_session(path).exit_code == 0  # the windows written so far, consistent
    with neo_mef3.Reader(path) as r:
        n = r.info("S_0")["number_of_samples"]
        assert 0 < n < 20_000
        got = r.read("S_0", r.info("S_0")["start_time"], r.info("S_0")["start_time"] + n * 1000)
    np.testing.assert_allclose(got, x[:n, 0], atol=1e-9)
