"""What a Writer finds on disk: an existing session's passwords and time offset, and the
state of a channel's last segment, including what an interrupted append left.

A segment is recovered by adopting every block whose index entry was written and whose
block CRC verifies, dropping what lies past them, and recomputing the body CRCs a crash
left stale; :func:`interrupted` then tells the Writer to rewrite the headers and
metadata (see "Write ordering and crashes" in :mod:`neo_mef3.writer`).
"""

import os
import struct

import numpy as np

from .. import fileio
from .._red import crc32
from ..errors import FormatError
from ..format import crypto, headers
from ..format.layout import (
    METADATA_SECTION_3,
    RDAT,
    RED_BLOCK_CRC,
    RED_CRC_START,
    RED_DIFFERENCE_BYTES,
    RED_NUMBER_OF_SAMPLES,
    SEGMENT_EXT,
    TDAT,
    TIME_SERIES_INDEX_BYTES,
    TIME_SERIES_METADATA_SECTION_2,
    TMET,
    TS_CHANNEL_EXT,
    UNIVERSAL_HEADER_BYTES,
)
from ..format.metadata import writable
from ..format.times import effective_rto, to_uutc
from .quantize import offset_us
from .state import SegmentState

_UINT32 = struct.Struct("<I")
_NO_DIFFERENCE_BYTES = 0xFFFFFFFF  # meflib's "no entry" for maximum_difference_bytes


def existing_fields(path, session_name):
    """(level-1, level-2) validation fields of an existing session, or None if it has no file."""
    if not os.path.isdir(path):
        return None
    candidates = []
    for e in sorted(os.listdir(path)):
        p = os.path.join(path, e)
        if e.endswith(TS_CHANNEL_EXT) and os.path.isdir(p):
            for s in sorted(os.listdir(p)):
                sp = os.path.join(p, s)
                if s.endswith(SEGMENT_EXT) and os.path.isdir(sp):
                    candidates += [os.path.join(sp, f) for f in sorted(os.listdir(sp)) if f.endswith("." + TMET)]
            candidates.append(os.path.join(p, e[: -len(TS_CHANNEL_EXT)] + "." + RDAT))
    candidates.append(os.path.join(path, f"{session_name}.{RDAT}"))
    for c in candidates:
        if os.path.isfile(c):
            uh = headers.parse_universal_header(fileio.pread(c, UNIVERSAL_HEADER_BYTES), c)
            return crypto.header_fields(uh)
    return None


def reading_keys(keys):
    """The Keys a Writer reads its own session's files with (full access when unencrypted)."""
    return keys if keys is not None else crypto.Keys(crypto.LEVEL_2_ACCESS)


def existing_rto(path, keys):
    """Recording time offset already used in the session (0 for a new one)."""
    for e in sorted(os.listdir(path)):
        p = os.path.join(path, e)
        if not (e.endswith(TS_CHANNEL_EXT) and os.path.isdir(p)):
            continue
        for s in sorted(os.listdir(p)):
            if s.endswith(SEGMENT_EXT):
                base = s[: -len(SEGMENT_EXT)]
                tmet = os.path.join(p, s, f"{base}.{TMET}")
                if os.path.isfile(tmet):
                    meta = headers.parse_metadata(fileio.read_file(tmet, "metadata"), tmet, keys=reading_keys(keys))
                    return effective_rto(meta.recording_time_offset)
    return 0


def read_metadata(path, session):
    """A segment's ``.tmet`` as ``(raw image, parsed metadata)``, checked to carry the
    session's password fields (a file of another session must not be extended)."""
    if not os.path.isfile(path):
        raise FormatError("segment metadata file is missing", path)
    raw = fileio.read_file(path, "metadata")
    uh = headers.parse_universal_header(raw, path, TMET)
    crypto.check_written_with(uh, session.fields, path)
    return raw, headers.parse_metadata(raw, path, keys=reading_keys(session.keys))


