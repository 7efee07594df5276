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

from .. import _red, fileio
from .._red import crc32
from ..errors import FormatError, WriteConflictError
from ..format import crypto, headers
from ..format.layout import (
    METADATA_SECTION_3,
    RDAT,
    RED_BLOCK_CRC,
    RED_BLOCK_HEADER,
    RED_BLOCK_HEADER_BYTES,
    RED_CRC_START,
    RED_DIFFERENCE_BYTES,
    RED_DISCONTINUITY,
    RED_LEVEL_1_ENCRYPTED,
    RED_LEVEL_2_ENCRYPTED,
    SEGMENT_EXT,
    TDAT,
    TIDX,
    TIME_SERIES_INDEX,
    TIME_SERIES_INDEX_BYTES,
    TIME_SERIES_METADATA_SECTION_2,
    TMET,
    TS_CHANNEL_EXT,
    UNIVERSAL_HEADER_BYTES,
)
from ..format.metadata import writable
from ..format.times import effective_rto, to_uutc
from ..session import SegmentFiles, segment_dirnames
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
    """Keep the entries past the committed ones only while each describes its block
    exactly (see :func:`entry_matches_block`)."""
    keep = committed
    for k in range(committed, len(entries)):
        off, nb = int(entries[k]["file_offset"]), int(entries[k]["block_bytes"])
        if off + nb > tdat_size:
            break
        if not entry_matches_block(entries[k], fileio.pread(files.tdat, nb, off)):
            break
        keep = k + 1
    return entries[:keep]


_ENCRYPTED = RED_LEVEL_1_ENCRYPTED | RED_LEVEL_2_ENCRYPTED


def entry_matches_block(entry, block):
    """True when an index entry nobody committed is exactly the entry of the block it
    points at: the block's CRC verifies, and its header's sample count, size, start time
    and discontinuity flag, and its decoded extremes, are the entry's. (A power cut can
    tear an entry between two disk sectors; such an entry must not be adopted.)"""
    nb = int(entry["block_bytes"])
    if len(block) != nb or nb < RED_BLOCK_HEADER_BYTES:
        return False
    if _UINT32.unpack_from(block, RED_BLOCK_CRC)[0] != crc32(block[RED_CRC_START:]):
        return False
    head = np.frombuffer(block, RED_BLOCK_HEADER, 1)[0]
    n = int(entry["number_of_samples"])
    if (int(head["number_of_samples"]) != n or int(head["block_bytes"]) != nb
            or int(head["start_time"]) != int(entry["start_time"])
            or (int(head["flags"]) & RED_DISCONTINUITY) != (int(entry["RED_block_flags"]) & RED_DISCONTINUITY)):
        return False
    if int(head["flags"]) & _ENCRYPTED:  # statistics encrypted: the header checks above must do
        return True
    out = np.zeros(n, np.int32)
    status = np.zeros(1, np.int8)
    one = np.zeros(1, np.int64)
    _red.decode_blocks(np.frombuffer(block, np.uint8), one, one + nb, one + n, out, one, check_crc=False,
                       status=status)
    if status[0] != 0:
        return False
    return int(out.max()) == int(entry["maximum_sample_value"]) and int(out.min()) == int(entry["minimum_sample_value"])


def findings(seg):
    """What an interrupted append left in a recovered segment, as sentences (empty: the
    segment's files agree with its adopted index): headers or metadata behind the index,
    bytes past the last adopted block or entry."""
    out = []
    n = seg.n_blocks
    declared = {
        "the metadata": int(seg.s2["number_of_blocks"]),
        "the index header": headers.header_entries(seg.tidx_header),
        "the data header": headers.header_entries(seg.tdat_header),
    }
    for what, d in declared.items():
        if d != n:
            out.append(f"{what} declares {d} blocks; {n} are indexed and verified")
    try:
        tdat, tidx = os.path.getsize(seg.files.tdat), os.path.getsize(seg.files.tidx)
    except OSError:
        return out
    if tdat > seg.indexed_end:
        out.append(f"{tdat - seg.indexed_end} bytes after the last indexed block of the data file")
    want = UNIVERSAL_HEADER_BYTES + n * TIME_SERIES_INDEX_BYTES
    if tidx > want:
        out.append(f"{tidx - want} bytes after the last verified index entry")
    return out


