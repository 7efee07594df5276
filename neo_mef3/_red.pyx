# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""RED codec (MEF 3.0 "Range Encoded Differences") and the MEF CRC-32.

This module is the compressed-data layer of neo_mef3: it turns RED blocks into
``int32`` samples and back, bit-compatible with the reference C library (meflib).

Block layout (little-endian, 304-byte header, then the range-coded payload, then
``0x7E`` pad bytes up to a multiple of 8)::

    @0   ui4  block CRC (CRC-32 of bytes [4, block_bytes))
    @4   ui1  flags: bit0 discontinuity, bit1 level-1 encrypted, bit2 level-2 encrypted
    @5   11 protected / discretionary bytes (zero)
    @16  sf4  detrend slope      @20 sf4 detrend intercept     @24 sf4 scale factor
    @28  ui4  difference_bytes   @32 ui4 number_of_samples     @36 ui4 block_bytes
    @40  si8  start time (stored form, copied through untouched)
    @48  ui1  statistics[256]    (scaled symbol counts of the difference stream)
    @304 payload

Difference stream: every sample is either a signed byte difference from the previous
sample (|d| <= 127) or the escape byte 0x80 followed by the full 4-byte value (a
"keysample"). The first sample is always a keysample and its escape byte is implied
(never coded); ``difference_bytes`` counts it nevertheless.

Public API
----------
``crc32(data, crc=0xFFFFFFFF) -> int``
``decode_blocks(buf, offsets, sizes, counts, out, out_offsets, check_crc=True, path=None,
status=None, allow_encrypted=False) -> None``
``decode_blocks_f64(buf, offsets, sizes, counts, out, out_offsets, factors=1.0, check_crc=True,
path=None, status=None, allow_encrypted=False) -> None`` (straight into float64, scaled,
edge blocks clipped; see its docstring)
``decode_block(block, check_crc=True, path=None, allow_encrypted=False) -> ndarray[int32]``
``block_header(block) -> dict``
``encode_blocks(samples, starts, counts, times, flags, n_threads=1)
-> (data, block_bytes, maxima, minima, difference_bytes)``
``encode_block(samples, start_time=0, discontinuity=False) -> bytes``

Per-block status codes (``decode_blocks(..., status=array)``): the members of
:class:`BlockStatus`, which lists their meanings; ``STATUS_NAMES`` maps each code to
its name, and each name is also a module constant (``_red.CRC_MISMATCH == 3``).

Codes 1-8 are found before anything is written: the block's part of ``out`` is left
untouched. Code 9 is found while decoding: the samples the block had already written
are reset to 0 and the rest of its part of ``out`` is untouched (so a zero-initialised
``out`` holds zeros for the whole block; the work stays bounded by what was decoded,
whatever number_of_samples claims). The checks run in the order of the codes,
except that OUTPUT_BOUNDS is checked after 7 and 8. Without ``status`` the first bad block raises
:class:`~neo_mef3.errors.CrcError` (code 3) or :class:`~neo_mef3.errors.FormatError`
(every other code); the blocks before it are decoded.

