"""Copy a session file by file, rewriting what it declares and never its samples.

The engine behind ``anonymize`` and the re-keying commands. Every MEF file of the
source is read, edited in memory and written to the destination; RED blocks are never
decoded, so the samples are bit-identical. What can change (see :class:`Edits`):

* every time, by a constant shift, each stored in the sign convention it came in
  (meflib's negative "offset applied" form or absolute): universal-header start and
  end of every file, block-index entries, RED block headers (their CRCs recomputed),
  record headers and index entries, and the times inside Seiz, Curs and Epoc records;
  the copy's recording time offset may be set (``anonymize --shift`` sets it to 0);
* the passwords: metadata sections, encrypted record bodies and the statistics of
  encrypted RED blocks are decrypted with the source's keys and encrypted with the new
  ones (or left plain), every CRC and validation field recomputed;
* the session name and anonymized name of every universal header, and anything a
  metadata or record-body callback does to the decrypted sections and bodies.

Damaged input is refused rather than re-sealed: a block, record or header whose CRC
fails, or bytes an interrupted write left past the index, raise a MefError naming the
file (``neo-mef3 check`` says more). Files outside the MEF layout are not copied.
"""

import dataclasses
import os
import struct
from typing import Callable, Optional

import numpy as np

from .. import fileio
from ..errors import CrcError, FormatError, MefError, PasswordError
from ..format import crypto, headers
from ..format.crc import crc32
from ..format.layout import (
    ENCRYPTION_BLOCK_BYTES,
    METADATA_SECTION_2_BYTES,
    METADATA_SECTION_2_OFFSET,
    METADATA_SECTION_3_BYTES,
    METADATA_SECTION_3_OFFSET,
    PAD_BYTE,
    RDAT,
    RECORD_BODY_BYTES,
    RECORD_CRC,
    RECORD_CRC_START,
    RECORD_ENCRYPTION,
    RECORD_HEADER_BYTES,
    RECORD_INDEX,
    RECORD_TYPE,
    RED_BLOCK_CRC,
    RED_BLOCK_HEADER_BYTES,
    RED_CRC_START,
    RED_FLAGS,
    RED_LEVEL_1_ENCRYPTED,
    RED_LEVEL_2_ENCRYPTED,
    RED_START_TIME,
    RED_STATISTICS,
    RIDX,
    SESSION_EXT,
    TIME_SERIES_INDEX,
    TIME_SERIES_INDEX_BYTES,
    TIME_SERIES_METADATA,
    TMET_SECTION_LEVELS,
    UNIVERSAL_HEADER,
    UNIVERSAL_HEADER_BYTES,
    UUTC_NO_ENTRY,
    encode_text,
    pad_length,
    text,
)
from ..format.times import to_uutc, to_uutc_array
from ..session import SessionTree

__all__ = ["Edits", "rewrite_session", "RECORD_TIME_FIELDS", "RECORD_TEXT_FIELDS"]

_BLOCK_ENCRYPTED = RED_LEVEL_1_ENCRYPTED | RED_LEVEL_2_ENCRYPTED
_BATCH_BYTES = 8 << 20
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_I32 = struct.Struct("<i")
_BLOCK_TIME_OFFSET = RED_START_TIME
_BLOCK_STATS = RED_STATISTICS  # the part an encrypted block encrypts

#: byte offsets of the times inside record bodies, per type (Seiz channels separately)
RECORD_TIME_FIELDS = {"Seiz": (0, 8), "Curs": (8,), "Epoc": (8, 16)}
_SEIZ_CHANNELS = (24, 1312, 272)  # count at 24, entries from 1312, 272 bytes each
_SEIZ_CHANNEL_TIMES = (256, 264)

#: free-text fields of record bodies: (offset, size or None for "to the end")
RECORD_TEXT_FIELDS = {
    "Note": ((0, None),), "SyLg": ((0, None),), "EDFA": ((8, None),),
    "Seiz": ((32, 128), (160, 128), (288, 1024)),
    "CSti": ((0, 64), (72, 64), (136, 64)),
    "ESti": ((32, 128), (160, 128), (288, 128)),
    "Curs": ((32, 128),), "Epoc": ((32, 32), (64, 128)),
}