def interrupted(seg):
    """True when an interrupted append left a segment's headers, metadata or file sizes
    behind its adopted index (:func:`findings`)."""
    return seg.n_blocks > 0 and bool(findings(seg))


def needs_look(files, session):
    """A cheap test (headers, sizes, the metadata, the last entry) for what
    :func:`findings` reports, without reading a whole index: False when the segment's
    files agree with each other."""
    try:
        tidx_size, tdat_size = os.path.getsize(files.tidx), os.path.getsize(files.tdat)
        tidx_head = fileio.pread(files.tidx, UNIVERSAL_HEADER_BYTES)
        tdat_head = fileio.pread(files.tdat, UNIVERSAL_HEADER_BYTES)
        _, meta = read_metadata(files.tmet, session)
    except (OSError, FormatError):
        return True
    if len(tidx_head) < UNIVERSAL_HEADER_BYTES or len(tdat_head) < UNIVERSAL_HEADER_BYTES:
        return True
    n = headers.header_entries(tidx_head)
    if n < 0 or tidx_size != UNIVERSAL_HEADER_BYTES + n * TIME_SERIES_INDEX_BYTES:
        return True
    if headers.header_entries(tdat_head) != n or int(meta.s2["number_of_blocks"]) != n:
        return True
    if n:
        raw = fileio.pread(files.tidx, TIME_SERIES_INDEX_BYTES, tidx_size - TIME_SERIES_INDEX_BYTES)
        last = np.frombuffer(raw, TIME_SERIES_INDEX, 1)[0]
        end = int(last["file_offset"]) + int(last["block_bytes"])
    else:
        end = UNIVERSAL_HEADER_BYTES
    return tdat_size != end


# --- segment folders -------------------------------------------------------------------


class OtherSpelling:
    """The files of a segment folder named in another writer's spelling (``ch-0.segd``):
    paths as :class:`~neo_mef3.session.SegmentFiles` gives them for ``ch-000000.segd``."""

    def __init__(self, channel_dir, channel, number, folder):
        self.channel, self.number = channel, number
        self.directory = os.path.join(channel_dir, folder)
        stem = folder[: -len(SEGMENT_EXT)]
        try:  # the files may be spelled either way inside
            names = os.listdir(self.directory)
            found = [e[: -len(TMET) - 1] for e in names if e.endswith("." + TMET)]
        except OSError:
            found = []
        self._stem = os.path.join(self.directory, (found[0] if found else stem) + ".")

    tmet = property(lambda self: self._stem + TMET)
    tidx = property(lambda self: self._stem + TIDX)
    tdat = property(lambda self: self._stem + TDAT)

    def __repr__(self):
        return f"<OtherSpelling {os.path.basename(self.directory)}>"


def segment_folders(channel_dir, channel):
    """The channel's segment folders by number: ``{number: [files, ...]}`` where files is
    a SegmentFiles (our six-digit spelling) or an :class:`OtherSpelling` (``ch-0.segd``,
    ``ch-12.segd``), as :func:`neo_mef3.session.segment_dirnames` lists them (two folders
    for one number both listed)."""
    out = {}
    try:
        listed = segment_dirnames(channel_dir, channel)
    except FormatError:
        return out
    for number, name in listed:
        if len(name) - len(channel) - len(SEGMENT_EXT) - 1 == 6:
            out.setdefault(number, []).append(SegmentFiles(channel_dir, channel, number))
            continue
        other = OtherSpelling(channel_dir, channel, number, name)
        if not os.path.isfile(other.tmet):
            continue  # (an empty or stray folder is not a segment)
        out.setdefault(number, []).append(other)
    return out


def last_segment_files(channel_dir, channel):
    """(files of the channel's highest-numbered segment or None, whether it is spelled
    another way); WriteConflictError when two folders hold that number."""
    folders = segment_folders(channel_dir, channel)
    if not folders:
        return None, False
    number = max(folders)
    found = folders[number]
    if len(found) > 1:
        names = ", ".join(sorted(os.path.basename(f.directory) for f in found))
        raise WriteConflictError(
            f"channel {channel!r} has {len(found)} folders for segment {number} ({names}); readers take them "
            "as separate segments with one number. Keep one (rename the other to a number after the highest) "
            "before writing to this channel",
            channel_dir,
        )
    return found[0], isinstance(found[0], OtherSpelling)