Platforms: the compiler- and CPU-specific primitives live in ``_red_platform.h``, each
with a plain C path (``_platform()`` says which were built); the module refuses to
import on a big-endian host.
"""

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from libc.stdint cimport int8_t, uint8_t, int32_t, uint32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset, memmove
from libc.math cimport ceil, NAN

import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import CrcError, FormatError

# ---------------------------------------------------------------------------------
# Platform primitives and constants
# ---------------------------------------------------------------------------------

cdef extern from "_red_platform.h":
    uint32_t _crc_clmul "neo_red_crc_clmul"(const uint8_t* buf, size_t n, uint32_t crc) noexcept nogil
    int _clmul_available "neo_red_clmul_available"() noexcept nogil
    uint32_t _div_by_magic "neo_red_div_by_magic"(uint32_t n, uint64_t m) noexcept nogil
    uint32_t _div_by_magic_portable "neo_red_div_by_magic_portable"(uint32_t n, uint64_t m) noexcept nogil
    uint64_t _magic "neo_red_magic"(uint32_t d) noexcept nogil
    int _little_endian "neo_red_little_endian"() noexcept nogil
    const char* _MULHI_NAME "NEO_RED_MULHI_NAME"
    const char* _CLMUL_NAME "NEO_RED_CLMUL_NAME"
    const int _PORTABLE_BUILD "NEO_RED_PORTABLE_BUILD"

cdef extern from *:
    """
    #define NEO_RED_TOP 0x80000000u
    #define NEO_RED_TOP_MINUS_1 0x7FFFFFFFu
    #define NEO_RED_BOTTOM 0x800000u
    #define NEO_RED_CARRY_CHECK 0x7F800000u
    """
    # range coder (32-bit, Schindler style)
    const uint32_t _TOP "NEO_RED_TOP"
    const uint32_t _TOP_MINUS_1 "NEO_RED_TOP_MINUS_1"
    const uint32_t _BOTTOM "NEO_RED_BOTTOM"
    const uint32_t _CARRY_CHECK "NEO_RED_CARRY_CHECK"


def _require_little_endian(bint little):
    """Raise ImportError unless ``little``: the codec reads and writes the header's float
    and int64 fields in place, which gives MEF's little-endian bytes only on a
    little-endian host."""
    if not little:
        raise ImportError(
            "neo_mef3's RED codec supports little-endian hosts only (x86, ARM, ...): MEF 3.0 "
            "files are little-endian and the codec reads their fields in place; this host is "
            "big-endian")


_require_little_endian(_little_endian() != 0)


cdef enum:
    # the RED block header: offsets of the fields the codec reads and writes (the same
    # as format/layout.py's RED_BLOCK_HEADER, which tests/test_red_constants.py checks)
    _HEADER = 304
    _OFF_CRC = 0
    _OFF_FLAGS = 4
    _OFF_SLOPE = 16
    _OFF_INTERCEPT = 20
    _OFF_SCALE = 24
    _OFF_DIFF_BYTES = 28
    _OFF_SAMPLES = 32
    _OFF_BLOCK_BYTES = 36
    _OFF_START = 40
    _STATS = 48
    _N_STATS = 256
    # flag bits (byte _OFF_FLAGS)
    _FLAG_DISCONTINUITY = 0x01
    _FLAG_LEVEL_1 = 0x02
    _FLAG_LEVEL_2 = 0x04
    _PAD = 0x7E
    # range coder shifts
    _SHIFT_BITS = 23
    _EXTRA_BITS = 7
    # below this many bytes, releasing the GIL for a CRC costs more than it saves
    _GIL_FREE_CRC_BYTES = 65536
    # samples per piece of the int32 scratch the float64 decoder goes through
    _F64_PIECE = 4096
    # float64: blocks of up to this many samples are decoded in pairs (two scratches)
    _PAIR_MAX = 65536


cpdef enum BlockStatus:
    # The per-block status codes, defined here only: STATUS_NAMES and the module
    # constants OK, TRUNCATED, ... are made from this enum.
    OK = 0                    # decoded
    TRUNCATED = 1             # fewer than 304 bytes available at the block's offset
                              # (offset outside ``buf``, or ``sizes[i]`` < 304)
    BAD_BLOCK_BYTES = 2       # header block_bytes < 304, or larger than ``sizes[i]`` or
                              # than what is left of ``buf``
    CRC_MISMATCH = 3          # stored block CRC differs from the computed one
    ENCRYPTED = 4             # flags mark the statistics encrypted and the caller did
                              # not pass ``allow_encrypted=True``
    SAMPLE_COUNT = 5          # number_of_samples differs from ``counts[i]``
    OUTPUT_BOUNDS = 6         # the block's samples do not fit ``out`` at ``out_offsets[i]``
    BAD_DIFFERENCE_BYTES = 7  # difference_bytes > 5 * number_of_samples + 1
    NO_STATISTICS = 8         # all 256 statistics are zero but the block holds samples
    SYMBOLS_EXHAUSTED = 9     # more coded symbols needed than difference_bytes allows
                              # (including a keysample cut short)


STATUS_NAMES = {int(s): s.name for s in BlockStatus}
globals().update({s.name: int(s) for s in BlockStatus})    # OK = 0, TRUNCATED = 1, ...

HEADER_BYTES = _HEADER
STATISTICS_OFFSET = _STATS
PAD_BYTE = _PAD
CRC_START = 0xFFFFFFFF
KOOPMAN32_REFLECTED = 0xEB31D82E     # the Koopman polynomial 0x741B8CD7, bit-reversed

FLAG_DISCONTINUITY = _FLAG_DISCONTINUITY
FLAG_LEVEL_1_ENCRYPTED = _FLAG_LEVEL_1
FLAG_LEVEL_2_ENCRYPTED = _FLAG_LEVEL_2

# the header fields the codec reads or writes: name (as in format/layout.py) ->
# (offset, the numpy type of what is stored there)
HEADER_FIELDS = {
    "block_crc": (_OFF_CRC, "<u4"),
    "flags": (_OFF_FLAGS, "u1"),
    "detrend_slope": (_OFF_SLOPE, "<f4"),
    "detrend_intercept": (_OFF_INTERCEPT, "<f4"),
    "scale_factor": (_OFF_SCALE, "<f4"),
    "difference_bytes": (_OFF_DIFF_BYTES, "<u4"),
    "number_of_samples": (_OFF_SAMPLES, "<u4"),
    "block_bytes": (_OFF_BLOCK_BYTES, "<u4"),
    "start_time": (_OFF_START, "<i8"),
    "statistics": (_STATS, f"({_N_STATS},)u1"),
}

RED_NAN = -0x80000000
RED_NEGATIVE_INFINITY = -0x7FFFFFFF
RED_POSITIVE_INFINITY = 0x7FFFFFFF
RED_MINIMUM_SAMPLE_VALUE = -0x7FFFFFFE
RED_MAXIMUM_SAMPLE_VALUE = 0x7FFFFFFE


def _platform():
    """Which implementation of each platform primitive this build uses: ``mulhi`` (the
    exact division: "int128", "umulh" or "portable"), ``clmul`` (the CRC's CPU path
    compiled in: "pclmulqdq" or "none"), ``cpu_clmul`` (the CPU can run that path; False
    where none is compiled in), ``crc`` (the CRC engine in use: "clmul" or "table") and
    ``portable_build`` (built with NEO_RED_PORTABLE)."""
    return {
        "mulhi": _MULHI_NAME.decode(),
        "clmul": _CLMUL_NAME.decode(),
        "cpu_clmul": _clmul_available() != 0,
        "crc": _crc_engine(),
        "portable_build": _PORTABLE_BUILD != 0,
    }


def _divide(n, d, bint portable=False):
    """floor(n / d) elementwise (uint32 arrays of one shape) the codec's way: by the
    multiplier ``neo_red_magic(d)`` and the fast (or, ``portable``, the plain C) high
    product; d == 1 divides by nothing, as the codec does. For tests."""
    cdef const uint32_t[::1] nv = np.ascontiguousarray(n, dtype=np.uint32).reshape(-1)
    cdef const uint32_t[::1] dv = np.ascontiguousarray(d, dtype=np.uint32).reshape(-1)
    if nv.shape[0] != dv.shape[0]:
        raise ValueError("n and d must have the same number of elements")
    if nv.shape[0] and np.min(d) == 0:
        raise ZeroDivisionError("d must be at least 1")
    q = np.empty(nv.shape[0], np.uint32)
    cdef uint32_t[::1] qv = q
    cdef Py_ssize_t i
    cdef uint64_t m
    with nogil:
        for i in range(nv.shape[0]):
            m = _magic(dv[i])
            if not m:
                qv[i] = nv[i]
            elif portable:
                qv[i] = _div_by_magic_portable(nv[i], m)
            else:
                qv[i] = _div_by_magic(nv[i], m)
    return q


def encode_capacity(int64_t n):
    """Bytes reserved for encoding one block of ``n`` samples (a generous worst case)."""
    return _HEADER + 2 * (5 * n + 1) + 64


cdef inline int64_t _capacity(int64_t n) noexcept nogil:
    return _HEADER + 2 * (5 * n + 1) + 64


# ---------------------------------------------------------------------------------
# CRC-32 (reflected Koopman polynomial, start 0xFFFFFFFF, no final XOR)
# ---------------------------------------------------------------------------------

# _crc_tab[0] is the classic byte-at-a-time table; _crc_tab[k][b] is the CRC
# contribution of byte b followed by k zero bytes (for slicing-by-8).
cdef uint32_t _crc_tab[8][256]


cdef void _crc_init() noexcept:
    cdef uint32_t c
    cdef int b, k, j
    for b in range(256):
        c = <uint32_t>b
        for j in range(8):
            if c & 1:
                c = (c >> 1) ^ <uint32_t>KOOPMAN32_REFLECTED
            else:
                c >>= 1
        _crc_tab[0][b] = c
    for k in range(1, 8):
        for b in range(256):
            c = _crc_tab[k - 1][b]
            _crc_tab[k][b] = (c >> 8) ^ _crc_tab[0][c & 0xFF]


_crc_init()

# the CPU has PCLMULQDQ and SSE4.1 and the build has the code for them (x86 with GCC,
# Clang or MSVC, not NEO_RED_PORTABLE); else slicing-by-8 tables only
cdef bint _use_clmul = _clmul_available() != 0


def _crc_engine(clmul=None):
    """The CRC implementation in use ("clmul" or "table"); ``clmul=False``/``True``
    switches (True only where the build has the code and the CPU can run it). For tests
    and measurements."""
    global _use_clmul
    if clmul is not None:
        _use_clmul = bool(clmul) and _clmul_available() != 0
    return "clmul" if _use_clmul else "table"


cdef inline uint32_t _rd32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0]) | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline void _wr32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>v
    p[1] = <uint8_t>(v >> 8)
    p[2] = <uint8_t>(v >> 16)
    p[3] = <uint8_t>(v >> 24)


cdef uint32_t _crc_update(const uint8_t* p, int64_t n, uint32_t crc) noexcept nogil:
    cdef uint32_t lo, hi
    cdef int64_t chunk
    if _use_clmul and n >= 64:
        # carry-less multiplication (x86 PCLMULQDQ): ~5x the table's speed
        chunk = n & ~(<int64_t>15)
        crc = _crc_clmul(p, <size_t>chunk, crc)
        p += chunk
        n -= chunk
    while n >= 8:
        lo = crc ^ _rd32(p)
        hi = _rd32(p + 4)
        crc = (_crc_tab[7][lo & 0xFF] ^ _crc_tab[6][(lo >> 8) & 0xFF]
               ^ _crc_tab[5][(lo >> 16) & 0xFF] ^ _crc_tab[4][lo >> 24]
               ^ _crc_tab[3][hi & 0xFF] ^ _crc_tab[2][(hi >> 8) & 0xFF]
               ^ _crc_tab[1][(hi >> 16) & 0xFF] ^ _crc_tab[0][hi >> 24])
        p += 8
        n -= 8
    while n > 0:
        crc = (crc >> 8) ^ _crc_tab[0][(crc ^ p[0]) & 0xFF]
        p += 1
        n -= 1
    return crc


def crc_table():
    """The 256-entry byte table in use (a list of ints), for comparison with meflib's."""
    return [_crc_tab[0][b] for b in range(256)]


