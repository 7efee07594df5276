"""Tests of the RED codec and CRC-32 (neo_mef3._red).

The references are the real implementations: sessions are written by meflib (through
pymef and mef_tools), decoded by our codec and compared with what pymef reads and with
the original samples; our encoder must reproduce meflib's block bytes exactly. A small
pure-Python decoder (``support.red_reference``) transcribes the algorithm independently
of the Cython code and is compared with it on random and damaged blocks.
"""
import bisect
import re
import shutil
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from neo_mef3 import _red
from neo_mef3.errors import CrcError, FormatError
from support.red_reference import RED_MAX, RED_MIN, RefError, ref_crc, ref_decode, ref_round

MEFLIB_H = Path("/tmp/ref/msel-source+meflib/meflib/meflib.h")

UH_BYTES = 1024            # MEF universal header

TIDX_DTYPE = np.dtype([
    ("file_offset", "<i8"), ("start_time", "<i8"), ("start_sample", "<i8"),
    ("number_of_samples", "<u4"), ("block_bytes", "<u4"),
    ("maximum", "<i4"), ("minimum", "<i4"), ("_pad", "V4"),
    ("flags", "u1"), ("_rest", "V11"),
])
assert TIDX_DTYPE.itemsize == 56


# ======================================================================================
# Test data and meflib-written sessions
# ======================================================================================

def pink_noise(n, rng, scale=2000.0):
    """1/f-like noise: white Gaussian spectrum shaped by 1/sqrt(f)."""
    f = np.fft.rfftfreq(n)
    spec = rng.normal(size=f.size) + 1j * rng.normal(size=f.size)
    spec[0] = 0
    spec[1:] /= np.sqrt(f[1:])
    y = np.fft.irfft(spec, n)
    return np.round(y / y.std() * scale).astype(np.int32)


