"""The data file of a segment: every indexed RED block decoded in status mode (in
batches, decrypted where encrypted) with its header compared to its index entry, and
the body CRC of the file's header."""

import struct

import numpy as np

from .. import _red, fileio
from ..errors import FormatError
from ..format import crypto
from ..format.layout import (
    RED_BLOCK_HEADER_BYTES,
    RED_DIFFERENCE_BYTES,
    RED_DISCONTINUITY,
    RED_FLAGS,
    RED_LEVEL_1_ENCRYPTED,
    RED_LEVEL_2_ENCRYPTED,
    RED_START_TIME,
    UNIVERSAL_HEADER_BYTES,
)

_ENCRYPTED = RED_LEVEL_1_ENCRYPTED | RED_LEVEL_2_ENCRYPTED
_INT64 = struct.Struct("<q")
_UINT32 = struct.Struct("<I")
#: blocks are decoded in batches of at most this many samples / bytes
_BATCH_SAMPLES = 1 << 22
_BATCH_BYTES = 64 << 20
#: a block claiming more samples than this is reported, not decoded
_MAX_BLOCK_SAMPLES = 1 << 28


def _check_blocks(sf, keys, entries, tdat_size, report, crc, tracker=None):
    """Decode every indexed block (status mode) and compare its header with its entry
    (``tracker``: asked between batches whether to stop, so a long segment cancels too)."""
    nb = len(entries)
    good = np.zeros(nb, bool)
    codes = {}
    offs = entries["file_offset"].astype(np.int64)
    nbytes = entries["block_bytes"].astype(np.int64)
    n = entries["number_of_samples"].astype(np.int64)
    stored_times = entries["start_time"].astype(np.int64)
    iflags = entries["RED_block_flags"].astype(np.uint8)
    inside = (offs >= UNIVERSAL_HEADER_BYTES) & (nbytes >= RED_BLOCK_HEADER_BYTES) & (offs <= tdat_size) & (
        nbytes <= tdat_size - offs
    )
    if (~inside).any():
        k = int((~inside).sum())
        report.problem(sf.tidx, f"{k} index entr{'y points' if k == 1 else 'ies point'} outside the "
                       f"{tdat_size}-byte data file")
        codes["OUTSIDE_DATA_FILE"] = k
    huge = inside & (n > _MAX_BLOCK_SAMPLES)
    if huge.any():
        report.problem(sf.tidx, f"{int(huge.sum())} index entries claim more than {_MAX_BLOCK_SAMPLES} samples")
        codes["TOO_MANY_SAMPLES"] = int(huge.sum())
    todo = np.flatnonzero(inside & ~huge)
    time_mismatch = flag_mismatch = 0
    max_difference_bytes = 0
    i = 0
    with open(sf.tdat, "rb") as f:
        while i < len(todo):
            if tracker is not None:
                tracker.check()
            j, samples, size = i, 0, 0
            while j < len(todo) and (j == i or (samples + n[todo[j]] <= _BATCH_SAMPLES and size + nbytes[todo[j]] <= _BATCH_BYTES)):
                samples += int(n[todo[j]])
                size += int(nbytes[todo[j]])
                j += 1
            ids = todo[i:j]
            i = j
            lo = int(offs[ids].min())
            hi = int((offs[ids] + nbytes[ids]).max())
            f.seek(lo)
            buf = bytearray(f.read(hi - lo))
            rel = offs[ids] - lo
            # block headers against index entries (before any decryption: bytes 0..47 are clear)
            for k, r in zip(ids, rel):
                r = int(r)
                if r + RED_BLOCK_HEADER_BYTES > len(buf):
                    continue
                bt = _INT64.unpack_from(buf, r + RED_START_TIME)[0]
                if bt != stored_times[k]:
                    time_mismatch += 1
                if (buf[r + RED_FLAGS] & RED_DISCONTINUITY) != (iflags[k] & RED_DISCONTINUITY):
                    flag_mismatch += 1
                max_difference_bytes = max(max_difference_bytes, _UINT32.unpack_from(buf, r + RED_DIFFERENCE_BYTES)[0])
            enc = (iflags[ids] & _ENCRYPTED) != 0
            status = np.zeros(len(ids), np.int8)
            if enc.any():
                bad = crypto.decrypt_block_statistics(buf, rel[enc], keys, True, sf.tdat, skip=True)
                status[np.flatnonzero(enc)[bad]] = _red.CRC_MISMATCH
            out = np.zeros(max(samples, 0), np.int32)
            out_off = np.concatenate(([0], np.cumsum(n[ids])[:-1])).astype(np.int64)
            for flag in (False, True):  # encrypted blocks: CRC checked above, on the ciphertext
                part = np.flatnonzero((enc == flag) & (status == 0))
                if len(part):
                    st = np.zeros(len(part), np.int8)
                    _red.decode_blocks(
                        np.frombuffer(buf, np.uint8), rel[part], nbytes[ids[part]], n[ids[part]], out, out_off[part],
                        check_crc=not flag, status=st, allow_encrypted=flag,
                    )
                    status[part] = st
            good[ids] = status == 0
            for c in status[status != 0]:
                name = _red.STATUS_NAMES.get(int(c), str(int(c)))
                codes[name] = codes.get(name, 0) + 1
    bad = nb - int(good.sum())
    if bad:
        listed = ", ".join(f"{v} {k}" for k, v in sorted(codes.items()))
        report.problem(sf.tdat, f"{bad} of {nb} blocks cannot be used ({listed})")
    if time_mismatch:
        report.problem(sf.tdat, f"{time_mismatch} block header(s) carry another start time than their index entry")
    if flag_mismatch:
        report.note(sf.tdat, f"{flag_mismatch} block header(s) disagree with their index entry on the "
                    "discontinuity flag")
    crc["blocks"] = f"{int(good.sum())}/{nb} ok" if nb else "none"
    if codes.get("CRC_MISMATCH"):
        crc["blocks"] += f" ({codes['CRC_MISMATCH']} CRC mismatch)"
    return {"good": good, "status": codes, "max_difference_bytes": max_difference_bytes}


def _check_data_crc(path, uh, entries, declared, crc, report):
    """The .tdat body CRC: over the blocks its header declares (our Writer, mef3io) or
    over the whole body (meflib); 0 means "not set"."""
    stored = int(uh["body_crc"])
    if stored == 0:
        return
    k = declared if 0 <= declared <= len(entries) else len(entries)
    stop = int(entries[k - 1]["file_offset"]) + int(entries[k - 1]["block_bytes"]) if k else UNIVERSAL_HEADER_BYTES
    try:  # (the CRC up to the declared blocks, then on to the end of the file)
        at_stop = fileio.file_crc(path, UNIVERSAL_HEADER_BYTES, stop)
        crcs = [at_stop, fileio.file_crc(path, stop, None, crc=at_stop)]
    except FormatError:  # the file ends before the declared blocks do
        crcs = [fileio.file_crc(path, UNIVERSAL_HEADER_BYTES)]
    if stored not in crcs:  # the blocks carry their own CRCs, checked one by one
        crc["bodies"] = "data body CRC differs"
        report.note(path, f"the data file's body CRC ({stored:#010x}) is not that of its blocks; files from "
                    "meflib-based writers (pymef, mef_tools) store such values. Each block's own CRC is checked.")