def crc32(data, crc=0xFFFFFFFF):
    """MEF CRC-32 of any C-contiguous buffer, continuing from ``crc``.

    Koopman polynomial (reflected form 0xEB31D82E), start value 0xFFFFFFFF and no
    final XOR, as meflib's ``CRC_update``; chain calls by passing the previous result.
    The GIL is released for buffers of 64 KiB or more (x86 with PCLMULQDQ: about
    10 GB/s, carry-less multiplication; elsewhere slicing-by-8 tables, about 2 GB/s).
    """
    cdef Py_buffer view
    cdef uint32_t c = <uint32_t>(int(crc) & 0xFFFFFFFF)
    cdef const uint8_t* p
    cdef int64_t n
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const uint8_t*>view.buf
        n = view.len
        if n >= _GIL_FREE_CRC_BYTES:
            with nogil:
                c = _crc_update(p, n, c)
        else:
            c = _crc_update(p, n, c)
    finally:
        PyBuffer_Release(&view)
    return c


# ---------------------------------------------------------------------------------
# Rounding used by the lossy paths (meflib's RED_round)
# ---------------------------------------------------------------------------------

cdef inline int32_t _red_round(double v) noexcept nogil:
    # Round half away from zero, saturating at the RED infinities. NaN becomes RED_NAN
    # (what meflib's plain (si4) cast of NaN yields on x86).
    if v >= 0.0:
        v += 0.5
        if v >= 2147483647.0:
            return 0x7FFFFFFF
        return <int32_t>v
    elif v < 0.0:
        v -= 0.5
        if v <= -2147483647.0:
            return -0x7FFFFFFF
        return <int32_t>v
    return <int32_t>(-0x7FFFFFFF - 1)


def red_round(double v):
    """meflib's RED_round (exposed for tests)."""
    return _red_round(v)


# ---------------------------------------------------------------------------------
# Decoder
# ---------------------------------------------------------------------------------

ctypedef struct _Decoder:
    # per-block statistics (heap scratch, shared by the blocks of one call)
    uint32_t cum[257]        # cumulative statistics
    uint32_t cnt[256]        # statistics


ctypedef struct _RC:
    # range decoder state of one block, advanced by _sym
    const uint8_t* p         # payload (the bytes after the 304-byte header)
    int64_t plen             # payload bytes (block_bytes - 304)
    int64_t pos              # payload index of the next unread byte (bytes past plen
                             # are fed as 0)
    uint32_t low
    uint32_t rng
    uint32_t in_byte         # the last byte read, 7 bits of it not yet in low
    uint32_t tot             # sum of the statistics
    uint64_t magic           # floor(2**64 / tot) + 1, or 0 when tot == 1
    uint64_t budget          # symbols still allowed (difference_bytes at the start)
    const uint32_t* table    # cumulative count -> cum[s] << 16 | cnt[s] << 8 | s
    uint32_t val             # the last sample (differences accumulate on it)
    int started              # the first sample (implied keysample) has been decoded
    int64_t done             # samples decoded so far


cdef inline int _sym(_RC* c) noexcept nogil:
    """Decode one symbol, exactly as meflib's RED_decode; -1 when the budget is spent.

    Measured against a branch-free renormalisation (shift count from two compares,
    bytes from one big-endian load) and a branch-free symbol-255 update: on this
    decoder's latency-bound chain (rng -> r -> low / r -> table -> low) the predicted
    branches are faster, so they stay.
    """
    cdef uint32_t rng = c.rng, low = c.low, r, t, s, e
    if c.budget == 0:
        return -1
    c.budget -= 1
    while rng <= _BOTTOM:
        low = (low << 8) | ((c.in_byte << _EXTRA_BITS) & 0xFF)
        if c.pos < c.plen:
            c.in_byte = c.p[c.pos]
            c.pos += 1
        else:
            c.in_byte = 0
        low |= c.in_byte >> (8 - _EXTRA_BITS)
        rng <<= 8
    # r = rng / tot; r >= 128 since rng > 2**23 here and tot <= 65280
    r = _div_by_magic(rng, c.magic) if c.magic else rng
    t = low / r
    if t >= c.tot:
        t = c.tot - 1
    # the symbol whose cumulative interval holds t, with its interval in the same word
    # (one load on the critical path instead of three)
    e = c.table[t]
    s = e & 0xFF
    low -= r * (e >> 16)
    # symbol 255 takes the rest of the range; cnt[s] >= 1 keeps rng >= r >= 128, so the
    # renormalisation above runs at most 3 times
    if s < 255:
        rng = r * ((e >> 8) & 0xFF)
    else:
        rng -= r * (e >> 16)
    c.low = low
    c.rng = rng
    return <int>s


cdef int64_t _samples(_RC* cp, int32_t* out, int64_t m) noexcept nogil:
    """Decode the next ``m`` samples of the block into ``out``; returns how many were
    decoded (< m only when the symbols run out)."""
    cdef _RC c = cp[0]                 # a local copy the compiler keeps in registers
    cdef int64_t i = 0
    cdef int s, b0, b1, b2, b3
    cdef uint32_t val = c.val
    if m <= 0:
        return 0
    if not c.started:
        # the first sample is a keysample whose escape byte is implied
        b0 = _sym(&c)
        b1 = _sym(&c)
        b2 = _sym(&c)
        b3 = _sym(&c)
        if (b0 | b1 | b2 | b3) < 0:
            cp[0] = c
            return 0
        val = (<uint32_t>b0 | (<uint32_t>b1 << 8) | (<uint32_t>b2 << 16)
               | (<uint32_t>b3 << 24))
        c.started = 1
        out[0] = <int32_t>val
        i = 1
    while i < m:
        s = _sym(&c)
        if s == 0x80:
            # keysample: the full value follows, low byte first
            b0 = _sym(&c)
            b1 = _sym(&c)
            b2 = _sym(&c)
            b3 = _sym(&c)
            if (b0 | b1 | b2 | b3) < 0:
                break
            val = (<uint32_t>b0 | (<uint32_t>b1 << 8) | (<uint32_t>b2 << 16)
                   | (<uint32_t>b3 << 24))
        elif s < 0:
            break
        else:
            val = val + <uint32_t><int32_t><int8_t><uint8_t>s   # wraps like meflib
        out[i] = <int32_t>val
        i += 1
    c.val = val
    c.done += i
    cp[0] = c
    return i


cdef inline int _next(_RC* c, uint32_t* val) noexcept nogil:
    """Decode one more sample (not the first) onto ``val``; 0, or -1 when the symbols run out."""
    cdef int s, b0, b1, b2, b3
    s = _sym(c)
    if s == 0x80:
        b0 = _sym(c)
        b1 = _sym(c)
        b2 = _sym(c)
        b3 = _sym(c)
        if (b0 | b1 | b2 | b3) < 0:
            return -1
        val[0] = (<uint32_t>b0 | (<uint32_t>b1 << 8) | (<uint32_t>b2 << 16)
                  | (<uint32_t>b3 << 24))
    elif s < 0:
        return -1
    else:
        val[0] = val[0] + <uint32_t><int32_t><int8_t><uint8_t>s
    return 0


cdef void _samples2(_RC* ap, int32_t* oa, int64_t* na, _RC* bp, int32_t* ob,
                    int64_t* nb) noexcept nogil:
    """Decode two started blocks side by side (two independent dependency chains keep
    the core busy while each waits on its own divide and table load): na[0] / nb[0]
    samples are wanted; on return they hold how many each block decoded. Stops at the
    shorter block's end or at the first block whose symbols run out."""
    cdef _RC a = ap[0]
    cdef _RC b = bp[0]
    cdef uint32_t va = a.val, vb = b.val
    cdef int64_t i = 0, m = na[0] if na[0] < nb[0] else nb[0]
    cdef int64_t ia = -1, ib = -1
    while i < m:
        if _next(&a, &va) < 0:
            ia = i
            ib = i
            break
        oa[i] = <int32_t>va
        if _next(&b, &vb) < 0:
            ia = i + 1
            ib = i
            break
        ob[i] = <int32_t>vb
        i += 1
    if ia < 0:
        ia = i
        ib = i
    a.val = va
    b.val = vb
    a.done += ia
    b.done += ib
    ap[0] = a
    bp[0] = b
    na[0] = ia
    nb[0] = ib