def make_dataset(name):
    """(samples, samples per block) for each named case."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if name == "random_walk":
        return np.cumsum(rng.integers(-60, 61, 10007)).astype(np.int32), 1000
    if name == "pink":
        return pink_noise(30011, rng), 1000
    if name == "white_huge":        # nearly every sample escaped
        return rng.integers(RED_MIN, RED_MAX, 4001, endpoint=True).astype(np.int32), 500
    if name == "steps":             # small noise with frequent huge steps
        x = rng.integers(-20, 21, 6000) + rng.choice([0, 10**6, -(10**7), 3 * 10**8], 6000)
        return x.astype(np.int32), 701
    if name == "constant":          # constant runs, including whole constant blocks
        parts = [np.zeros(3000), np.full(2500, 123456), np.full(1000, -7),
                 np.full(1500, RED_MAX), np.repeat(rng.integers(-1000, 1000, 20), 100)]
        return np.concatenate(parts).astype(np.int32), 1024
    if name == "extremes":          # int32 edge values, differences that wrap around
        choices = np.array([RED_MIN, RED_MAX, RED_MIN + 1, RED_MAX - 1, RED_MIN + 127,
                            RED_MAX - 127, 0, -1, 1, 127, -127, 128, -128], dtype=np.int64)
        x = rng.choice(choices, 4000)
        x[:100] = np.where(np.arange(100) % 2, RED_MIN, RED_MAX)
        x[100:300] = RED_MAX - np.arange(200)
        x[300:500] = RED_MIN + np.arange(200)
        return x.astype(np.int32), 333
    if name == "odd_blocks":
        return np.cumsum(rng.integers(-200, 201, 3001)).astype(np.int32), 7
    if name == "one_sample_blocks":
        return np.cumsum(rng.integers(-300, 301, 257)).astype(np.int32), 1
    if name == "uniform_symbols":   # differences use (almost) every byte value
        return rng.integers(-63, 64, 15000).astype(np.int32), 4999
    if name == "skewed":            # counts far above 255: statistics get scaled
        x = np.cumsum(rng.choice([0, 1, -1, 5], 40000, p=[0.97, 0.012, 0.012, 0.006]))
        return x.astype(np.int32), 10000
    raise KeyError(name)


DATASETS = ["random_walk", "pink", "white_huge", "steps", "constant", "extremes",
            "odd_blocks", "one_sample_blocks", "uniform_symbols", "skewed"]

START_UUTC = 1_600_000_000_000_000
FS = 1000.0


def _pymef():
    return pytest.importorskip("pymef.mef_session")


def write_pymef_session(path, x, block_len, lossy=False):
    """Write one channel 'ch' with meflib (through pymef); returns the segment stem."""
    mef_session = _pymef()
    from pymef.mef_file import pymef3_file
    shutil.rmtree(path, ignore_errors=True)
    s = mef_session.MefSession(str(path), None, False, True)
    end = START_UUTC + int(len(x) / FS * 1e6)
    sec2 = {"sampling_frequency": FS, "recording_duration": int(len(x) / FS * 1e6),
            "units_conversion_factor": 1.0, "start_sample": 0}
    sec3 = {"recording_time_offset": 0, "GMT_offset": 0}
    s.write_mef_ts_segment_metadata("ch", 0, None, None, START_UUTC, end, sec2, sec3)
    seg = Path(s.path) / "ch.timd" / "ch-000000.segd"
    # the low-level writer takes the lossy flag that MefSession never passes
    pymef3_file.write_mef_ts_data_and_indices(str(seg) + "/", None, None, int(block_len),
                                              np.ascontiguousarray(x, np.int32),
                                              1 if lossy else 0)
    return seg / "ch-000000"


def pymef_read(session_path, n):
    mef_session = _pymef()
    s = mef_session.MefSession(str(session_path), None)
    y = s.read_ts_channels_sample("ch", [[0, n]])
    s.close()
    return np.asarray(y)


class Segment:
    """The bytes and index of one meflib-written segment."""

    def __init__(self, stem):
        self.tdat = Path(str(stem) + ".tdat").read_bytes()
        self.tidx_bytes = Path(str(stem) + ".tidx").read_bytes()
        self.tmet = Path(str(stem) + ".tmet").read_bytes()
        self.idx = np.frombuffer(self.tidx_bytes, TIDX_DTYPE, offset=UH_BYTES)
        self.n = int(self.idx["number_of_samples"].sum())

    def blocks(self):
        for e in self.idx:
            o = int(e["file_offset"])
            yield self.tdat[o:o + int(e["block_bytes"])]

    def decode(self, **kw):
        out = np.zeros(self.n, np.int32)
        _red.decode_blocks(self.tdat, self.idx["file_offset"], self.idx["block_bytes"],
                           self.idx["number_of_samples"], out, self.idx["start_sample"], **kw)
        return out


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    _pymef()
    root = tmp_path_factory.mktemp("red_sessions")
    result = {}
    for name in DATASETS:
        x, block_len = make_dataset(name)
        path = root / f"{name}.mefd"
        stem = write_pymef_session(path, x, block_len)
        result[name] = (x, Segment(stem), path)
    return result


@pytest.fixture(scope="module")
def mef_tools_session(tmp_path_factory):
    """A session written through mef_tools, with an appended (discontinuous) part."""
    io = pytest.importorskip("mef_tools.io")
    path = tmp_path_factory.mktemp("red_mef_tools") / "mt.mefd"   # new path: no rmtree sleep
    rng = np.random.default_rng(7)
    x1 = np.cumsum(rng.integers(-300, 301, 5000)).astype(np.int32)
    x2 = pink_noise(2345, rng)
    w = io.MefWriter(str(path), overwrite=True)
    w.mef_block_len = 777
    w.write_data(x1, "ch", START_UUTC, FS, precision=0)
    w.write_data(x2, "ch", START_UUTC + 10_000_000, FS, precision=0)
    del w
    stem = path / "ch.timd" / "ch-000000.segd" / "ch-000000"
    return np.concatenate([x1, x2]), Segment(stem), path


# ======================================================================================
# 1. Decoding meflib-written sessions
# ======================================================================================

@pytest.mark.parametrize("name", DATASETS)
def test_decode_matches_meflib(sessions, name):
    x, seg, path = sessions[name]
    out = seg.decode()
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(out.astype(np.float64), pymef_read(path, len(x)))
    # one block at a time, with the header's own sample count
    parts = [_red.decode_block(b) for b in seg.blocks()]
    np.testing.assert_array_equal(np.concatenate(parts), x)


def test_decode_mef_tools_session(mef_tools_session):
    x, seg, path = mef_tools_session
    assert (seg.idx["flags"] & 1).sum() >= 2          # first block + the appended part
    out = seg.decode()
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(out.astype(np.float64), pymef_read(path, len(x)))


def test_block_header_fields(sessions):
    x, seg, _ = sessions["random_walk"]
    for e, blk in zip(seg.idx, seg.blocks()):
        h = _red.block_header(blk)
        assert h["block_bytes"] == e["block_bytes"] == len(blk)
        assert h["number_of_samples"] == e["number_of_samples"]
        assert h["start_time"] == e["start_time"]
        assert h["flags"] == e["flags"]
        assert (h["slope"], h["intercept"], h["scale_factor"]) == (0.0, 0.0, 1.0)
        assert h["crc"] == struct.unpack_from("<I", blk)[0]
        assert h["statistics"] == blk[48:304]
    with pytest.raises(FormatError):
        _red.block_header(b"\0" * 303)


# ======================================================================================
# 2. Encoder: byte-identical to meflib
# ======================================================================================

def _check_reencode(seg, x):
    idx = seg.idx
    starts = idx["start_sample"].astype(np.int64)
    counts = idx["number_of_samples"].astype(np.int64)
    data, bb, mx, mn, db = _red.encode_blocks(x, starts, counts, idx["start_time"],
                                              idx["flags"] & 1)
    np.testing.assert_array_equal(bb, idx["block_bytes"])
    np.testing.assert_array_equal(mx, idx["maximum"])
    np.testing.assert_array_equal(mn, idx["minimum"])
    offs = np.concatenate([[0], np.cumsum(bb)[:-1]])
    for i, blk in enumerate(seg.blocks()):
        mine = data[offs[i]:offs[i] + bb[i]].tobytes()
        assert mine == blk, f"block {i} differs from meflib's"
        assert db[i] == _red.block_header(blk)["difference_bytes"]
    # the whole segment body, as meflib wrote it
    assert data.tobytes() == seg.tdat[UH_BYTES:]


@pytest.mark.parametrize("name", DATASETS)
def test_encoder_is_byte_identical_to_meflib(sessions, name):
    x, seg, _ = sessions[name]
    _check_reencode(seg, x)
    # the one-block convenience, with the block's start time and discontinuity flag
    for e, blk in zip(seg.idx[:5], seg.blocks()):
        s = int(e["start_sample"])
        y = x[s:s + int(e["number_of_samples"])]
        assert _red.encode_block(y, int(e["start_time"]), bool(e["flags"] & 1)) == blk


def test_encoder_mef_tools_session(mef_tools_session):
    x, seg, _ = mef_tools_session
    _check_reencode(seg, x)


def test_encoder_input_validation():
    x = np.arange(10, dtype=np.int32)
    with pytest.raises(TypeError):
        _red.encode_blocks(x.astype(np.int64), [0], [10], [0], [0])
    with pytest.raises(ValueError):
        _red.encode_blocks(x, [0], [0], [0], [0])           # empty block
    with pytest.raises(ValueError):
        _red.encode_blocks(x, [5], [6], [0], [0])           # past the end
    with pytest.raises(ValueError):
        _red.encode_blocks(x, [0], [10], [0], [2])          # encryption flag
    data, bb, *_ = _red.encode_blocks(x, [], [], [], [])
    assert data.size == 0 and bb.size == 0


def test_encoder_roundtrip_random():
    rng = np.random.default_rng(3)
    for trial in range(60):
        n = int(rng.integers(1, 3000))
        kind = trial % 4
        if kind == 0:
            x = np.cumsum(rng.integers(-130, 131, n))
        elif kind == 1:
            x = rng.integers(-2**31, 2**31, n)             # any int32, reserved values too
        elif kind == 2:
            x = np.repeat(rng.integers(-5, 5, n // 50 + 1), 50)[:n]
        else:
            x = pink_noise(max(n, 2), rng, scale=float(10 ** rng.integers(0, 8)))[:n]
        x = x.astype(np.int32)
        blk = _red.encode_block(x, int(rng.integers(-2**62, 2**62)), bool(trial & 1))
        assert len(blk) % 8 == 0 and len(blk) <= _red.encode_capacity(n)
        np.testing.assert_array_equal(_red.decode_block(blk), x)


# ======================================================================================
# 3. Lossy blocks
# ======================================================================================

def test_lossy_blocks_written_by_meflib(tmp_path):
    """pymef's low-level writer takes a lossy flag (RED_MEAN_RESIDUAL_RATIO with
    detrending); its blocks must decode exactly as pymef reads them."""
    rng = np.random.default_rng(11)
    n = 12000
    x = (rng.normal(0, 1000, n) + 300 * np.sin(np.arange(n) / 50)
         + np.linspace(0, 5000, n)).astype(np.int32)
    path = tmp_path / "lossy.mefd"
    seg = Segment(write_pymef_session(path, x, 1000, lossy=True))
    headers = [_red.block_header(b) for b in seg.blocks()]
    assert any(h["scale_factor"] > 1.0 for h in headers)
    assert any(h["slope"] != 0.0 for h in headers)
    out = seg.decode()
    np.testing.assert_array_equal(out.astype(np.float64), pymef_read(path, n))
    assert not np.array_equal(out, x)           # it really is lossy
    for blk, h in zip(list(seg.blocks())[:3], headers):
        assert _red.decode_block(blk).tolist() == ref_decode(blk)
    # the coded integers of a lossy block are an ordinary RED stream: with the lossy
    # fields neutralised they decode to integers that our encoder turns back into
    # meflib's exact payload
    for blk, h in zip(seg.blocks(), headers):
        inner = _red.decode_block(_with_lossy_header(blk, 0.0, 0.0, 1.0))
        mine = _red.encode_block(inner, h["start_time"], bool(h["flags"] & 1))
        assert _with_lossy_header(mine, h["slope"], h["intercept"], h["scale_factor"]) == blk


def _with_lossy_header(blk, slope, intercept, scale):
    b = bytearray(blk)
    struct.pack_into("<3f", b, 16, slope, intercept, scale)
    struct.pack_into("<I", b, 0, _red.crc32(memoryview(b)[4:]))
    return bytes(b)


def test_lossy_hand_built():
    # worked example: scale 2.5 rounds halves away from zero, then the trend
    # slope*c + intercept (c = 1, 2, 3) is added and rounded again
    blk = _with_lossy_header(_red.encode_block(np.array([1, -1, 2], np.int32)), 0.5, 0.25, 2.5)
    # 1*2.5 = 2.5 -> 3; -2.5 -> -3; 5.  3 + .5 + .25 = 3.75 -> 4; -3 + 1 + .25 -> -2; 5 + 1.5 + .25 -> 7
    assert _red.decode_block(blk).tolist() == [4, -2, 7]

    rng = np.random.default_rng(5)
    x = np.cumsum(rng.integers(-100, 101, 800)).astype(np.int32)
    x[::97] = rng.choice([RED_MAX, RED_MIN, 2**30, -(2**30)], x[::97].size)
    base = _red.encode_block(x)
    cases = [
        (0.0, 0.0, 3.7),               # scale only
        (0.37, -12.5, 1.0),            # trend only
        (-1.25, 1e5, 17.25),           # both
        (0.0, 0.0, 0.5),               # scale <= 1 is ignored, as by meflib
        (0.0, 0.0, 4.0),               # saturates at +/-0x7FFFFFFF
        (3e6, -2e9, 1.0),              # trend pushes values out of range
    ]
    for slope, intercept, scale in cases:
        blk = _with_lossy_header(base, slope, intercept, scale)
        got = _red.decode_block(blk)
        f32 = np.float32
        s, m, b = float(f32(scale)), float(f32(slope)), float(f32(intercept))
        expect = [int(v) for v in x]
        if s > 1.0:
            expect = [ref_round(v * s) for v in expect]
        if m != 0.0 or b != 0.0:
            expect = [ref_round(v + m * c + b) for c, v in enumerate(expect, 1)]
        assert got.tolist() == expect, (slope, intercept, scale)
        assert got.tolist() == ref_decode(blk)
    sat = _red.decode_block(_with_lossy_header(base, 0.0, 0.0, 4.0))
    assert sat.max() == 0x7FFFFFFF and sat.min() == -0x7FFFFFFF
    # a NaN trend gives RED_NAN (what meflib's cast yields on x86) rather than garbage
    nan = _red.decode_block(_with_lossy_header(base, float("nan"), 0.0, 1.0))
    assert (nan == -0x80000000).all()


def test_red_round():
    cases = {0.5: 1, -0.5: -1, 1.49: 1, -1.5: -2, 2.5: 3, 0.0: 0, -0.0: 0,
             2147483646.4: 2147483646, 2147483646.5: 0x7FFFFFFF, 1e300: 0x7FFFFFFF,
             -2147483646.4: -2147483646, -2147483646.5: -0x7FFFFFFF, -1e300: -0x7FFFFFFF,
             float("inf"): 0x7FFFFFFF, float("-inf"): -0x7FFFFFFF, float("nan"): -0x80000000}
    for v, want in cases.items():
        assert _red.red_round(v) == want == ref_round(v), v


# ======================================================================================
# 4. Robustness: damaged blocks raise FormatError/CrcError or decode to something
# ======================================================================================

def _decode_status(blocks, out_room_extra=64, counts=None, check_crc=False):
    """Decode a list of byte blocks in one call with status=; returns (status, out)."""
    buf = b"".join(blocks)
    sizes = np.array([len(b) for b in blocks], np.int64)
    offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    if counts is None:
        counts = np.full(len(blocks), -1, np.int64)
    room = np.array([struct.unpack_from("<I", b, 32)[0] if len(b) >= 304 else 0
                     for b in blocks], np.int64)
    room = np.minimum(room, 5000) + out_room_extra
    oo = np.concatenate([[0], np.cumsum(room)[:-1]]).astype(np.int64)
    out = np.zeros(int(room.sum()) + 1, np.int32)
    status = np.full(len(blocks), -1, np.int8)
    _red.decode_blocks(buf, offs, sizes, counts, out, oo, check_crc=check_crc, status=status)
    assert ((status >= 0) & (status <= 9)).all()
    return status, out


def _small_real_blocks(sessions):
    picks = []
    for name, k in [("random_walk", 0), ("extremes", 3), ("odd_blocks", 10),
                    ("white_huge", 1), ("one_sample_blocks", 5)]:
        blocks = list(sessions[name][1].blocks())
        picks.append(blocks[k])
    return picks


def test_every_bit_flip(sessions):
    blocks = [b for b in _small_real_blocks(sessions) if len(b) <= 2500]
    for blk in blocks:
        variants = []
        for bit in range(len(blk) * 8):
            b = bytearray(blk)
            b[bit >> 3] ^= 1 << (bit & 7)
            variants.append(bytes(b))
        status, _ = _decode_status(variants)
        # with the CRC checked every single flip is caught (a flip that makes
        # block_bytes exceed the buffer is caught before the CRC is computed)
        status_crc, _ = _decode_status(variants, check_crc=True)
        bb_bits = set(range(36 * 8, 40 * 8))
        for bit, st in enumerate(status_crc):
            assert st == (_red.BAD_BLOCK_BYTES if bit in bb_bits and st != 3 else 3), bit
        # and the decoder agrees with the reference on a sample of them
        for v, st in list(zip(variants, status))[::29]:
            try:
                want = ref_decode(v)
            except RefError:
                want = None
            if st == 0:
                assert want is not None
                assert _red.decode_block(v, check_crc=False).tolist() == want
            elif st in (_red.BAD_BLOCK_BYTES, _red.BAD_DIFFERENCE_BYTES,
                        _red.SYMBOLS_EXHAUSTED, _red.NO_STATISTICS):
                assert want is None
            else:   # not the decoder's business: the caller's output or encryption
                assert st in (_red.OUTPUT_BOUNDS, _red.ENCRYPTED)


def test_truncations(sessions):
    for blk in _small_real_blocks(sessions)[:3]:
        # cut short: the buffer ends early
        cuts = [blk[:k] for k in range(len(blk))]
        status, _ = _decode_status(cuts)
        assert (status[:304] == _red.TRUNCATED).all()
        assert (status[304:] == _red.BAD_BLOCK_BYTES).all()
        # cut short with a consistent header: the decoder runs out of payload and is
        # fed zero bytes; it must stop cleanly either way
        fixed = []
        for k in range(304, len(blk)):
            b = bytearray(blk[:k])
            struct.pack_into("<I", b, 36, k)
            fixed.append(bytes(b))
        status, _ = _decode_status(fixed)
        assert set(status.tolist()) <= {0, _red.SYMBOLS_EXHAUSTED}
        for v, st in list(zip(fixed, status))[::37]:
            if st == 0:
                assert _red.decode_block(v, check_crc=False).tolist() == ref_decode(v)
            else:
                with pytest.raises(RefError):
                    ref_decode(v)


def test_random_bytes():
    rng = np.random.default_rng(99)
    blocks = []
    for k in range(3000):
        size = int(rng.integers(0, 700))
        b = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        if size >= 304 and k % 3:
            # plausible header fields so that the coder itself runs on noise
            n = int(rng.integers(0, 300))
            struct.pack_into("<B", b, 4, 0)
            struct.pack_into("<3f", b, 16, 0.0, 0.0, 1.0)
            struct.pack_into("<3I", b, 28, int(rng.integers(0, 5 * n + 2)), n, size)
        blocks.append(bytes(b))
    status, _ = _decode_status(blocks)
    assert (status == 0).sum() > 50            # many noise blocks do decode to something
    for v, st in list(zip(blocks, status))[::50]:
        try:
            want = ref_decode(v)
        except RefError:
            want = None
        if st == 0 and len(v) >= 304 and not v[4] & 6:
            assert _red.decode_block(v, check_crc=False).tolist() == want


def _patched(blk, fmt, offset, *values):
    b = bytearray(blk)
    struct.pack_into(fmt, b, offset, *values)
    return bytes(b)


def test_absurd_header_fields(sessions):
    blk = list(sessions["random_walk"][1].blocks())[1]
    n = _red.block_header(blk)["number_of_samples"]
    cases = {
        "huge n": (_patched(blk, "<I", 32, 0xFFFFFFFF), _red.OUTPUT_BOUNDS),
        "huge difference_bytes": (_patched(blk, "<I", 28, 0xFFFFFFFF), _red.BAD_DIFFERENCE_BYTES),
        "huge block_bytes": (_patched(blk, "<I", 36, 0xFFFFFFFF), _red.BAD_BLOCK_BYTES),
        "tiny block_bytes": (_patched(blk, "<I", 36, 303), _red.BAD_BLOCK_BYTES),
        "zero statistics": (_patched(blk, "<256x", 48), _red.NO_STATISTICS),
        "no difference bytes": (_patched(blk, "<I", 28, 0), _red.SYMBOLS_EXHAUSTED),
        "too few difference bytes": (_patched(blk, "<I", 28, n // 2), _red.SYMBOLS_EXHAUSTED),
        "level-1 encrypted": (_patched(blk, "<B", 4, 2), _red.ENCRYPTED),
        "level-2 encrypted": (_patched(blk, "<B", 4, 5), _red.ENCRYPTED),
    }
    names = list(cases)
    status, _ = _decode_status([cases[k][0] for k in names], out_room_extra=0)
    for k, st in zip(names, status):
        assert st == cases[k][1], k
    # each raises the right exception naming the block, when status= is not given
    out = np.zeros(n + 10, np.int32)
    for k in names:
        with pytest.raises(FormatError) as ei:
            _red.decode_blocks(cases[k][0], [0], [len(blk)], [-1], out, [0],
                               check_crc=False, path="x.tdat")
        assert not isinstance(ei.value, CrcError) and "x.tdat" in str(ei.value), k
        assert "RED block 0 at byte offset 0" in str(ei.value)
        if k != "huge n":      # decode_block would allocate the claimed 4 G samples
            with pytest.raises(FormatError):
                _red.decode_block(cases[k][0], check_crc=False)
    # a single-symbol statistics table with a huge sample count decodes (to zeros)
    b = bytearray(_patched(blk, "<256x", 48))
    b[48] = 255
    b = _patched(b, "<2I", 28, 5 * 10**6, 10**6)
    out = np.full(10**6, 7, np.int32)
    _red.decode_blocks(b, [0], [len(b)], [-1], out, [0], check_crc=False)
    assert not out.any()
    # an encrypted block decodes when the caller says it decrypted the statistics
    enc = cases["level-1 encrypted"][0]
    np.testing.assert_array_equal(
        _red.decode_block(enc, check_crc=False, allow_encrypted=True), _red.decode_block(blk))


def test_status_and_errors(sessions):
    x, seg, _ = sessions["random_walk"]
    blocks = list(seg.blocks())[:4]
    idx = seg.idx[:4]
    bad_crc = bytearray(blocks[1])
    bad_crc[400] ^= 0x10
    short_symbols = _patched(blocks[2], "<I", 28, 10)
    short_symbols = _patched(short_symbols, "<I", 0, _red.crc32(short_symbols[4:]))
    buf = b"".join([blocks[0], bytes(bad_crc), short_symbols, blocks[3]])
    offs = np.concatenate([[0], np.cumsum(idx["block_bytes"])[:-1]])
    counts = idx["number_of_samples"].astype(np.int64)
    oo = idx["start_sample"].astype(np.int64)
    out = np.full(int(counts.sum()), 12345, np.int32)
    status = np.zeros(4, np.int8)
    _red.decode_blocks(buf, offs, idx["block_bytes"], counts, out, oo, status=status)
    assert status.tolist() == [0, _red.CRC_MISMATCH, _red.SYMBOLS_EXHAUSTED, 0]
    n0, n1, n2 = counts[:3]
    np.testing.assert_array_equal(out[:n0], x[:n0])
    assert (out[n0:n0 + n1] == 12345).all()                  # untouched
    bad = out[n0 + n1:n0 + n1 + n2]                          # written part reset to 0
    k = int(np.argmax(bad != 0))
    assert k >= 1 and (bad[:k] == 0).all() and (bad[k:] == 12345).all()
    np.testing.assert_array_equal(out[n0 + n1 + n2:], x[n0 + n1 + n2:counts.sum()])

    # raise mode: the first bad block is named, with its offset and the path
    out[:] = 0
    with pytest.raises(CrcError, match=r"block 1 at byte offset %d.*CRC" % offs[1]) as ei:
        _red.decode_blocks(buf, offs, idx["block_bytes"], counts, out, oo, path="seg.tdat")
    assert "seg.tdat" in str(ei.value)
    np.testing.assert_array_equal(out[:n0], x[:n0])          # blocks before it decoded
    with pytest.raises(FormatError, match="block 2 .*difference_bytes 10"):
        _red.decode_blocks(buf, offs, idx["block_bytes"], counts, out, oo, check_crc=False)
    # index/header disagreements and bounds
    with pytest.raises(FormatError, match="number_of_samples"):
        _red.decode_blocks(buf, offs[:1], [len(blocks[0])], [counts[0] + 1], out, [0])
    with pytest.raises(FormatError, match="do not fit"):
        _red.decode_blocks(buf, offs[:1], [len(blocks[0])], [-1], out, [out.size - 5])
    with pytest.raises(FormatError, match="do not fit"):
        _red.decode_blocks(buf, offs[:1], [len(blocks[0])], [-1], out, [-1])
    with pytest.raises(FormatError, match="outside"):
        _red.decode_blocks(buf, [len(buf) + 1], [400], [-1], out, [0])
    with pytest.raises(FormatError, match="exceeds"):
        _red.decode_blocks(buf, offs[:1], [len(blocks[0]) - 8], [-1], out, [0])
    # argument checking
    with pytest.raises(TypeError):
        _red.decode_blocks(buf, offs, idx["block_bytes"], counts, out.astype(np.int64), oo)
    with pytest.raises(ValueError):
        _red.decode_blocks(buf, offs, idx["block_bytes"][:3], counts, out, oo)
    ro = out.copy()
    ro.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        _red.decode_blocks(buf, offs, idx["block_bytes"], counts, ro, oo)


def test_empty_block_and_empty_call():
    # meflib's empty block: 304 header bytes, no samples
    hdr = bytearray(304)
    struct.pack_into("<I", hdr, 36, 304)
    struct.pack_into("<I", hdr, 0, _red.crc32(hdr[4:]))
    assert _red.decode_block(bytes(hdr)).size == 0
    _red.decode_blocks(b"", [], [], [], np.zeros(0, np.int32), [])


# ======================================================================================
# Pure-Python reference vs Cython on random blocks
# ======================================================================================

def test_matches_reference_decoder_on_random_blocks():
    rng = np.random.default_rng(21)
    for trial in range(40):
        n = int(rng.integers(1, 250))
        kind = trial % 4
        if kind == 0:
            x = np.cumsum(rng.integers(-140, 141, n))
        elif kind == 1:
            x = rng.integers(-2**31, 2**31, n)
        elif kind == 2:
            x = np.cumsum(rng.choice([0, 0, 0, 1, -1, 300], n))
        else:
            x = rng.integers(-3, 4, n) * int(rng.integers(1, 60))
        x = x.astype(np.int32)
        blk = _red.encode_block(x)
        assert ref_decode(blk) == x.tolist()
        # and on a random corruption of the payload (CRC off)
        b = bytearray(blk)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(304, len(b)))] = int(rng.integers(0, 256))
        try:
            want = ref_decode(b)
        except RefError:
            with pytest.raises(FormatError):
                _red.decode_block(bytes(b), check_crc=False)
        else:
            assert _red.decode_block(bytes(b), check_crc=False).tolist() == want


# ======================================================================================
# 5. Threads
# ======================================================================================

def test_encode_threads_identical():
    rng = np.random.default_rng(8)
    x = pink_noise(300_000, rng)
    counts = rng.integers(1, 5000, 200)
    counts = counts[np.cumsum(counts) <= x.size]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    times = START_UUTC + starts * 1000
    flags = (rng.random(counts.size) < 0.1).astype(np.uint8)
    ref = _red.encode_blocks(x, starts, counts, times, flags, n_threads=1)
    for k in (2, 3, 7):
        got = _red.encode_blocks(x, starts, counts, times, flags, n_threads=k)
        for a, b in zip(ref, got):
            np.testing.assert_array_equal(a, b)
    # and the blocks decode back
    data, bb = ref[0], ref[1]
    offs = np.concatenate([[0], np.cumsum(bb)[:-1]])
    out = np.zeros(int(counts.sum()), np.int32)
    _red.decode_blocks(data, offs, bb, counts, out, starts)
    np.testing.assert_array_equal(out, x[:out.size])


@pytest.fixture(scope="module")
def big_encoded():
    rng = np.random.default_rng(12)
    x = pink_noise(2_000_000, rng)
    counts = np.full(x.size // 1000, 1000)
    starts = np.arange(counts.size) * 1000
    data, bb, *_ = _red.encode_blocks(x, starts, counts, starts, np.zeros(counts.size, np.uint8),
                                      n_threads=2)
    offs = np.concatenate([[0], np.cumsum(bb)[:-1]])
    return x, data, offs, bb, counts, starts


def test_decode_concurrently(big_encoded):
    x, data, offs, bb, counts, starts = big_encoded
    outs = [np.zeros(x.size, np.int32) for _ in range(2)]
    errors = []

    def run(out):
        try:
            _red.decode_blocks(data, offs, bb, counts, out, starts)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_array_equal(outs[0], x)
    np.testing.assert_array_equal(outs[1], x)


def test_decode_releases_the_gil(big_encoded):
    """A Python thread keeps running while decode_blocks works.

    A background thread timestamps its loop iterations; some must fall in the middle
    half of a decode call. The switch interval is raised to 0.5 s, so a decoder that
    held the GIL could not be preempted within one (short) attempt: each attempt starts
    right after a sleep, i.e. with the main thread freshly holding the GIL."""
    x, data, offs, bb, counts, starts = big_encoded
    out = np.zeros(x.size, np.int32)
    # every block listed 3 times (rewriting the same output): one call lasts long enough
    # (~300 ms) for the other thread to be scheduled even on a loaded machine
    reps = 3
    offs_r, bb_r, counts_r, starts_r = (np.tile(a, reps) for a in (offs, bb, counts, starts))
    stamps = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            for _ in range(200):
                pass

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    t = threading.Thread(target=spin)
    t.start()
    try:
        inside = 0
        for _ in range(12):  # several attempts: on a loaded machine the other core may stall
            time.sleep(0.01)
            t0 = time.perf_counter()
            _red.decode_blocks(data, offs_r, bb_r, counts_r, out, starts_r)
            t1 = time.perf_counter()
            margin = (t1 - t0) / 4
            seen = list(stamps)  # (appended in time order by the one spinning thread)
            inside = bisect.bisect_left(seen, t1 - margin) - bisect.bisect_right(seen, t0 + margin)
            if inside:
                break
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old_interval)
    assert inside > 0
    np.testing.assert_array_equal(out, x)


# ======================================================================================
# 6. CRC-32
# ======================================================================================

def test_crc_table_equals_meflib():
    table = _red.crc_table()
    assert table[1] == 0x9695C4CA
    if not MEFLIB_H.exists():
        pytest.skip("meflib.h not available")
    text = MEFLIB_H.read_text(errors="replace")
    body = text[text.index("#define CRC_KOOPMAN32_KEY"):]
    body = body[body.index("{") + 1:body.index("}")]
    meflib_table = [int(v, 16) for v in re.findall(r"0x[0-9A-Fa-f]{8}", body)]
    assert meflib_table == table


def test_crc32_buffers_and_chaining():
    rng = np.random.default_rng(4)
    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    for n in list(range(0, 40)) + [4095, 4096, 4097, 5000]:
        for start in (0, 1, 3):
            chunk = data[start:start + n]
            assert _red.crc32(chunk) == ref_crc(chunk)
    whole = _red.crc32(data)
    assert _red.crc32(data[1234:], _red.crc32(data[:1234])) == whole
    arr = np.frombuffer(data, np.uint8)
    assert _red.crc32(arr) == _red.crc32(bytearray(data)) == _red.crc32(memoryview(data)) == whole
    assert _red.crc32(b"") == 0xFFFFFFFF
    with pytest.raises((ValueError, BufferError)):
        _red.crc32(arr[::2])


def test_crc32_matches_meflib_files(sessions, mef_tools_session):
    for _, seg, _ in list(sessions.values()) + [mef_tools_session]:
        for blob in (seg.tdat, seg.tidx_bytes, seg.tmet):
            header_crc, body_crc = struct.unpack_from("<2I", blob, 0)
            assert _red.crc32(blob[4:UH_BYTES]) == header_crc
            if blob is seg.tdat:
                # pymef's .tdat writer starts its running body CRC from CRC_NO_ENTRY (0)
                # instead of 0xFFFFFFFF (write_mef_ts_data_and_indices / append_...):
                # a reader must accept this for pymef-written files
                assert _red.crc32(blob[UH_BYTES:], 0) == body_crc
                assert _red.crc32(blob[UH_BYTES:]) != body_crc
            else:
                assert _red.crc32(blob[UH_BYTES:]) == body_crc
        for blk in seg.blocks():
            assert _red.crc32(blk[4:]) == struct.unpack_from("<I", blk)[0]