def recover_segment(files, session):
    """A SegmentState from a segment's files, adopting what an interrupted append left."""
    seg = SegmentState()
    seg.files = files
    seg.number = files.number
    for p in (files.tmet, files.tidx, files.tdat):
        if not os.path.isfile(p):
            raise FormatError("segment file is missing; cannot append to this segment", p)
    tmet_raw, meta = read_metadata(files.tmet, session)
    uh = meta.uh
    seg.tmet_raw = tmet_raw
    seg.s2 = writable(meta.s2, TIME_SERIES_METADATA_SECTION_2)
    seg.s3 = writable(meta.s3, METADATA_SECTION_3) if meta.s3 is not None else None
    seg.fs = float(meta.s2["sampling_frequency"])
    seg.ufact = float(meta.s2["units_conversion_factor"])
    seg.rto = effective_rto(meta.recording_time_offset)
    seg.start_sample = max(0, int(meta.s2["start_sample"]))

    tidx_raw = fileio.read_file(files.tidx, "block index")
    tidx_uh, entries = headers.parse_index(tidx_raw, files.tidx)
    tdat_size = os.path.getsize(files.tdat)
    tdat_head = bytearray(fileio.pread(files.tdat, UNIVERSAL_HEADER_BYTES))
    tdat_uh = headers.parse_universal_header(bytes(tdat_head), files.tdat, TDAT)
    declared = int(tidx_uh["number_of_entries"])
    committed = len(entries) if declared < 0 else min(declared, len(entries))
    entries = _verified_entries(files, entries, committed, tdat_size)
    seg.index = np.array(entries, copy=True)
    seg.tidx_header = bytearray(tidx_raw[:UNIVERSAL_HEADER_BYTES])
    seg.tdat_header = tdat_head
    n = len(seg.index)
    if n:
        last = seg.index[-1]
        seg.indexed_end = int(last["file_offset"]) + int(last["block_bytes"])
    # body CRCs: the stored ones are trusted only when they describe exactly what we adopt
    # (0 is meflib's CRC_NO_ENTRY: recomputed too)
    if declared == n and int(tidx_uh["body_crc"]) != 0:
        seg.tidx_crc = int(tidx_uh["body_crc"])
    else:
        seg.tidx_crc = crc32(seg.index.tobytes())
    if int(tdat_uh["number_of_entries"]) == n and tdat_size >= seg.indexed_end and int(tdat_uh["body_crc"]) != 0:
        seg.tdat_crc = int(tdat_uh["body_crc"])
    else:
        seg.tdat_crc = fileio.file_crc(files.tdat, UNIVERSAL_HEADER_BYTES, seg.indexed_end)
    # maximum difference bytes: section 2 describes its first number_of_blocks blocks
    described = int(meta.s2["number_of_blocks"])
    mdb = int(meta.s2["maximum_difference_bytes"])
    seg.max_difference_bytes = 0 if mdb == _NO_DIFFERENCE_BYTES else mdb
    if described != n or mdb == _NO_DIFFERENCE_BYTES:
        first = 0 if mdb == _NO_DIFFERENCE_BYTES else max(0, min(described, n))
        for k in range(first, n):
            head = fileio.pread(files.tdat, RED_DIFFERENCE_BYTES + 4, int(seg.index[k]["file_offset"]))
            seg.max_difference_bytes = max(seg.max_difference_bytes, _UINT32.unpack_from(head, RED_DIFFERENCE_BYTES)[0])
    _recover_times(seg, uh, described)
    seg.sizes = seg.fingerprint()
    return seg


def _recover_times(seg, uh, described):
    """Start, end and data end of a recovered segment (uUTC)."""
    n = seg.n_blocks
    seg.start_time = to_uutc(uh["start_time"], seg.rto)
    if not n:
        seg.end_time = to_uutc(uh["end_time"], seg.rto) or seg.start_time
        seg.data_end = seg.end_time
        return
    first_t = to_uutc(seg.index[0]["start_time"], seg.rto)
    last_t = to_uutc(seg.index[-1]["start_time"], seg.rto)
    last_end = last_t + int(offset_us(int(seg.index[-1]["number_of_samples"]), seg.fs))
    seg.data_end = last_end
    stored_end = to_uutc(uh["end_time"], seg.rto)
    if seg.start_time is None:
        seg.start_time = first_t
    seg.start_time = min(seg.start_time, first_t)
    # the stored end (one rounding from the write's start, so up to 1 us before the end
    # recomputed from the last block) when the metadata is current and sane
    if described == n and stored_end is not None and stored_end >= last_end - 1:
        seg.end_time = stored_end
    else:
        seg.end_time = max(last_end, stored_end or last_end)


def _verified_entries(files, entries, committed, tdat_size):
    """Keep the entries past the committed ones only while their blocks are intact."""
    keep = committed
    for k in range(committed, len(entries)):
        off, nb = int(entries[k]["file_offset"]), int(entries[k]["block_bytes"])
        if off + nb > tdat_size:
            break
        block = fileio.pread(files.tdat, nb, off)
        if len(block) != nb or _UINT32.unpack_from(block, RED_BLOCK_CRC)[0] != crc32(block[RED_CRC_START:]):
            break
        if _UINT32.unpack_from(block, RED_NUMBER_OF_SAMPLES)[0] != int(entries[k]["number_of_samples"]):
            break
        keep = k + 1
    return entries[:keep]


def interrupted(seg):
    """True when an interrupted append left a segment's headers, metadata or file sizes
    behind its adopted index."""
    n = seg.n_blocks
    if not n:
        return False
    declared = (
        int(seg.s2["number_of_blocks"]),
        headers.header_entries(seg.tidx_header),
        headers.header_entries(seg.tdat_header),
    )
    try:
        sizes = (os.path.getsize(seg.files.tdat), os.path.getsize(seg.files.tidx))
    except OSError:
        return False
    return any(d != n for d in declared) or sizes != (seg.indexed_end, UNIVERSAL_HEADER_BYTES + n * TIME_SERIES_INDEX_BYTES)