cdef int _prepare(const uint8_t* blk, int64_t avail, int64_t expected, bint check_crc,
                  bint allow_encrypted, _Decoder* d, uint32_t* table, _RC* c,
                  uint32_t* n_out) noexcept nogil:
    """Validate the block header (status codes 1-5, 7, 8) and set up its decoder."""
    cdef uint32_t block_bytes, n
    cdef uint64_t db, total
    cdef uint8_t flags
    cdef int64_t i, j
    cdef uint32_t e
    if avail < _HEADER:
        return TRUNCATED
    block_bytes = _rd32(blk + _OFF_BLOCK_BYTES)
    if block_bytes < _HEADER or block_bytes > avail:
        return BAD_BLOCK_BYTES
    if check_crc and _crc_update(blk + 4, block_bytes - 4, 0xFFFFFFFF) != _rd32(blk + _OFF_CRC):
        return CRC_MISMATCH
    flags = blk[_OFF_FLAGS]
    if (flags & (_FLAG_LEVEL_1 | _FLAG_LEVEL_2)) and not allow_encrypted:
        return ENCRYPTED
    n = _rd32(blk + _OFF_SAMPLES)
    n_out[0] = n
    if expected >= 0 and <int64_t>n != expected:
        return SAMPLE_COUNT
    db = _rd32(blk + _OFF_DIFF_BYTES)
    if <uint64_t>db > 5 * <uint64_t>n + 1:
        return BAD_DIFFERENCE_BYTES
    if n == 0:
        return OK
    total = 0
    for i in range(256):
        d.cnt[i] = blk[_STATS + i]
        d.cum[i] = <uint32_t>total
        total += d.cnt[i]
    d.cum[256] = <uint32_t>total
    if total == 0:
        return NO_STATISTICS
    # cc -> symbol table: each symbol owns its cumulative-count interval
    for i in range(256):
        e = (d.cum[i] << 16) | (d.cnt[i] << 8) | <uint32_t>i
        for j in range(d.cum[i], d.cum[i] + d.cnt[i]):
            table[j] = e
    c.p = blk + _HEADER
    c.plen = <int64_t>block_bytes - _HEADER
    # meflib primes the coder with the first payload byte (7 of its bits)
    c.pos = 1
    c.in_byte = blk[_HEADER] if c.plen > 0 else 0
    c.low = c.in_byte >> (8 - _EXTRA_BITS)
    c.rng = 1 << _EXTRA_BITS
    c.tot = <uint32_t>total
    # floor(2**64 / total) + 1 for the exact division by total; 0 means total == 1
    c.magic = _magic(<uint32_t>total)
    # at most difference_bytes symbols are decoded (as meflib)
    c.budget = db
    c.table = table
    c.val = 0
    c.started = 0
    c.done = 0
    return OK


cdef inline void _lossy(const uint8_t* blk, int32_t* out, int64_t first, int64_t m) noexcept nogil:
    """Unscale, then add the trend back, for samples first .. first+m-1 of a lossy block
    (meflib's order and arithmetic; no-op for lossless blocks)."""
    cdef float slope, intercept, scale
    cdef double sf, mm, b
    cdef int64_t i
    memcpy(&scale, blk + _OFF_SCALE, 4)
    memcpy(&slope, blk + _OFF_SLOPE, 4)
    memcpy(&intercept, blk + _OFF_INTERCEPT, 4)
    if scale > <float>1.0:
        sf = <double>scale
        for i in range(m):
            out[i] = _red_round(<double>out[i] * sf)
    if slope != <float>0.0 or intercept != <float>0.0:
        mm = <double>slope
        b = <double>intercept
        for i in range(m):
            # meflib accumulates c += 1.0 per sample: exactly first + i + 1
            out[i] = _red_round(<double>out[i] + mm * <double>(first + i + 1) + b)


ctypedef struct _Job:
    # one block on its way through _decode_loop
    _RC c                    # its decoder (set up by _prepare)
    const uint8_t* blk
    Py_ssize_t index         # block number in the call
    int32_t* tgt             # where its int32 samples go (out + oo, or a scratch)
    int64_t n                # samples to decode (float64: up to the last one inside out)
    int64_t a                # clipped modes: first sample inside out
    int64_t oo               # out index of the block's sample 0
    double factor            # float64 mode
    int32_t* out32           # int32 clipped mode: the output array


cdef int _setup(_Job* j, const uint8_t* blk, int64_t avail, int64_t expected,
                int32_t* out, int64_t out_len, int64_t oo, int mode, bint check_crc,
                bint allow_encrypted, _Decoder* d, uint32_t* table) noexcept nogil:
    """Check block ``j.index`` and set up its decoder; ``j.n`` = samples to decode (0 if
    none). Mode 0 (int32): the whole block must fit ``out`` at ``oo``; modes 1 (float64)
    and 2 (int32 clipped): the part inside ``[0, out_len)`` is kept."""
    cdef uint32_t n = 0
    cdef int code = _prepare(blk, avail, expected, check_crc, allow_encrypted, d, table,
                             &j.c, &n)
    j.blk = blk
    j.n = 0
    j.oo = oo
    j.out32 = out
    if code != OK or n == 0:
        return code
    if mode:
        j.a = -oo if oo < 0 else 0
        j.n = out_len - oo if oo + <int64_t>n > out_len else <int64_t>n
        if j.n <= j.a:
            j.n = 0
        return OK
    # the caller's side last: does the block fit the output?
    if oo < 0 or oo > out_len or <int64_t>n > out_len - oo:
        return OUTPUT_BOUNDS
    j.tgt = out + oo
    j.n = n
    return OK


cdef int _finish(_Job* j, int64_t got, int mode, double* outf) noexcept nogil:
    """After ``got`` of ``j.n`` samples went to ``j.tgt``: undo a block whose symbols ran
    out, else apply the lossy steps (and, clipped modes, move the part inside the output
    from the scratch ``j.tgt`` into it: scaled into ``outf``, or copied into ``out32``)."""
    cdef int64_t k
    cdef double f = j.factor
    if got < j.n:
        if mode == 0:
            memset(j.tgt, 0, <size_t>got * sizeof(int32_t))
        return SYMBOLS_EXHAUSTED
    _lossy(j.blk, j.tgt, 0, j.n)
    if mode == 2:
        memcpy(j.out32 + j.oo + j.a, j.tgt + j.a, <size_t>(j.n - j.a) * sizeof(int32_t))
    elif mode == 1:
        if f == 1.0:
            for k in range(j.a, j.n):
                outf[j.oo + k] = <double>j.tgt[k]
        else:
            for k in range(j.a, j.n):
                outf[j.oo + k] = <double>j.tgt[k] * f
    return OK


cdef int _single(_Job* j, int mode, double* outf, int32_t* piece) noexcept nogil:
    """Decode one set-up block on its own. The clipped modes go through ``piece``
    (_F64_PIECE samples) a piece at a time, so a block of any size needs no more memory."""
    cdef int64_t k, m, got, lo, q
    if mode == 0:
        return _finish(j, _samples(&j.c, j.tgt, j.n), 0, outf)
    k = 0
    while k < j.n:
        m = j.n - k
        if m > _F64_PIECE:
            m = _F64_PIECE
        got = _samples(&j.c, piece, m)
        if got < m:
            # undo what this block wrote: NaN (float64, as gaps) or 0 (int32)
            for q in range(j.a, k):
                if mode == 1:
                    outf[j.oo + q] = NAN
                else:
                    j.out32[j.oo + q] = 0
            return SYMBOLS_EXHAUSTED
        _lossy(j.blk, piece, k, m)
        lo = j.a - k if j.a > k else 0          # first piece sample inside the output
        if lo >= m:
            pass                                # a piece wholly before the output
        elif mode == 2:
            memcpy(j.out32 + j.oo + k + lo, piece + lo, <size_t>(m - lo) * sizeof(int32_t))
        elif j.factor == 1.0:
            for q in range(lo, m):
                outf[j.oo + k + q] = <double>piece[q]
        else:
            for q in range(lo, m):
                outf[j.oo + k + q] = <double>piece[q] * j.factor
        k += m
    return OK


