"""The fast RED decoding paths against the straightforward reference decoder.

``decode_blocks`` (int32, the Reader's ``read_raw`` path) and ``decode_blocks_f64``
(fused decode + scale into float64, the Reader's ``read`` path) must produce exactly
what ``support.red_reference.ref_decode`` -- a literal, slow transcription of meflib's
algorithm (all symbols first, linear symbol search, plain division, then the samples)
-- produces, on random blocks made by the encoder and on adversarial hand-built blocks
(random statistics, random payloads, lying headers), including every status code.
"""
import struct

import numpy as np
import pytest

from neo_mef3 import _red
from neo_mef3.errors import CrcError, FormatError
from support.red_reference import RED_MAX, RED_MIN, RefError, ref_crc, ref_decode


def _signals(rng, n, kind):
    """int32 samples of one of several shapes that stress different code paths."""
    if kind == "walk":            # small differences, few escapes
        x = np.cumsum(rng.integers(-140, 141, n))
    elif kind == "white":         # every sample escaped
        x = rng.integers(-2**31, 2**31, n)
    elif kind == "minus_one":     # symbol 255 (difference -1) dominates
        x = np.cumsum(rng.choice([-1, -1, -1, 0, 1, -200], n))
    elif kind == "constant":
        x = np.full(n, int(rng.integers(-2**31, 2**31)))
    elif kind == "extremes":      # wrapping differences between the RED limits
        x = rng.choice([RED_MIN, RED_MAX, -1, 0, 1, 127, -127, 128, -128], n)
    elif kind == "skewed":        # counts >> 255: statistics scaled, rare symbols at 1
        x = np.cumsum(rng.choice([0, 1, -1, 90], n, p=[0.97, 0.013, 0.013, 0.004]))
    else:                         # iEEG-like: about half the samples escaped
        x = np.cumsum(rng.normal(0, 180, n)).astype(np.int64) % 4000 - 2000
    return x.astype(np.int32)


KINDS = ["walk", "white", "minus_one", "constant", "extremes", "skewed", "ieeg"]


def _pack(blocks):
    """Concatenate byte blocks with random gaps between them; returns buf, offsets, sizes."""
    offs, parts, pos = [], [], 0
    for b in blocks:
        pad = b"\xAA" * (len(b) % 5)
        parts.append(pad)
        pos += len(pad)
        offs.append(pos)
        parts.append(b)
        pos += len(b)
    return b"".join(parts), np.array(offs, np.int64), np.array([len(b) for b in blocks], np.int64)


def _reference(blk):
    try:
        return ref_decode(blk)
    except RefError:
        return None


def _check_both_paths(blocks, rng, check_crc=False):
    """Decode ``blocks`` with both fast paths and compare each with the reference."""
    refs = [_reference(b) for b in blocks]
    buf, offs, sizes = _pack(blocks)
    nb = len(blocks)
    counts = np.array([struct.unpack_from("<I", b, 32)[0] if len(b) >= 304 else 0
                       for b in blocks], np.int64)
    room = np.minimum(counts, 4000)
    # int32 path: each block in its own slot (blocks larger than the slot get OUTPUT_BOUNDS)
    oo = np.concatenate([[0], np.cumsum(room)[:-1]]).astype(np.int64)
    out = np.full(int(room.sum()) + 1, -7, np.int32)
    st = np.full(nb, -1, np.int8)
    _red.decode_blocks(buf, offs, sizes, np.full(nb, -1), out, oo, check_crc=check_crc, status=st)

    # float64 path: per-block factors, blocks placed partly outside the output
    factors = rng.choice([1.0, 0.1, 2.5e-3, -3.0], nb)
    shift = rng.integers(-3, 4, nb)
    oof = oo + shift
    outf = np.full(out.size, np.nan)
    stf = np.full(nb, -1, np.int8)
    _red.decode_blocks_f64(buf, offs, sizes, np.full(nb, -1), outf, oof, factors,
                           check_crc=check_crc, status=stf)

    # int32, clipped: the same placement as the float64 path
    outc = np.full(out.size, -7, np.int32)
    stc = np.full(nb, -1, np.int8)
    _red.decode_blocks(buf, offs, sizes, np.full(nb, -1), outc, oof, check_crc=check_crc,
                       status=stc, clip=True)
    assert (stc == stf).all()

    expect_f = np.full(out.size, np.nan)
    expect_c = np.full(out.size, -7, np.int64)
    for i, (ref, code, codef) in enumerate(zip(refs, st, stf)):
        if ref is None:
            assert code not in (_red.OK, _red.OUTPUT_BOUNDS), (i, code)
            assert codef != _red.OK, (i, codef)
            continue
        if len(ref) > room[i]:
            assert code == _red.OUTPUT_BOUNDS, (i, code)
        else:
            assert code == _red.OK, (i, code, _red.STATUS_NAMES.get(int(code)))
            assert out[oo[i]:oo[i] + len(ref)].tolist() == ref
        # the f64 path decodes only what falls inside the output: a block whose broken
        # tail lies outside may still succeed
        if codef != _red.OK:
            continue
        r = np.array(ref, np.int64).astype(np.float64)
        if factors[i] != 1.0:
            r = r * factors[i]
        a, z = oof[i], oof[i] + len(ref)
        lo, hi = max(a, 0), min(z, out.size)
        if hi > lo:
            expect_f[lo:hi] = r[lo - a:hi - a]
            expect_c[lo:hi] = np.array(ref, np.int64)[lo - a:hi - a]
    # later blocks overwrite earlier ones where the shifts make them overlap
    same = (outf == expect_f) | (np.isnan(outf) & np.isnan(expect_f))
    assert same.all(), np.flatnonzero(~same)[:10]
    assert (outc == expect_c).all(), np.flatnonzero(outc != expect_c)[:10]
    return st, stf