@dataclasses.dataclass
class Edits:
    """What a rewrite changes (everything else is copied as stored).

    ``metadata(s2, s3, path)`` gets the decrypted sections 2 and 3 of each ``.tmet`` as
    writable one-element numpy record arrays; ``record_body(rtype, body)`` gets each
    decrypted record body (a bytearray, edited in place; its length must not change).
    ``rekey=True`` writes ``new_fields``/``new_keys`` (both None: unencrypted);
    ``encrypt_plain_records`` then encrypts record bodies the source left plain.
    """

    shift_us: int = 0
    recording_time_offset: Optional[int] = None
    session_name: Optional[str] = None
    anonymized_name: Optional[str] = None
    rekey: bool = False
    new_fields: Optional[tuple] = None
    new_keys: Optional[crypto.Keys] = None
    encrypt_plain_records: bool = False
    metadata: Optional[Callable] = None
    record_body: Optional[Callable] = None


def _read(path):
    return fileio.read_file(path)


def _write(path, chunks):
    fileio.write_new_file(path, chunks)


class _Rewriter:
    def __init__(self, keys_in, edits, tracker):
        self.keys_in = keys_in
        self.e = edits
        self.keys_out = edits.new_keys if edits.rekey else keys_in
        self.out_encrypted = (edits.new_fields is not None) if edits.rekey else None
        self.tracker = tracker
        self.counts = {"files": 0, "blocks": 0, "records": 0, "segments": 0}

    # --- times ------------------------------------------------------------------------
    def rto_out(self, rto_in):
        return rto_in if self.e.recording_time_offset is None else int(self.e.recording_time_offset)

    def move(self, stored, rto_in, path):
        """A stored time moved by the shift, in the sign convention it came in."""
        stored = int(stored)
        rto_out = self.rto_out(rto_in)
        if stored == UUTC_NO_ENTRY or (self.e.shift_us == 0 and rto_out == rto_in):
            return stored
        t = to_uutc(stored, rto_in) + int(self.e.shift_us)
        if stored < 0:
            if t - rto_out <= 0:
                raise FormatError(f"time {t} us would fall at or before the recording time offset "
                                  f"{rto_out}; choose another shift", path)
            return -(t - rto_out)
        if t < 0:
            raise FormatError(f"the shift moves a time before 1970 ({t} us); choose another shift", path)
        return t

    def move_array(self, stored, rto_in, path):
        stored = np.asarray(stored, np.int64)
        rto_out = self.rto_out(rto_in)
        if self.e.shift_us == 0 and rto_out == rto_in:
            return stored
        none = stored == UUTC_NO_ENTRY
        t = to_uutc_array(stored, rto_in) + np.int64(self.e.shift_us)
        neg = stored < 0
        bad = ~none & np.where(neg, t - rto_out <= 0, t < 0)
        if bad.any():
            raise FormatError("the shift moves a time before 1970 or before the recording time offset; "
                              "choose another shift", path)
        out = np.where(neg, -(t - np.int64(rto_out)), t)
        out[none] = UUTC_NO_ENTRY
        return out

    # --- universal headers -----------------------------------------------------------
    def header(self, buf, rto_in, path):
        """Edit the universal header at the start of ``buf`` (CRCs are set by the caller)."""
        uh = np.frombuffer(buf, UNIVERSAL_HEADER, 1, 0)
        for field in ("start_time", "end_time"):
            uh[field] = self.move(uh[field][0], rto_in, path)
        if self.e.session_name is not None:
            uh["session_name"] = encode_text(self.e.session_name, 256, "session name")
        if self.e.anonymized_name is not None:
            uh["anonymized_name"] = encode_text(self.e.anonymized_name, 256, "anonymized name")
        if self.e.rekey:
            f1, f2 = self.e.new_fields or (bytes(16), bytes(16))
            uh["level_1_password_validation_field"] = np.frombuffer(f1, np.uint8)
            uh["level_2_password_validation_field"] = np.frombuffer(f2, np.uint8)

    def level_out(self, level, default):
        """The encryption level a section, record or block gets in the copy."""
        if self.out_encrypted is None:  # keys kept: levels kept
            return level
        if self.out_encrypted:
            return abs(level) if level else default
        return -abs(level)  # "level n, stored decrypted", as meflib marks a plain section

    # --- metadata ------------------------------------------------------------------------
    def tmet(self, src, dst):
        raw = _read(src)
        meta = headers.parse_metadata(raw, src, keys=self.keys_in)
        if meta.s3 is None:
            raise PasswordError("metadata section 3 is encrypted: this needs the level-2 password", src)
        rto_in = int(meta.rto)
        buf = bytearray(meta.raw)
        rec = np.frombuffer(buf, TIME_SERIES_METADATA, 1, 0)
        s2, s3 = rec["section_2"], rec["section_3"]
        if self.e.recording_time_offset is not None:
            s3["recording_time_offset"] = int(self.e.recording_time_offset)
        if self.e.metadata is not None:
            self.e.metadata(s2, s3, src)
        self.header(buf, rto_in, src)
        levels = list(struct.unpack_from("bb", buf, TMET_SECTION_LEVELS))
        out_levels = [self.level_out(levels[0], 1), self.level_out(levels[1], 2)]
        struct.pack_into("bb", buf, TMET_SECTION_LEVELS, *out_levels)
        for level, offset, size in ((out_levels[0], METADATA_SECTION_2_OFFSET, METADATA_SECTION_2_BYTES),
                                    (out_levels[1], METADATA_SECTION_3_OFFSET, METADATA_SECTION_3_BYTES)):
            if level > 0:
                if self.keys_out is None or not self.keys_out.can(level):
                    raise PasswordError(f"level-{level} encryption needs that level's key", src)
                buf[offset:offset + size] = crypto.encrypt(bytes(buf[offset:offset + size]), self.keys_out.key(level))
        headers.finalize_crcs(buf)
        _write(dst, [buf])
        self.tracker.advance(len(raw))
        return rto_in

    # --- block index and data ---------------------------------------------------------
    def tidx(self, src, dst, rto_in):
        raw = _read(src)
        uh, entries = headers.parse_index(raw, src)
        body = len(raw) - UNIVERSAL_HEADER_BYTES
        declared = int(uh["number_of_entries"])
        if body % TIME_SERIES_INDEX_BYTES or (0 <= declared != body // TIME_SERIES_INDEX_BYTES):
            raise FormatError("the index holds entries or bytes past its declared count (an interrupted "
                              "write; see `neo-mef3 check`): complete or repair the session first", src)
        original = entries.copy()
        buf = bytearray(raw)
        arr = np.frombuffer(buf, TIME_SERIES_INDEX, len(original), UNIVERSAL_HEADER_BYTES)
        arr["start_time"] = self.move_array(original["start_time"], rto_in, src)
        if self.out_encrypted is False:
            arr["RED_block_flags"] &= np.uint8(0xFF ^ _BLOCK_ENCRYPTED)
        self.header(buf, rto_in, src)
        headers.finalize_crcs(buf)
        _write(dst, [buf])
        self.tracker.advance(len(raw))
        return original

    def tdat(self, src, dst, rto_in, entries):
        offs = entries["file_offset"].astype(np.int64)
        nbytes = entries["block_bytes"].astype(np.int64)
        order = np.argsort(offs, kind="stable")
        offs, nbytes = offs[order], nbytes[order]
        size = os.path.getsize(src)
        ends = offs + nbytes
        expected_starts = np.concatenate(([UNIVERSAL_HEADER_BYTES], ends[:-1]))
        if len(offs) and (offs != expected_starts).any():
            raise FormatError("the data file's blocks are not back to back as indexed", src)
        last = int(ends[-1]) if len(ends) else UNIVERSAL_HEADER_BYTES
        if last != size:
            raise FormatError(f"{size - last} bytes after the last indexed block (an interrupted write; see "
                              "`neo-mef3 check`): complete or repair the session first", src)
        with open(src, "rb") as f, open(dst, "wb") as g:
            head = bytearray(f.read(UNIVERSAL_HEADER_BYTES))
            headers.parse_universal_header(head, src, "tdat")
            g.write(bytes(UNIVERSAL_HEADER_BYTES))
            crc = 0xFFFFFFFF
            i = 0
            while i < len(offs):
                j, batch = i, 0
                while j < len(offs) and (j == i or batch + nbytes[j] <= _BATCH_BYTES):
                    batch += int(nbytes[j])
                    j += 1
                buf = bytearray(f.read(batch))
                if len(buf) != batch:
                    raise FormatError("the data file is shorter than its index says", src)
                pos = 0
                for k in range(i, j):
                    self.block(buf, pos, int(nbytes[k]), rto_in, src)
                    pos += int(nbytes[k])
                crc = crc32(buf, crc=crc)
                g.write(buf)
                self.counts["blocks"] += j - i
                self.tracker.advance(batch)
                i = j
            self.header(head, rto_in, src)
            headers.seal(head, crc)
            g.seek(0)
            g.write(head)
            g.flush()
            os.fsync(g.fileno())
        self.tracker.advance(UNIVERSAL_HEADER_BYTES)

    def block(self, buf, pos, size, rto_in, path):
        if size < RED_BLOCK_HEADER_BYTES:
            raise FormatError(f"RED block at byte {pos} is shorter than its header", path)
        view = memoryview(buf)
        if crc32(view[pos + RED_CRC_START:pos + size]) != _U32.unpack_from(buf, pos + RED_BLOCK_CRC)[0]:
            raise CrcError("a RED block fails its CRC: refusing to re-seal damaged data "
                           "(`neo-mef3 check` lists the damage)", path)
        changed = False
        stored = _I64.unpack_from(buf, pos + _BLOCK_TIME_OFFSET)[0]
        moved = self.move(stored, rto_in, path)
        if moved != stored:
            _I64.pack_into(buf, pos + _BLOCK_TIME_OFFSET, moved)
            changed = True
        flags = buf[pos + RED_FLAGS]
        if flags & _BLOCK_ENCRYPTED and self.e.rekey:
            level = 1 if flags & RED_LEVEL_1_ENCRYPTED else 2
            if not self.keys_in.can(level):
                raise PasswordError(f"RED blocks are level-{level} encrypted; this password does not unlock them", path)
            stats = slice(pos + _BLOCK_STATS.start, pos + _BLOCK_STATS.stop)
            plain = crypto.decrypt(bytes(buf[stats]), self.keys_in.key(level))
            if self.out_encrypted:
                buf[stats] = crypto.encrypt(plain, self.keys_out.key(level))
            else:
                buf[stats] = plain
                buf[pos + RED_FLAGS] = flags & (0xFF ^ _BLOCK_ENCRYPTED)
            changed = True
        if changed:
            _U32.pack_into(buf, pos + RED_BLOCK_CRC, crc32(view[pos + RED_CRC_START:pos + size]))

    # --- records -----------------------------------------------------------------------
    def body_times(self, rtype, body, rto_in, path):
        def move_at(off):
            if off + 8 <= len(body):
                _I64.pack_into(body, off, self.move(_I64.unpack_from(body, off)[0], rto_in, path))

        for off in RECORD_TIME_FIELDS.get(rtype, ()):
            move_at(off)
        if rtype == "Seiz" and len(body) >= _SEIZ_CHANNELS[0] + 4:
            count_at, first, size = _SEIZ_CHANNELS
            for k in range(max(0, _I32.unpack_from(body, count_at)[0])):
                base = first + k * size
                if base + size > len(body):
                    break
                for off in _SEIZ_CHANNEL_TIMES:
                    move_at(base + off)

    def rdat(self, src, dst, rto_in):
        """Rewrite a records file; returns {old offset: (new offset, new level)} for its index."""
        raw = _read(src)
        uh = headers.parse_universal_header(raw, src, RDAT)
        headers.check_body_crc(raw, uh, src)
        declared = int(uh["number_of_entries"])
        out, moved = [], {}
        pos, written, largest, count = UNIVERSAL_HEADER_BYTES, UNIVERSAL_HEADER_BYTES, 0, 0
        while pos + RECORD_HEADER_BYTES <= len(raw) and (declared < 0 or count < declared):
            size = _U32.unpack_from(raw, pos + RECORD_BODY_BYTES)[0]
            end = pos + RECORD_HEADER_BYTES + size
            if end > len(raw):
                raise FormatError(f"record at byte {pos} runs past the end of the file", src)
            if crc32(memoryview(raw)[pos + RECORD_CRC_START:end]) != _U32.unpack_from(raw, pos + RECORD_CRC)[0]:
                raise CrcError(f"record at byte {pos} fails its CRC: refusing to re-seal damaged data", src)
            rtype = text(raw[pos + RECORD_TYPE.start:pos + RECORD_TYPE.stop])
            level = struct.unpack_from("b", raw, pos + RECORD_ENCRYPTION)[0]
            body = bytearray(raw[pos + RECORD_HEADER_BYTES:end])
            if level > 0:
                if not self.keys_in.can(level):
                    raise PasswordError(f"records are level-{level} encrypted: this needs the level-2 password", src)
                if len(body) % ENCRYPTION_BLOCK_BYTES:
                    raise FormatError(f"encrypted record at byte {pos} is not a whole number of AES blocks", src)
                body = bytearray(crypto.decrypt(bytes(body), self.keys_in.key(level)))
            self.body_times(rtype, body, rto_in, src)
            if self.e.record_body is not None:
                before = len(body)
                self.e.record_body(rtype, body)
                if len(body) != before:
                    raise AssertionError("a record-body edit changed the body's length")
            level_out = self.record_level(level)
            if level_out > 0:
                body += bytes([PAD_BYTE]) * pad_length(len(body), ENCRYPTION_BLOCK_BYTES)
                body = bytearray(crypto.encrypt(bytes(body), self.keys_out.key(level_out)))
            head = bytearray(raw[pos:pos + RECORD_HEADER_BYTES])
            struct.pack_into("b", head, 11, level_out)
            _U32.pack_into(head, 12, len(body))
            _I64.pack_into(head, 16, self.move(_I64.unpack_from(head, 16)[0], rto_in, src))
            record = head + body
            _U32.pack_into(record, 0, crc32(memoryview(record)[4:]))
            moved[pos] = (written, level_out)
            out.append(record)
            written += len(record)
            largest = max(largest, len(record))
            pos, count = end, count + 1
        body = b"".join(out)
        head = bytearray(raw[:UNIVERSAL_HEADER_BYTES])
        if largest:
            _I64.pack_into(head, 40, largest)  # maximum_entry_size
        self.header(head, rto_in, src)
        headers.seal(head, crc32(body))
        _write(dst, [head, body])
        self.counts["records"] += count
        self.tracker.advance(len(raw))
        return moved

    def record_level(self, level):
        if self.out_encrypted is None or level < 0:
            return level
        if not self.out_encrypted:
            return 0
        return level if level > 0 else (2 if self.e.encrypt_plain_records else 0)

    def ridx(self, src, dst, rto_in, moved):
        raw = _read(src)
        uh = headers.parse_universal_header(raw, src, RIDX)
        headers.check_body_crc(raw, uh, src)
        n = (len(raw) - UNIVERSAL_HEADER_BYTES) // RECORD_INDEX.itemsize
        buf = bytearray(raw[:UNIVERSAL_HEADER_BYTES + n * RECORD_INDEX.itemsize])
        entries = np.frombuffer(buf, RECORD_INDEX, n, UNIVERSAL_HEADER_BYTES)
        for k in range(n):
            old = int(entries["file_offset"][k])
            if old not in moved:
                raise FormatError(f"record index entry {k} points at byte {old}, where no record starts", src)
            entries["file_offset"][k], entries["encryption"][k] = moved[old]
            entries["time"][k] = self.move(entries["time"][k], rto_in, src)
        self.header(buf, rto_in, src)
        headers.finalize_crcs(buf)
        _write(dst, [buf])
        self.tracker.advance(len(raw))

    def records(self, rdat, ridx, out_dir, out_base, rto_in):
        if not os.path.isfile(rdat):
            if os.path.isfile(ridx):
                raise FormatError("record index without its record data file", ridx)
            return
        moved = self.rdat(rdat, os.path.join(out_dir, f"{out_base}.{RDAT}"), rto_in)
        if os.path.isfile(ridx):
            self.ridx(ridx, os.path.join(out_dir, f"{out_base}.{RIDX}"), rto_in, moved)


def _layout_files(tree):
    """Every file of the MEF layout in a session, and the session's other files."""
    known = {tree.rdat, tree.ridx}
    for name in tree.channels:
        known.update(tree.channel_records(name))
        for sf in tree.segments(name):
            known.update((sf.tmet, sf.tidx, sf.tdat, sf.rdat, sf.ridx))
    present, other = [], []
    for root, _dirs, files in os.walk(tree.path):
        for f in files:
            p = os.path.join(root, f)
            (present if p in known else other).append(p)
    return present, sorted(os.path.relpath(p, tree.path) for p in other)


def _first_rto(keys, tree, name):
    """The recording time offset of a channel's first segment (0 without one)."""
    segs = tree.segments(name)
    if not segs:
        return 0
    meta = headers.parse_metadata(_read(segs[0].tmet), segs[0].tmet, keys=keys)
    return int(meta.rto)


def rewrite_session(src, dst, keys_in, edits, tracker):
    """Write the edited copy of session ``src`` at ``dst`` (a new directory named
    ``<name>.mefd``). ``keys_in`` unlocks the source (level 2). Returns counts:
    files, segments, blocks, records, and the paths not copied."""
    tree = SessionTree(src)
    present, other = _layout_files(tree)
    tracker.phase("rewrite", sum(os.path.getsize(p) for p in present), unit="B")
    rw = _Rewriter(keys_in, edits, tracker)
    os.mkdir(dst)
    base = os.path.basename(os.path.normpath(dst))
    out_name = base[: -len(SESSION_EXT)] if base.endswith(SESSION_EXT) else base
    session_rto = _first_rto(keys_in, tree, tree.channels[0]) if tree.channels else 0
    rw.records(tree.rdat, tree.ridx, dst, out_name, session_rto)
    for name in tree.channels:
        cdir = os.path.join(dst, os.path.basename(tree.channel_dirs[name]))
        os.mkdir(cdir)
        first_rto = None
        for sf in tree.segments(name):
            tracker.check()
            sdir = os.path.join(cdir, os.path.basename(sf.directory))
            os.mkdir(sdir)
            out = lambda p: os.path.join(sdir, os.path.basename(p))  # noqa: E731
            rto = rw.tmet(sf.tmet, out(sf.tmet))
            first_rto = rto if first_rto is None else first_rto
            entries = rw.tidx(sf.tidx, out(sf.tidx), rto)
            rw.tdat(sf.tdat, out(sf.tdat), rto, entries)
            rw.records(sf.rdat, sf.ridx, sdir, os.path.basename(sf.rdat)[: -len(RDAT) - 1], rto)
            rw.counts["segments"] += 1
        rdat, ridx = tree.channel_records(name)
        rw.records(rdat, ridx, cdir, name, first_rto or 0)
    counts = dict(rw.counts)
    counts["files"] = len(present)
    counts["not_copied"] = other
    if not tree.channels and not os.path.isfile(tree.rdat):
        raise MefError("the session holds nothing to copy", tree.path)
    return counts