cdef void _pair(_Job* x, _Job* y, int64_t* gx, int64_t* gy) noexcept nogil:
    """Decode two set-up blocks side by side; gx/gy: samples each got."""
    cdef int64_t kx, ky
    gx[0] = _samples(&x.c, x.tgt, 1)
    gy[0] = _samples(&y.c, y.tgt, 1)
    if gx[0] == 1 and gy[0] == 1:
        kx = x.n - 1
        ky = y.n - 1
        _samples2(&x.c, x.tgt + 1, &kx, &y.c, y.tgt + 1, &ky)
        gx[0] = 1 + kx
        gy[0] = 1 + ky
    # the longer block (or one the other's failure stopped) goes on alone; a block whose
    # symbols ran out stops at once (its budget is 0)
    if gx[0] < x.n:
        gx[0] += _samples(&x.c, x.tgt + gx[0], x.n - gx[0])
    if gy[0] < y.n:
        gy[0] += _samples(&y.c, y.tgt + gy[0], y.n - gy[0])


cdef object _describe(int code, Py_ssize_t i, const uint8_t* buf, int64_t buf_len,
                      int64_t off, int64_t size, int64_t expected, int64_t out_off,
                      int64_t out_len, file_offset=None):
    """Human-readable message for a failed block (called with the GIL, after decoding)."""
    cdef int64_t avail
    if file_offset is None:
        where = f"RED block {i} at byte offset {off}"
    else:  # (the caller read buf from a file: say where the block is in it)
        where = f"RED block at byte {int(file_offset) + off} of the file"
    if code == TRUNCATED:
        if off < 0 or off > buf_len:
            return f"{where}: offset is outside the {buf_len}-byte buffer"
        avail = min(size, buf_len - off)
        return f"{where}: only {avail} bytes available, a RED block header needs {_HEADER}"
    hdr = _parse_header(buf + off)
    if code == BAD_BLOCK_BYTES:
        bb = hdr["block_bytes"]
        if bb < _HEADER:
            return f"{where}: header block_bytes {bb} is smaller than the {_HEADER}-byte header"
        return (f"{where}: header block_bytes {bb} exceeds the {min(size, buf_len - off)} "
                f"bytes available for the block")
    if code == CRC_MISMATCH:
        bb = hdr["block_bytes"]
        computed = _crc_update(buf + off + 4, bb - 4, 0xFFFFFFFF)
        return (f"{where}: block CRC mismatch (stored 0x{hdr['crc']:08X}, "
                f"computed 0x{computed:08X})")
    if code == ENCRYPTED:
        level = 1 if hdr["flags"] & _FLAG_LEVEL_1 else 2
        return (f"{where}: statistics are encrypted (level {level}); decrypt them and "
                f"pass allow_encrypted=True")
    n = hdr["number_of_samples"]
    if code == SAMPLE_COUNT:
        return f"{where}: header number_of_samples {n} but the index says {expected}"
    if code == OUTPUT_BOUNDS:
        return (f"{where}: {n} samples at output offset {out_off} do not fit the output "
                f"array of {out_len} samples")
    if code == BAD_DIFFERENCE_BYTES:
        return (f"{where}: difference_bytes {hdr['difference_bytes']} is impossible for "
                f"{n} samples (at most 5 * n + 1)")
    if code == NO_STATISTICS:
        return f"{where}: statistics are all zero but the block holds {n} samples"
    if code == SYMBOLS_EXHAUSTED:
        return (f"{where}: the coded differences (difference_bytes "
                f"{hdr['difference_bytes']}) end before {n} samples are complete")
    return f"{where}: error code {code}"


cdef dict _parse_header(const uint8_t* p):
    cdef float slope, intercept, scale
    cdef int64_t t
    memcpy(&slope, p + _OFF_SLOPE, 4)
    memcpy(&intercept, p + _OFF_INTERCEPT, 4)
    memcpy(&scale, p + _OFF_SCALE, 4)
    memcpy(&t, p + _OFF_START, 8)
    return {
        "crc": _rd32(p + _OFF_CRC),
        "flags": p[_OFF_FLAGS],
        "slope": <double>slope,
        "intercept": <double>intercept,
        "scale_factor": <double>scale,
        "difference_bytes": _rd32(p + _OFF_DIFF_BYTES),
        "number_of_samples": _rd32(p + _OFF_SAMPLES),
        "block_bytes": _rd32(p + _OFF_BLOCK_BYTES),
        "start_time": t,
    }


def block_header(block):
    """Parse the 304-byte header at the start of ``block`` (any contiguous buffer).

    Returns a dict with crc, flags, slope, intercept, scale_factor, difference_bytes,
    number_of_samples, block_bytes, start_time (the stored form) and statistics (bytes).
    Nothing is validated except that 304 bytes are present.
    """
    cdef Py_buffer view
    PyObject_GetBuffer(block, &view, PyBUF_SIMPLE)
    try:
        if view.len < _HEADER:
            raise FormatError(f"RED block header needs {_HEADER} bytes, got {view.len}")
        hdr = _parse_header(<const uint8_t*>view.buf)
        hdr["statistics"] = (<const char*>view.buf)[_STATS:_HEADER]
    finally:
        PyBuffer_Release(&view)
    return hdr


cdef inline bint _note(Py_ssize_t i, int code, int8_t* status, int* first_code) noexcept nogil:
    """Record block i's status; True when the loop must stop (raise mode, a failure)."""
    if status != NULL:
        status[i] = <int8_t>code
        return False
    if code != OK:
        first_code[0] = code
        return True
    return False


cdef Py_ssize_t _decode_loop(const uint8_t* buf, int64_t buf_len,
                             const int64_t* offsets, const int64_t* sizes,
                             const int64_t* counts, const int64_t* out_offsets,
                             int32_t* out, double* outf, const double* factors,
                             int mode, int64_t out_len, Py_ssize_t nblocks,
                             bint check_crc, bint allow_encrypted, int8_t* status,
                             int* first_code) noexcept nogil:
    """Decode all blocks into ``out`` (int32; mode 2: clipped to it) or, mode 1, into
    the float64 ``outf`` scaled by ``factors`` (either may be NULL when out_len is 0); returns the
    index of the first failure (raise mode), -1 if none, or -2 when the scratch memory
    cannot be had.

    Blocks are decoded two at a time, interleaved (_pair): each block's decoding is one
    long dependency chain, and two chains fill the core's idle cycles. A block pairs
    with the next one when both decode something, (int32) their outputs are disjoint
    and (clipped modes) both fit the pair scratch; anything else is decoded alone, in order.
    """
    cdef Py_ssize_t i, r = -1
    cdef int64_t off, avail, got0, got1, need
    cdef int code, code1
    cdef int pend = 0          # jobs[0] is set up and waits for a partner
    cdef int cur
    cdef bint solo
    cdef _Job jobs[2]
    cdef _Decoder* d = <_Decoder*>malloc(2 * sizeof(_Decoder))
    cdef uint32_t* table = <uint32_t*>malloc(2 * 65536 * sizeof(uint32_t))
    cdef int32_t* piece = NULL
    cdef int32_t* pairbuf = NULL
    cdef int64_t pair_cap = 1  # float64: samples per pair scratch (the largest expected block)
    if mode:
        for i in range(nblocks):
            if counts[i] < 0 or counts[i] > _PAIR_MAX:
                pair_cap = _PAIR_MAX
                break
            if counts[i] > pair_cap:
                pair_cap = counts[i]
        piece = <int32_t*>malloc(_F64_PIECE * sizeof(int32_t))
        pairbuf = <int32_t*>malloc(2 * pair_cap * sizeof(int32_t))
    if d == NULL or table == NULL or (mode and (piece == NULL or pairbuf == NULL)):
        r = -2
        nblocks = 0
    for i in range(nblocks):
        off = offsets[i]
        cur = pend
        jobs[cur].index = i
        jobs[cur].n = 0
        if off < 0 or off > buf_len:
            code = TRUNCATED
        else:
            avail = buf_len - off
            if sizes[i] < avail:
                avail = sizes[i]
            code = _setup(&jobs[cur], buf + off, avail, counts[i], out, out_len,
                          out_offsets[i], mode, check_crc, allow_encrypted, d + cur,
                          table + 65536 * cur)
            if mode:
                jobs[cur].factor = factors[i] if mode == 1 else 1.0
                jobs[cur].tgt = pairbuf + pair_cap * cur
        solo = mode and jobs[cur].n > pair_cap
        if code != OK or jobs[cur].n == 0 or solo:
            pend = 0
            if cur == 1:  # the waiting block first (block order)
                if _note(jobs[0].index, _single(&jobs[0], mode, outf, piece), status, first_code):
                    r = jobs[0].index
                    break
            if code == OK and jobs[cur].n:
                code = _single(&jobs[cur], mode, outf, piece)
            if _note(i, code, status, first_code):
                r = i
                break
            continue
        if cur == 0:
            pend = 1
            continue
        pend = 0
        if mode == 0 and (jobs[0].tgt < jobs[1].tgt + jobs[1].n and jobs[1].tgt < jobs[0].tgt + jobs[0].n):
            # int32 outputs that overlap: the later block must win, so one after the other
            code = _single(&jobs[0], mode, outf, piece)
            code1 = _single(&jobs[1], mode, outf, piece)
        else:
            _pair(&jobs[0], &jobs[1], &got0, &got1)
            code = _finish(&jobs[0], got0, mode, outf)
            code1 = _finish(&jobs[1], got1, mode, outf)
        if _note(jobs[0].index, code, status, first_code):
            r = jobs[0].index
            break
        if _note(i, code1, status, first_code):
            r = i
            break
    else:
        if pend:
            if _note(jobs[0].index, _single(&jobs[0], mode, outf, piece), status, first_code):
                r = jobs[0].index
    free(d)
    free(table)
    free(piece)
    free(pairbuf)
    return r