def test_encoded_blocks_match_reference():
    rng = np.random.default_rng(101)
    blocks = []
    for trial in range(70):
        n = int(rng.choice([1, 2, 3, 5, int(rng.integers(6, 400))]))
        blocks.append(_red.encode_block(_signals(rng, n, KINDS[trial % len(KINDS)]),
                                        start_time=trial))
    st, stf = _check_both_paths(blocks, rng, check_crc=True)
    assert (st == _red.OK).all() and (stf == _red.OK).all()


def test_long_block_spans_many_f64_pieces():
    # more samples than the f64 path's scratch piece, cut on both sides
    rng = np.random.default_rng(5)
    x = _signals(rng, 20_011, "ieeg")
    blk = _red.encode_block(x)
    for lo, hi in [(0, x.size), (1, x.size), (4095, 4097), (4096, 12289), (17, x.size - 3),
                   (5000, 6000), (9000, x.size), (x.size - 1, x.size), (12288, 12289)]:
        out = np.full(hi - lo, np.nan)
        _red.decode_blocks_f64(blk, [0], [len(blk)], [x.size], out, [-lo], 0.25)
        assert (out == x[lo:hi].astype(np.float64) * 0.25).all()
        out = np.zeros(hi - lo, np.int32)
        _red.decode_blocks(blk, [0], [len(blk)], [x.size], out, [-lo], clip=True)
        assert (out == x[lo:hi]).all()
    # wholly outside: nothing written, nothing decoded
    out = np.full(10, np.nan)
    _red.decode_blocks_f64(blk, [0], [len(blk)], [x.size], out, [-x.size], 1.0)
    _red.decode_blocks_f64(blk, [0], [len(blk)], [x.size], out, [10], 1.0)
    assert np.isnan(out).all()


def _random_header(rng, n, payload, stats=None, db=None):
    b = bytearray(304) + bytes(payload)
    b += b"\x7E" * (-len(b) % 8)
    if stats is None:
        stats = rng.integers(0, 256, 256) * (rng.random(256) < rng.random())
    b[48:304] = bytes(int(v) for v in stats)
    if db is None:
        db = int(rng.integers(0, 5 * n + 2))
    struct.pack_into("<III", b, 28, db, n, len(b))
    struct.pack_into("<I", b, 0, _red.crc32(memoryview(b)[4:]))
    return bytes(b)


def test_adversarial_blocks_match_reference():
    rng = np.random.default_rng(7)
    blocks = []
    for trial in range(160):
        n = int(rng.integers(0, 300))
        payload = rng.integers(0, 256, int(rng.integers(0, 3 * n + 8))).astype(np.uint8).tobytes()
        kind = trial % 8
        stats = None
        if kind == 0:
            stats = np.zeros(256, int)
            stats[int(rng.integers(0, 256))] = 1                  # total == 1
        elif kind == 1:
            stats = np.full(256, 255)                             # the largest total
        elif kind == 2:
            stats = np.zeros(256, int)
            stats[255] = int(rng.integers(1, 256))                # only symbol 255
        elif kind == 3:
            stats = np.zeros(256, int)
            stats[0x80] = 200                                     # escapes everywhere
            stats[int(rng.integers(0, 256))] += 3
        elif kind == 4:
            payload = b""                                         # no payload at all
        elif kind == 5:
            payload = b"\xff" * len(payload)
        blocks.append(_random_header(rng, n, payload, stats))
    # blocks with all-zero statistics and lying sizes
    blocks.append(_random_header(rng, 10, b"abc", np.zeros(256, int)))
    blocks.append(_random_header(rng, 0, b"", np.zeros(256, int), db=0))
    st, stf = _check_both_paths(blocks, rng)
    # the adversarial set reaches the interesting outcomes
    seen = set(st.tolist())
    assert {_red.OK, _red.SYMBOLS_EXHAUSTED, _red.NO_STATISTICS} <= seen, seen


