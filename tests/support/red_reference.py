"""A pure-Python reference for the RED codec and the CRC: a literal, slow transcription
of meflib's algorithm (all symbols first, linear symbol search, plain division, then the
samples), written independently of the Cython code it checks."""
import bisect
import struct

RED_MIN = -0x7FFFFFFE      # RED_MINIMUM_SAMPLE_VALUE 0x80000002
RED_MAX = 0x7FFFFFFE       # RED_MAXIMUM_SAMPLE_VALUE


class RefError(Exception):
    """The reference decoder refuses the block (the message says why)."""


def ref_round(v):
    """Round half away from zero, saturating at +/-0x7FFFFFFF; NaN -> RED_NAN."""
    if v >= 0.0:
        v += 0.5
        return 0x7FFFFFFF if v >= 2147483647.0 else int(v)
    if v < 0.0:
        v -= 0.5
        return -0x7FFFFFFF if v <= -2147483647.0 else int(v)
    return -0x80000000


def ref_decode(block):
    """Decode one RED block the long way: all symbols first, then the samples."""
    block = bytes(block)
    if len(block) < 304:
        raise RefError("short header")
    (slope, intercept, scale) = struct.unpack_from("<3f", block, 16)
    diff_bytes, n, block_bytes = struct.unpack_from("<3I", block, 28)
    if block_bytes < 304 or block_bytes > len(block):
        raise RefError("block_bytes")
    if diff_bytes > 5 * n + 1:
        raise RefError("difference_bytes")
    if n == 0:
        return []
    stats = block[48:304]
    cum = [0]
    for c in stats:
        cum.append(cum[-1] + c)
    total = cum[256]
    if total == 0:
        raise RefError("no statistics")

    def byte_at(i):
        return block[i] if i < block_bytes else 0

    # range decoding: diff_bytes symbols, after the implied keysample flag
    symbols = [0x80]
    pos = 304
    in_byte = byte_at(pos)
    pos += 1
    low = in_byte >> 1
    rng = 1 << 7
    for _ in range(diff_bytes):
        while rng <= 0x800000:
            low = ((low << 8) & 0xFFFFFFFF) | ((in_byte << 7) & 0xFF)
            in_byte = byte_at(pos)
            pos += 1
            low |= in_byte >> 1
            rng <<= 8
        per_count = rng // total
        cc = min(low // per_count, total - 1)
        sym = bisect.bisect_right(cum, cc) - 1      # last symbol whose cum <= cc
        low = (low - per_count * cum[sym]) & 0xFFFFFFFF
        if sym < 255:
            rng = per_count * stats[sym]
        else:
            rng = rng - per_count * cum[255]
        symbols.append(sym)

    # differences -> samples
    out = []
    i = 0
    value = 0
    for _ in range(n):
        if i >= len(symbols):
            raise RefError("symbols exhausted")
        if symbols[i] == 0x80:
            if i + 5 > len(symbols):
                raise RefError("symbols exhausted")
            value = struct.unpack("<i", bytes(symbols[i + 1:i + 5]))[0]
            i += 5
        else:
            d = symbols[i] - 256 if symbols[i] > 127 else symbols[i]
            value = (value + d + 0x80000000) % 2**32 - 0x80000000
            i += 1
        out.append(value)

    # lossy blocks
    if scale > 1.0:
        out = [ref_round(float(v) * scale) for v in out]
    if slope != 0.0 or intercept != 0.0:
        out = [ref_round(float(v) + slope * c + intercept) for c, v in enumerate(out, 1)]
    return out


def ref_crc(data, crc=0xFFFFFFFF):
    """Bit-at-a-time CRC with the reflected Koopman polynomial."""
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEB31D82E if crc & 1 else 0)
    return crc