cdef object _run_decode(buf, offsets, sizes, counts, out, out_offsets, factors, check_crc,
                        path, status, allow_encrypted, clip=False, file_offset=None):
    """Argument checks and the GIL-free loop shared by decode_blocks and decode_blocks_f64."""
    cdef Py_buffer view
    cdef int64_t[::1] off_a, size_a, count_a, oo_a
    cdef int32_t[::1] out_a
    cdef double[::1] outf_a, fac_a
    cdef int32_t* out_p = NULL
    cdef double* outf_p = NULL
    cdef const double* fac_p = NULL
    cdef int64_t out_len
    cdef int8_t[::1] status_a
    cdef int8_t* status_p = NULL
    cdef Py_ssize_t nblocks, bad
    cdef int first_code = 0
    cdef bint crc_flag = bool(check_crc), enc_flag = bool(allow_encrypted)
    cdef bint f64 = factors is not None
    cdef int mode = 1 if f64 else (2 if clip else 0)

    off_a = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)
    size_a = np.ascontiguousarray(sizes, dtype=np.int64).reshape(-1)
    count_a = np.ascontiguousarray(counts, dtype=np.int64).reshape(-1)
    oo_a = np.ascontiguousarray(out_offsets, dtype=np.int64).reshape(-1)
    nblocks = off_a.shape[0]
    if size_a.shape[0] != nblocks or count_a.shape[0] != nblocks or oo_a.shape[0] != nblocks:
        raise ValueError("offsets, sizes, counts and out_offsets must have one entry per block")
    if f64:
        if np.ndim(factors) == 0:
            fac_a = np.full(nblocks, float(factors), dtype=np.float64)
        else:
            fac_a = np.ascontiguousarray(factors, dtype=np.float64).reshape(-1)
            if fac_a.shape[0] != nblocks:
                raise ValueError("factors must be one number or one per block")
        if not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.ndim != 1:
            raise TypeError("out must be a 1-D numpy float64 array")
        outf_a = out
        out_len = outf_a.shape[0]
    else:
        if not isinstance(out, np.ndarray) or out.dtype != np.int32 or out.ndim != 1:
            raise TypeError("out must be a 1-D numpy int32 array")
        out_a = out
        out_len = out_a.shape[0]
    if status is not None:
        if not isinstance(status, np.ndarray) or status.dtype != np.int8 or status.ndim != 1:
            raise TypeError("status must be a 1-D numpy int8 array")
        if status.shape[0] != nblocks:
            raise ValueError("status must have one entry per block")
        status_a = status
        if nblocks:
            status_p = &status_a[0]
    if nblocks == 0:
        return None
    if out_len:
        if f64:
            outf_p = &outf_a[0]
        else:
            out_p = &out_a[0]
    if f64:
        fac_p = &fac_a[0]

    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        with nogil:
            bad = _decode_loop(<const uint8_t*>view.buf, view.len, &off_a[0], &size_a[0],
                               &count_a[0], &oo_a[0], out_p, outf_p, fac_p, mode, out_len,
                               nblocks, crc_flag, enc_flag, status_p, &first_code)
        if bad == -2:
            raise MemoryError("no memory for the RED decoder's scratch space")
        if bad >= 0:
            msg = _describe(first_code, bad, <const uint8_t*>view.buf, view.len,
                            off_a[bad], size_a[bad], count_a[bad], oo_a[bad], out_len, file_offset)
            if first_code == CRC_MISMATCH:
                raise CrcError(msg, path=path)
            raise FormatError(msg, path=path)
    finally:
        PyBuffer_Release(&view)
    return None


def decode_blocks(buf, offsets, sizes, counts, out, out_offsets, check_crc=True,
                  path=None, status=None, allow_encrypted=False, clip=False, file_offset=None):
    """Decode many RED blocks from ``buf`` into the int32 array ``out``.

    buf          any C-contiguous buffer holding the blocks (bytes, memmap slice, ...)
    offsets      int64 per block: where the block starts in ``buf``
    sizes        int64 per block: bytes available for it (from the index); the header's
                 block_bytes must not exceed it nor the end of ``buf``
    counts       int64 per block: expected number_of_samples, or -1 (any negative) to
                 take the header's
    out          writable C-contiguous int32 array; every write is bounds-checked
    out_offsets  int64 per block: index in ``out`` of the block's first sample
    check_crc    verify each block's CRC before decoding it
    path         named in error messages
    status       optional int8 array (one per block): filled with the status codes of
                 the module docstring instead of raising
    allow_encrypted  the caller has decrypted the statistics in ``buf`` already, so
                 the encryption flags are ignored
    clip         a block may lie partly (or wholly) outside ``out``: its samples outside
                 ``[0, len(out))`` are dropped and decoding stops after the last one
                 inside (no OUTPUT_BOUNDS; as :func:`decode_blocks_f64`, an edge block of
                 a window needs no scratch of its own and only its needed part is
                 decoded). A block that fails with SYMBOLS_EXHAUSTED resets what it had
                 written to 0.
    file_offset  where ``buf`` starts in the file ``path``: error messages then give
                 the failed block's position in the file instead of in ``buf``

    The GIL is released for the whole loop. Lossy blocks (scale factor > 1 and/or a
    detrend line) are unscaled and retrended as meflib does.
    """
    return _run_decode(buf, offsets, sizes, counts, out, out_offsets, None, check_crc,
                       path, status, allow_encrypted, clip, file_offset)