def test_damaged_encoded_blocks_match_reference():
    rng = np.random.default_rng(11)
    blocks = []
    for trial in range(60):
        n = int(rng.integers(1, 300))
        blk = bytearray(_red.encode_block(_signals(rng, n, KINDS[trial % len(KINDS)])))
        what = trial % 4
        if what == 0:                       # random payload bytes
            for _ in range(int(rng.integers(1, 5))):
                blk[int(rng.integers(304, len(blk)))] = int(rng.integers(0, 256))
        elif what == 1:                     # a statistic changed
            blk[48 + int(rng.integers(0, 256))] = int(rng.integers(0, 256))
        elif what == 2:                     # fewer coded symbols than claimed
            db = struct.unpack_from("<I", blk, 28)[0]
            struct.pack_into("<I", blk, 28, int(rng.integers(0, db + 1)))
        else:                               # more samples than coded
            struct.pack_into("<I", blk, 32, n + int(rng.integers(1, 50)))
            struct.pack_into("<I", blk, 28, 5 * n + 1)
        blocks.append(bytes(blk))
    _check_both_paths(blocks, rng)


def test_f64_status_codes_and_errors_like_int32():
    rng = np.random.default_rng(3)
    good = _red.encode_block(_signals(rng, 100, "walk"))
    bad_crc = bytearray(good)
    bad_crc[400] ^= 1
    enc = bytearray(good)
    enc[4] |= 0x02
    struct.pack_into("<I", enc, 0, _red.crc32(memoryview(enc)[4:]))
    short_db = bytearray(good)
    struct.pack_into("<I", short_db, 28, 3)
    struct.pack_into("<I", short_db, 0, _red.crc32(memoryview(short_db)[4:]))
    cases = [(good[:200], _red.TRUNCATED), (bytes(bad_crc), _red.CRC_MISMATCH),
             (bytes(enc), _red.ENCRYPTED), (bytes(short_db), _red.SYMBOLS_EXHAUSTED)]
    for blk, code in cases:
        for f64 in (False, True):
            out = np.zeros(200, np.float64 if f64 else np.int32)
            st = np.zeros(1, np.int8)
            fn = _red.decode_blocks_f64 if f64 else _red.decode_blocks
            fn(blk, [0], [len(blk)], [-1], out, [0], status=st)
            assert st[0] == code, (code, f64)
            err = CrcError if code == _red.CRC_MISMATCH else FormatError
            with pytest.raises(err):
                fn(blk, [0], [len(blk)], [-1], out, [0], path="x.tdat")
    # the count check, and a block too big for the int32 output, which f64 just clips
    out = np.full(50, np.nan)
    with pytest.raises(FormatError, match="index says 99"):
        _red.decode_blocks_f64(good, [0], [len(good)], [99], out, [0])
    _red.decode_blocks_f64(good, [0], [len(good)], [100], out, [0])
    assert (out == np.array(ref_decode(good)[:50], float)).all()
    # an exhausted block leaves NaN where it had written, nothing elsewhere
    out = np.full(120, 5.0)
    st = np.zeros(1, np.int8)
    _red.decode_blocks_f64(bytes(short_db), [0], [len(short_db)], [-1], out, [10], status=st)
    assert st[0] == _red.SYMBOLS_EXHAUSTED
    assert (out[:10] == 5.0).all() and (out[110:] == 5.0).all()
    assert not (np.isfinite(out[10:110]) & (out[10:110] != 5.0)).any()


def test_f64_argument_checks():
    blk = _red.encode_block(np.arange(10, dtype=np.int32))
    with pytest.raises(TypeError):
        _red.decode_blocks_f64(blk, [0], [len(blk)], [10], np.zeros(10, np.float32), [0])
    with pytest.raises(ValueError):
        _red.decode_blocks_f64(blk, [0], [len(blk)], [10], np.zeros(10), [0], [1.0, 2.0])
    with pytest.raises(TypeError):
        _red.decode_blocks_f64(blk, [0], [len(blk)], [10], np.zeros(10), [0], None)
    out = np.zeros(10)
    _red.decode_blocks_f64(blk, [0], [len(blk)], [10], out, [0], np.array([3.0]))
    assert (out == np.arange(10) * 3.0).all()
    _red.decode_blocks_f64(b"", [], [], [], np.zeros(0), [], [])