def decode_blocks_f64(buf, offsets, sizes, counts, out, out_offsets, factors=1.0,
                      check_crc=True, path=None, status=None, allow_encrypted=False, file_offset=None):
    """Decode many RED blocks straight into the float64 array ``out``, scaled.

    Sample ``k`` of block ``i`` becomes ``out[out_offsets[i] + k] = float(x) *
    factors[i]`` (no multiplication where the factor is 1.0), i.e. the same doubles as
    ``decode_blocks`` followed by ``astype(float64) * factor``. Unlike
    :func:`decode_blocks` a block may lie partly (or wholly) outside ``out``: its
    samples outside ``[0, len(out))`` are dropped and decoding stops after the last one
    inside, so an edge block needs no copy of its own. Nothing of full size is
    allocated: samples pass through an int32 scratch of a few KiB.

    ``factors`` is one number or one float64 per block; every other argument, the
    status codes and the errors are those of :func:`decode_blocks`, except that
    OUTPUT_BOUNDS never occurs and a block that fails with SYMBOLS_EXHAUSTED sets the
    samples it had written to NaN (the rest of ``out`` is untouched). Positions no
    block covers are left as they are: fill ``out`` with NaN first for gaps.
    """
    if factors is None:
        raise TypeError("factors must be a number or one float64 per block")
    return _run_decode(buf, offsets, sizes, counts, out, out_offsets, factors, check_crc,
                       path, status, allow_encrypted, False, file_offset)


def decode_block(block, check_crc=True, path=None, allow_encrypted=False):
    """Decode one RED block (a buffer starting at its header) to an int32 array.

    The output length is the header's number_of_samples; raises FormatError/CrcError
    like :func:`decode_blocks`. The header is validated before the output is allocated.
    """
    cdef Py_buffer view
    PyObject_GetBuffer(block, &view, PyBUF_SIMPLE)
    try:
        size = view.len
        n = _rd32(<const uint8_t*>view.buf + _OFF_SAMPLES) if size >= _HEADER else 0
    finally:
        PyBuffer_Release(&view)
    # dry run with no output room: a sound header with samples reports OUTPUT_BOUNDS
    status = np.zeros(1, np.int8)
    empty = np.zeros(0, np.int32)
    decode_blocks(block, [0], [size], [-1], empty, [0], check_crc=check_crc,
                  status=status, allow_encrypted=allow_encrypted)
    if status[0] == OK:
        return empty
    if status[0] != OUTPUT_BOUNDS:
        decode_blocks(block, [0], [size], [-1], empty, [0], check_crc=check_crc, path=path,
                      allow_encrypted=allow_encrypted)        # raises the right error
    out = np.zeros(n, dtype=np.int32)
    decode_blocks(block, [0], [size], [-1], out, [0], check_crc=check_crc, path=path,
                  allow_encrypted=allow_encrypted)
    return out


# ---------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------

ctypedef struct _Out:
    uint8_t* p
    uint8_t* end
    int overflow


cdef inline void _put(_Out* o, uint8_t v) noexcept nogil:
    if o.p < o.end:
        o.p[0] = v
        o.p += 1
    else:
        o.overflow = 1


cdef inline void _shift_out(_Out* o, uint32_t* low, uint32_t* rng, uint32_t* underflow,
                            uint8_t* out_byte) noexcept nogil:
    # Emit bytes while the range is too small, meflib's carry/underflow handling.
    while rng[0] <= _BOTTOM:
        if low[0] < _CARRY_CHECK:
            _put(o, out_byte[0])
            while underflow[0]:
                _put(o, 0xFF)
                underflow[0] -= 1
            out_byte[0] = <uint8_t>(low[0] >> _SHIFT_BITS)
        elif low[0] & _TOP:
            _put(o, <uint8_t>(out_byte[0] + 1))
            while underflow[0]:
                _put(o, 0x00)
                underflow[0] -= 1
            out_byte[0] = <uint8_t>(low[0] >> _SHIFT_BITS)
        else:
            underflow[0] += 1
        rng[0] <<= 8
        low[0] = (low[0] << 8) & _TOP_MINUS_1


cdef int64_t _encode_one(const int32_t* x, int64_t n, int64_t start_time, uint8_t flags,
                         uint8_t* dst, int64_t cap, uint8_t* diff,
                         uint32_t* diff_bytes_out, int32_t* vmax, int32_t* vmin) noexcept nogil:
    """Encode ``n`` >= 1 samples as one lossless RED block at ``dst`` (``cap`` bytes).

    ``diff`` is scratch for at least 5 * n bytes. Returns block_bytes, or -1 if the
    block would not fit ``cap`` (nothing past ``dst + cap`` is ever written).
    """
    cdef int64_t k, nd, bb
    cdef int32_t d, mx, mn, v
    cdef int esc
    cdef uint64_t magic
    cdef uint32_t counts[256]
    cdef uint32_t cum[257]
    cdef uint8_t* stats
    cdef uint32_t max_count, total, low, rng, r, t, underflow, sym
    cdef uint8_t out_byte, saved
    cdef double stats_scale
    cdef float f
    cdef _Out o

    if cap < _HEADER + 8:
        return -1

    # difference stream; the first keysample's 0x80 flag is left implicit
    _wr32(diff, <uint32_t>x[0])
    nd = 4
    mx = mn = x[0]
    # branch-free: the keysample bytes are always stored (scratch has room), the
    # escape decides only the flag byte and how far the cursor moves
    for k in range(1, n):
        v = x[k]
        d = <int32_t>(<uint32_t>v - <uint32_t>x[k - 1])     # 32-bit wrap, as meflib
        esc = (<uint32_t>d + 127u) > 254u
        diff[nd] = 0x80 if esc else <uint8_t><int8_t>d
        _wr32(diff + nd + 1, <uint32_t>v)
        nd += 1 + 4 * esc
        mx = v if v > mx else mx
        mn = v if v < mn else mn
    vmax[0] = mx
    vmin[0] = mn

    # statistics: raw counts, scaled to fit a byte when the largest exceeds 255
    memset(counts, 0, sizeof(counts))
    for k in range(nd):
        counts[diff[k]] += 1
    max_count = 0
    for k in range(256):
        if counts[k] > max_count:
            max_count = counts[k]
    memset(dst, 0, _HEADER)
    stats = dst + _STATS
    if max_count > 255:
        stats_scale = 254.999999999 / <double>max_count
        for k in range(256):
            if counts[k]:
                stats[k] = <uint8_t>ceil(<double>counts[k] * stats_scale)
    else:
        for k in range(256):
            stats[k] = <uint8_t>counts[k]
    total = 0
    for k in range(256):
        cum[k] = total
        total += stats[k]
    cum[256] = total

    # range coding. Output starts one byte early, on the last statistics byte: the
    # coder's first byte is a dummy, which we then overwrite with the saved statistic.
    saved = stats[255]
    o.p = dst + _HEADER - 1
    o.end = dst + cap
    o.overflow = 0
    low = 0
    out_byte = 0
    underflow = 0
    rng = _TOP
    # exact division by the block's constant total through a reciprocal multiply
    magic = _magic(total)
    for k in range(nd):
        _shift_out(&o, &low, &rng, &underflow, &out_byte)
        sym = diff[k]
        r = _div_by_magic(rng, magic) if magic else rng
        t = r * cum[sym]
        low += t
        if sym < 255:
            rng = r * stats[sym]
        else:
            rng -= t
    _shift_out(&o, &low, &rng, &underflow, &out_byte)
    t = (low >> _SHIFT_BITS) + 1
    if t > 0xFF:
        _put(&o, <uint8_t>(out_byte + 1))
        while underflow:
            _put(&o, 0x00)
            underflow -= 1
    else:
        _put(&o, out_byte)
        while underflow:
            _put(&o, 0xFF)
            underflow -= 1
    _put(&o, <uint8_t>t)
    _put(&o, 0)
    dst[_HEADER - 1] = saved

    bb = o.p - dst
    while bb % 8:
        _put(&o, _PAD)
        bb += 1
    if o.overflow:
        return -1

    dst[_OFF_FLAGS] = flags
    f = 0.0
    memcpy(dst + _OFF_SLOPE, &f, 4)
    memcpy(dst + _OFF_INTERCEPT, &f, 4)
    f = 1.0
    memcpy(dst + _OFF_SCALE, &f, 4)
    _wr32(dst + _OFF_DIFF_BYTES, <uint32_t>(nd + 1))         # +1: the implied first keysample flag
    _wr32(dst + _OFF_SAMPLES, <uint32_t>n)
    _wr32(dst + _OFF_BLOCK_BYTES, <uint32_t>bb)
    memcpy(dst + _OFF_START, &start_time, 8)
    _wr32(dst + _OFF_CRC, _crc_update(dst + 4, bb - 4, 0xFFFFFFFF))
    diff_bytes_out[0] = <uint32_t>(nd + 1)
    return bb


cdef int _encode_range(const int32_t* samples, const int64_t* starts, const int64_t* counts,
                       const int64_t* times, const uint8_t* flags, Py_ssize_t lo,
                       Py_ssize_t hi, uint8_t* region, int64_t region_cap,
                       int64_t* block_bytes, int32_t* maxima, int32_t* minima,
                       uint32_t* diff_bytes, int64_t* used) noexcept nogil:
    """Encode blocks lo..hi-1 one after another into ``region``. Returns 0, -1 (output
    overflow, should not happen) or -2 (no memory)."""
    cdef Py_ssize_t i
    cdef int64_t maxn = 0, pos = 0, bb, cap
    cdef uint8_t* scratch
    for i in range(lo, hi):
        if counts[i] > maxn:
            maxn = counts[i]
    scratch = <uint8_t*>malloc(<size_t>(5 * maxn + 8))
    if scratch == NULL:
        return -2
    for i in range(lo, hi):
        cap = _capacity(counts[i])
        if cap > region_cap - pos:
            free(scratch)
            return -1
        bb = _encode_one(samples + starts[i], counts[i], times[i], flags[i], region + pos,
                         cap, scratch, &diff_bytes[i], &maxima[i], &minima[i])
        if bb < 0:
            free(scratch)
            return -1
        block_bytes[i] = bb
        pos += bb
    free(scratch)
    used[0] = pos
    return 0


def _encode_chunk(const int32_t[::1] samples, const int64_t[::1] starts,
                  const int64_t[::1] counts, const int64_t[::1] times,
                  const uint8_t[::1] flags, Py_ssize_t lo, Py_ssize_t hi,
                  uint8_t[::1] data, int64_t region_start, int64_t region_cap,
                  int64_t[::1] block_bytes, int32_t[::1] maxima, int32_t[::1] minima,
                  uint32_t[::1] diff_bytes):
    """Encode blocks lo..hi-1 into data[region_start:region_start+region_cap] without
    the GIL; returns the number of bytes used."""
    cdef int rc
    cdef int64_t used = 0
    if hi <= lo:
        return 0
    if region_start < 0 or region_cap < 0 or region_start + region_cap > data.shape[0]:
        raise ValueError("encoder region outside the output buffer")
    with nogil:
        rc = _encode_range(&samples[0], &starts[0], &counts[0], &times[0], &flags[0], lo, hi,
                           &data[0] + region_start, region_cap, &block_bytes[0], &maxima[0],
                           &minima[0], &diff_bytes[0], &used)
    if rc == -2:
        raise MemoryError("no memory for the RED encoder's scratch space")
    if rc != 0:
        raise RuntimeError("RED encoder output exceeded its reserved capacity (internal error)")
    return used


def encode_blocks(samples, starts, counts, times, flags, n_threads=1):
    """Encode lossless RED blocks, byte-identical to meflib's encoder.

    samples  1-D int32 array
    starts, counts   int64 per block: block i holds samples[starts[i]:starts[i]+counts[i]]
             (counts >= 1)
    times    int64 per block: the stored start time written into the header
    flags    uint8 per block: only bit 0 (discontinuity) may be set
    n_threads  >1 splits the blocks into contiguous runs encoded in parallel (output is
             the same for any value)

    Returns ``(data, block_bytes, maxima, minima, difference_bytes)``: a uint8 array of
    all blocks back to back, and per block its size (int64), largest and smallest sample
    (int32) and difference_bytes (uint32).
    """
    cdef Py_ssize_t nblocks, k, lo, hi
    samples_a = np.asarray(samples)
    if samples_a.dtype != np.int32:
        raise TypeError(f"samples must be int32, not {samples_a.dtype}")
    samples_a = np.ascontiguousarray(samples_a.reshape(-1))
    starts_a = np.ascontiguousarray(starts, dtype=np.int64).reshape(-1)
    counts_a = np.ascontiguousarray(counts, dtype=np.int64).reshape(-1)
    times_a = np.ascontiguousarray(times, dtype=np.int64).reshape(-1)
    flags_a = np.ascontiguousarray(flags, dtype=np.uint8).reshape(-1)
    nblocks = starts_a.shape[0]
    if counts_a.shape[0] != nblocks or times_a.shape[0] != nblocks or flags_a.shape[0] != nblocks:
        raise ValueError("starts, counts, times and flags must have one entry per block")
    if nblocks:
        if counts_a.min() < 1:
            raise ValueError("every block needs at least one sample")
        if counts_a.max() > 0x33333333:
            raise ValueError("a RED block holds at most 858993459 samples")
        if starts_a.min() < 0 or (starts_a + counts_a).max() > samples_a.shape[0]:
            raise ValueError("block sample ranges exceed the samples array")
        if (flags_a & ~np.uint8(_FLAG_DISCONTINUITY)).any():
            raise ValueError("only the discontinuity flag (bit 0) may be set when encoding")
    n_threads = max(1, int(n_threads))

    block_bytes = np.zeros(nblocks, dtype=np.int64)
    maxima = np.zeros(nblocks, dtype=np.int32)
    minima = np.zeros(nblocks, dtype=np.int32)
    diff_bytes = np.zeros(nblocks, dtype=np.uint32)
    if nblocks == 0:
        return np.zeros(0, dtype=np.uint8), block_bytes, maxima, minima, diff_bytes

    caps = _HEADER + 2 * (5 * counts_a + 1) + 64
    cap_ends = np.cumsum(caps)
    data = np.empty(int(cap_ends[nblocks - 1]), dtype=np.uint8)

    # contiguous runs of blocks, balanced by sample count
    n_runs = min(n_threads, nblocks)
    if n_runs > 1:
        csum = np.cumsum(counts_a)
        cuts = np.searchsorted(csum, csum[nblocks - 1] * np.arange(1, n_runs) / n_runs, side="left") + 1
        bounds = np.unique(np.concatenate(([0], np.clip(cuts, 1, nblocks - 1), [nblocks])))
    else:
        bounds = np.array([0, nblocks])
    runs = []
    for k in range(bounds.shape[0] - 1):
        lo = int(bounds[k])
        hi = int(bounds[k + 1])
        rstart = int(cap_ends[lo - 1]) if lo > 0 else 0
        runs.append((lo, hi, rstart, int(cap_ends[hi - 1]) - rstart))

    def work(run):
        lo_, hi_, rstart_, rcap_ = run
        return _encode_chunk(samples_a, starts_a, counts_a, times_a, flags_a, lo_, hi_, data,
                             rstart_, rcap_, block_bytes, maxima, minima, diff_bytes)

    if len(runs) > 1:
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            used = list(pool.map(work, runs))
    else:
        used = [work(runs[0])]

    # compact: move each run's bytes down to follow the previous run's
    pos = 0
    for run, u in zip(runs, used):
        rstart = run[2]
        if rstart != pos:
            data[pos:pos + u] = data[rstart:rstart + u]   # non-overlapping or moving left
        pos += u
    try:
        data.resize(pos, refcheck=False)
    except (ValueError, BufferError):
        data = data[:pos].copy()
    return data, block_bytes, maxima, minima, diff_bytes


def encode_block(samples, start_time=0, discontinuity=False):
    """Encode one lossless RED block; returns its bytes."""
    x = np.asarray(samples)
    if x.dtype != np.int32:
        raise TypeError(f"samples must be int32, not {x.dtype}")
    x = np.ascontiguousarray(x.reshape(-1))
    data, _, _, _, _ = encode_blocks(x, [0], [x.shape[0]], [start_time],
                                     [1 if discontinuity else 0])
    return data.tobytes()