def test_lossy_blocks_f64():
    rng = np.random.default_rng(9)
    x = np.cumsum(rng.integers(-100, 101, 9000)).astype(np.int32)
    base = bytearray(_red.encode_block(x))
    struct.pack_into("<3f", base, 16, -1.25, 1e5, 17.25)
    struct.pack_into("<I", base, 0, _red.crc32(memoryview(base)[4:]))
    want = _red.decode_block(bytes(base))
    # pieces of the f64 path keep the trend's sample counter running across pieces
    out = np.full(x.size - 100, np.nan)
    _red.decode_blocks_f64(bytes(base), [0], [len(base)], [x.size], out, [-50], 0.5)
    assert (out == want[50:-50].astype(np.float64) * 0.5).all()


def test_paired_decoding_order_and_sizes():
    # blocks are decoded two at a time; overlapping outputs must still end with the later
    # block's samples, and blocks too big for the pair scratch go alone (float64)
    rng = np.random.default_rng(17)
    sizes = [300, 70_000, 5, 1, 4000, 66_000, 2, 7000, 7000, 65_536, 3]
    xs = [_signals(rng, n, KINDS[k % len(KINDS)]) for k, n in enumerate(sizes)]
    blocks = [_red.encode_block(x) for x in xs]
    buf, offs, bsz = _pack(blocks)
    nb = len(blocks)
    # outputs overlapping their neighbours by up to half a block
    oo = np.cumsum([0] + [max(1, n - int(rng.integers(0, n // 2 + 1))) for n in sizes[:-1]]).astype(np.int64)
    total = int(max(o + n for o, n in zip(oo, sizes)))
    want = np.zeros(total, np.int64)
    for o, x in zip(oo, xs):
        want[o:o + x.size] = x
    out = np.zeros(total, np.int32)
    _red.decode_blocks(buf, offs, bsz, sizes, out, oo)
    assert (out == want).all()
    for cut in (0, 1234):
        outf = np.full(total - 2 * cut, np.nan)
        _red.decode_blocks_f64(buf, offs, bsz, sizes, outf, oo - cut, 0.5)
        assert (outf == want[cut:total - cut] * 0.5).all()
        outc = np.zeros(total - 2 * cut, np.int32)
        _red.decode_blocks(buf, offs, bsz, sizes, outc, oo - cut, clip=True)
        assert (outc == want[cut:total - cut]).all()
    # the same with a failing block in the middle of each pair position
    for bad in range(4):
        broken = list(blocks)
        b = bytearray(broken[bad])
        struct.pack_into("<I", b, 28, 2)                  # far too few symbols
        broken[bad] = bytes(b)
        buf2, offs2, bsz2 = _pack(broken)
        st = np.full(nb, -1, np.int8)
        out = np.zeros(total, np.int32)
        _red.decode_blocks(buf2, offs2, bsz2, sizes, out, oo, check_crc=False, status=st)
        assert st[bad] == _red.SYMBOLS_EXHAUSTED and (np.delete(st, bad) == 0).all()
        with pytest.raises(FormatError, match=f"RED block {bad} "):
            _red.decode_blocks(buf2, offs2, bsz2, sizes, out, oo, check_crc=False)


def test_crc_engines_agree():
    # the carry-less-multiplication CRC (x86 PCLMULQDQ) equals the slicing-by-8 tables
    # and the bit-at-a-time reference, for every length, alignment and start value
    rng = np.random.default_rng(23)
    data = rng.integers(0, 256, 70_000, dtype=np.uint8).tobytes()
    before = _red._crc_engine()
    try:
        for n in list(range(0, 200)) + [255, 256, 257, 1023, 4096, 15360, 65_599]:
            off = int(rng.integers(0, 64))
            view = memoryview(data)[off:off + n]
            for start in (0xFFFFFFFF, 0, int(rng.integers(0, 2**32))):
                _red._crc_engine(False)
                table = _red.crc32(view, start)
                _red._crc_engine(True)
                assert _red.crc32(view, start) == table, (n, off, start)
                if n <= 300 and start == 0xFFFFFFFF:
                    assert table == ref_crc(view)
    finally:
        _red._crc_engine(before == "clmul")


def test_clipped_int32_exhausted_block_resets_to_zero():
    # a block too large for the pair scratch goes piece by piece; when its symbols run
    # out, what it had written is reset to 0 and the rest of the output is untouched
    rng = np.random.default_rng(29)
    x = _signals(rng, 70_000, "walk")
    b = bytearray(_red.encode_block(x))
    db = struct.unpack_from("<I", b, 28)[0]
    struct.pack_into("<I", b, 28, db // 2)
    out = np.full(80_000, 9, np.int32)
    st = np.zeros(1, np.int8)
    _red.decode_blocks(bytes(b), [0], [len(b)], [-1], out, [-100], check_crc=False,
                       status=st, clip=True)
    assert st[0] == _red.SYMBOLS_EXHAUSTED
    assert (out[:x.size - 100] == 0).sum() > 0 and (out[x.size - 100:] == 9).all()
    assert set(np.unique(out).tolist()) <= {0, 9}
