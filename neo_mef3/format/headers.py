"""Universal headers and time-series metadata files: validation, decryption, building.

Reading checks what a damaged or foreign file would get wrong (size, type string,
version, byte order, CRCs) and raises FormatError / CrcError naming the file. Building
produces byte-exact headers for the Writer, CRCs included.
"""

import math
import struct
import uuid as _uuid

import numpy as np

from .. import fileio
from .._red import crc32
from ..errors import CrcError, FormatError, MefError, PasswordError
from . import crypto
from .layout import (
    BASE_NAME_BYTES,
    LITTLE_ENDIAN_CODE,
    MEF_VERSION,
    METADATA_FILE_BYTES,
    METADATA_SECTION_2_BYTES,
    METADATA_SECTION_2_OFFSET,
    METADATA_SECTION_3_BYTES,
    METADATA_SECTION_3_OFFSET,
    RED_BLOCK_HEADER_BYTES,
    TIME_SERIES_INDEX,
    TIME_SERIES_METADATA,
    TMET_NUMBER_OF_BLOCKS,
    TMET_NUMBER_OF_SAMPLES,
    TMET_RECORDING_TIME_OFFSET,
    TMET_SAMPLING_FREQUENCY,
    TMET_SECTION_LEVELS,
    TMET_START_SAMPLE,
    TMET_UNITS_CONVERSION_FACTOR,
    UH_BODY_CRC,
    UH_BYTE_ORDER,
    UH_CHANNEL_NAME,
    UH_HEADER_CRC,
    UH_LEVEL_UUID,
    UH_NUMBER_OF_ENTRIES,
    UH_PASSWORD_FIELDS,
    UH_SEGMENT_NUMBER,
    UH_START_TIME,
    UNIVERSAL_HEADER,
    UNIVERSAL_HEADER_BYTES,
    encode_text,
    text,
)


# header_crc, body_crc, file_type, mef_version_major, mef_version_minor, byte_order_code
_UH_HEAD = struct.Struct("<II5sBBB")
assert _UH_HEAD.size == UH_BYTE_ORDER + 1
_INT64 = struct.Struct("<q")
_UINT32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
# fields read by plain offsets (numpy record field access costs ~100s of ns per field)
_UH_TIMES = struct.Struct("<qq")  # start_time, end_time
_S2_COUNTS = struct.Struct("<qqq")  # start_sample, number_of_samples, number_of_blocks
_LEVELS = struct.Struct("bb")  # section 2 and 3 encryption levels
_NO_UUID = bytes(UH_LEVEL_UUID.stop - UH_LEVEL_UUID.start)


def check_universal_header(raw, path=None, file_type=None, check_crc=True):
    """Validate the first 1024 bytes of a MEF file (no record built): (header_crc, body_crc)."""
    if len(raw) < UNIVERSAL_HEADER_BYTES:
        raise FormatError(
            f"file is {len(raw)} bytes, shorter than the {UNIVERSAL_HEADER_BYTES}-byte MEF universal header",
            path,
        )
    header_crc, body_crc, ftype, major, minor, order = _UH_HEAD.unpack_from(raw, UH_HEADER_CRC)
    if file_type is not None:
        ftype = ftype.rstrip(b"\0").decode("ascii", "replace")
        if ftype != file_type:
            raise FormatError(f"not a MEF '{file_type}' file (type string is {ftype!r})", path)
    if major != MEF_VERSION[0]:
        raise FormatError(f"MEF version {major}.{minor} is not 3.x", path)
    if order != LITTLE_ENDIAN_CODE:
        raise FormatError("big-endian MEF files are not supported (byte order code is not 1)", path)
    if check_crc and header_crc != 0:  # 0 is MEF's "no entry"
        actual = crc32(memoryview(raw)[UH_BODY_CRC:UNIVERSAL_HEADER_BYTES])
        if header_crc != actual:
            raise CrcError(f"universal header CRC mismatch (stored {header_crc:#010x}, computed {actual:#010x})", path)
    return header_crc, body_crc


def parse_universal_header(raw, path=None, file_type=None, check_crc=True):
    """Validate the first 1024 bytes of a MEF file and return them as a UNIVERSAL_HEADER record."""
    check_universal_header(raw, path, file_type, check_crc)
    return np.frombuffer(raw, UNIVERSAL_HEADER, 1, 0)[0]


def check_body_crc(raw, uh, path=None):
    """Verify the universal header's body CRC over everything after the header (0 = not set)."""
    stored = int(uh["body_crc"])
    if stored == 0:
        return
    actual = crc32(memoryview(raw)[UNIVERSAL_HEADER_BYTES:])
    if stored != actual:
        raise CrcError(f"body CRC mismatch (stored {stored:#010x}, computed {actual:#010x})", path)


class TimeSeriesMetadata:
    """A decrypted ``.tmet`` file: ``.uh``, ``.s1``, ``.s2`` and ``.s3`` (None when locked).

    The fields a Reader needs for every segment are also plain attributes (read by
    offset, not through the numpy record): ``fs``, ``ufact``, ``start_stored`` and
    ``end_stored`` (universal header times as stored), ``start_sample``,
    ``number_of_samples``, ``number_of_blocks``, ``rto`` (see recording_time_offset).
    ``head`` is the universal header's 1024 bytes. ``raw``, the whole decrypted image,
    may be None (:func:`plain_metadata` keeps only the fields of a channel's later
    segments): sections 1-3 are then read from ``path`` again (with ``read_file(path)``,
    the session's byte source), validated and decrypted with ``keys``, when first asked for.
    """

    __slots__ = ("path", "_record", "raw", "head", "keys", "_s3_available", "fs", "ufact", "start_stored",
                 "end_stored", "start_sample", "number_of_samples", "number_of_blocks", "rto", "read_file")

    def __init__(self, path, record, keys, s3_available, raw=None):
        self.path = path
        self.read_file = None
        self._record = record  # (None: made from raw when first asked for)
        self.keys = keys
        self._s3_available = bool(s3_available)
        if raw is None:
            raw = record.tobytes()
        self.raw = raw  # the decrypted file image (the record's bytes)
        self.head = raw[:UNIVERSAL_HEADER_BYTES]
        self.fs = _F64.unpack_from(raw, TMET_SAMPLING_FREQUENCY)[0]
        self.ufact = _F64.unpack_from(raw, TMET_UNITS_CONVERSION_FACTOR)[0]
        self.start_stored, self.end_stored = _UH_TIMES.unpack_from(raw, UH_START_TIME)
        self.start_sample, self.number_of_samples, self.number_of_blocks = _S2_COUNTS.unpack_from(
            raw, TMET_START_SAMPLE
        )
        self.rto = _INT64.unpack_from(raw, TMET_RECORDING_TIME_OFFSET)[0] if self._s3_available else 0

    @classmethod
    def from_fields(cls, path, head, keys, fs, ufact, start_sample, number_of_samples, number_of_blocks, rto,
                    read_file=None):
        """An unencrypted file's metadata from its header and fields, without its image
        (`read_file(path)` reads it again when asked for; default: the local file)."""
        self = cls.__new__(cls)
        self.path = path
        self.read_file = read_file
        self._record = None
        self.raw = None
        self.head = head
        self.keys = keys
        self._s3_available = True
        self.fs = fs
        self.ufact = ufact
        self.start_stored, self.end_stored = _UH_TIMES.unpack_from(head, UH_START_TIME)
        self.start_sample = start_sample
        self.number_of_samples = number_of_samples
        self.number_of_blocks = number_of_blocks
        self.rto = rto
        return self

    @property
    def record(self):
        """The whole file image as a TIME_SERIES_METADATA record."""
        if self._record is None:
            if self.raw is None:
                self.raw = _read_image(self.path, self.keys, self.read_file)
            self._record = np.frombuffer(self.raw, TIME_SERIES_METADATA, 1, 0)[0]
        return self._record

    @property
    def uh(self):
        return np.frombuffer(self.head, UNIVERSAL_HEADER, 1, 0)[0]

    @property
    def s1(self):
        return self.record["section_1"]

    @property
    def s2(self):
        return self.record["section_2"]

    @property
    def s3(self):
        return self.record["section_3"] if self._s3_available else None

    @property
    def section3_available(self):
        return self._s3_available

    @property
    def recording_time_offset(self):
        """The offset used to de-negate times; 0 when section 3 is locked."""
        return self.rto


def _read_image(path, keys, read_file=None):
    """A metadata file read again for its sections (validated and decrypted as at first;
    a read torn by a Writer rewriting the file is read again, as ``parse_stable`` does)."""
    if read_file is None:

        def read_file(p):
            return fileio.read_file(p, "metadata", METADATA_FILE_BYTES)

    return parse_stable(lambda: read_file(path), lambda raw: parse_metadata(raw, path, keys=keys)).raw


def parse_stable(read, parse, attempts=5):
    """parse(read()), re-reading when parsing fails on bytes that a second read changes.

    A file that another process is rewriting in place (the Writer rewrites .tidx and
    .tdat headers after an append) can be read half old, half new: its CRC fails once,
    then the next read sees the finished bytes. Bytes that read the same twice are
    really damaged, and the error stands.
    """
    raw = read()
    for _ in range(attempts):
        try:
            return parse(raw)
        except MefError:
            again = read()
            if again == raw:
                raise
            raw = again
    return parse(raw)


#: what a channel scan keeps of every .tmet for plain_metadata: the universal header and
#: the two encryption levels, the 8-byte fields at these offsets (rate, units factor,
#: start sample, samples, blocks, recording time offset), and its judgement of the image
#: (``session.scan_channel(..., fs_offset=SCAN_FS_OFFSET)``)
SCAN_KEEP = UNIVERSAL_HEADER_BYTES + 2
SCAN_FIELDS = (TMET_SAMPLING_FREQUENCY, TMET_UNITS_CONVERSION_FACTOR, TMET_START_SAMPLE, TMET_NUMBER_OF_SAMPLES,
               TMET_NUMBER_OF_BLOCKS, TMET_RECORDING_TIME_OFFSET)
SCAN_FS_OFFSET = TMET_SAMPLING_FREQUENCY
_VALIDATION = UH_PASSWORD_FIELDS


def plain_rows(plain, heads):
    """Which scanned ``.tmet`` files :func:`plain_metadata` takes as the scan read them,
    for a whole table at once: ``(accepted, ref)``, ``accepted`` (bool per row) the rows
    judged plain (``plain``) that carry the password validation fields of the first
    such row, ``ref`` that row (-1 when there is none). ``heads``: the rows' first
    ``SCAN_KEEP`` bytes."""
    accepted = np.asarray(plain).astype(bool)
    if not accepted.any():
        return accepted, -1
    ref = int(np.argmax(accepted))
    fields = heads[:, _VALIDATION]
    accepted &= (fields == fields[ref]).all(axis=1)
    return accepted, ref


def plain_metadata(scans, paths, keys_for, read_file=None):
    """parse_metadata for the ``.tmet`` files of channel scans, where the scan found it simple.

    ``scans``: ``session.ChannelScan`` s made with ``keep=SCAN_KEEP,
    field_offsets=SCAN_FIELDS, fs_offset=SCAN_FS_OFFSET``; ``paths``: per scan, its
    segments' ``.tmet`` paths. Returns, per scan, a list with a TimeSeriesMetadata for
    every file the scan judged plain (whole, right type, version and byte order, both
    CRCs right, sections 2 and 3 not encrypted, a usable rate: what parse_metadata takes
    as it is) that has the password validation fields of the first such file
    (``keys_for(head, path)`` gives its keys, called once); None for every other file:
    the caller parses those one by one (parse_metadata then raises, or decrypts). Only a
    channel's first segment keeps its whole image; the others keep their header and
    fields (their sections are read again, with ``read_file(path)``, if asked for). No
    per-file parsing: about 2 us per segment.
    """
    out = []
    keys = validation = None
    for scan, ps in zip(scans, paths):
        metas = [None] * len(scan.numbers)
        out.append(metas)
        plain = scan.plain.tolist() if len(metas) else []
        if not any(plain):
            continue
        floats = scan.fields[:, :2].view("<f8").tolist()  # rate, units factor
        ints = scan.fields[:, 2:].tolist()  # start sample, samples, blocks, rto
        for i, ok in enumerate(plain):
            if not ok:
                continue
            head = scan.heads[i, :UNIVERSAL_HEADER_BYTES].tobytes()
            if validation is None:
                validation = head[_VALIDATION]
                keys = keys_for(head, ps[i])
            elif head[_VALIDATION] != validation:
                continue  # (other password fields: left to parse_metadata)
            if i == 0 and scan.first is not None:  # a channel's first segment keeps its whole image
                metas[i] = TimeSeriesMetadata(ps[i], None, keys, True, scan.first)
            else:
                metas[i] = TimeSeriesMetadata.from_fields(ps[i], head, keys, *floats[i], *ints[i], read_file)
    return out


def decrypt_sections(raw, path=None, password="", keys=None):
    """``(raw, keys, section3_available)``: a metadata file (``.tmet`` or ``.vmet``: the
    same sections) with sections 2 and 3 decrypted as far as the keys allow (section 2
    must be readable; a locked section 3 is zeroed). `keys` is reused when given,
    otherwise `password` is validated against the file's header."""
    if keys is None:
        uh = np.frombuffer(raw, UNIVERSAL_HEADER, 1, 0)[0]
        keys = crypto.unlock(
            password, uh["level_1_password_validation_field"], uh["level_2_password_validation_field"], path
        )
    s2_level, s3_level = _LEVELS.unpack_from(raw, TMET_SECTION_LEVELS)
    s3_available = True
    if s2_level > 0 or s3_level > 0:
        buf = bytearray(raw)
        if s2_level > 0:
            if not keys.can(s2_level):
                raise PasswordError(f"metadata section 2 is level-{s2_level} encrypted; a password is needed", path)
            sl = slice(METADATA_SECTION_2_OFFSET, METADATA_SECTION_2_OFFSET + METADATA_SECTION_2_BYTES)
            buf[sl] = crypto.decrypt(buf[sl], keys.key(s2_level))
        if s3_level > 0:
            if keys.can(s3_level):
                sl = slice(METADATA_SECTION_3_OFFSET, METADATA_SECTION_3_OFFSET + METADATA_SECTION_3_BYTES)
                buf[sl] = crypto.decrypt(buf[sl], keys.key(s3_level))
            else:
                s3_available = False
                buf[METADATA_SECTION_3_OFFSET:] = bytes(METADATA_SECTION_3_BYTES)  # never keep ciphertext around
        return bytes(buf), keys, s3_available
    return bytes(raw), keys, s3_available  # (an immutable copy when given a bytearray or memoryview)


def parse_metadata(raw, path=None, password="", keys=None, check_crc=True):
    """Parse and decrypt a time-series metadata file.

    `keys` (a crypto.Keys) is reused when given; otherwise `password` is validated
    against this file's header. Section 2 must be readable (it holds the sampling
    rate and counts); an inaccessible section 3 is reported as locked, not an error.
    """
    if len(raw) != METADATA_FILE_BYTES:
        raise FormatError(f"metadata file is {len(raw)} bytes; MEF 3.0 metadata is exactly {METADATA_FILE_BYTES}", path)
    _, body_crc = check_universal_header(raw, path, "tmet", check_crc)
    if check_crc and body_crc != 0:
        actual = crc32(memoryview(raw)[UNIVERSAL_HEADER_BYTES:])
        if body_crc != actual:
            raise CrcError(f"body CRC mismatch (stored {body_crc:#010x}, computed {actual:#010x})", path)
    raw, keys, s3_available = decrypt_sections(raw, path, password, keys)
    record = np.frombuffer(raw, TIME_SERIES_METADATA, 1, 0)[0]
    meta = TimeSeriesMetadata(path, record, keys, s3_available, raw)
    fs = meta.fs
    if not math.isfinite(fs) or fs <= 0 or fs > 1e9:
        raise FormatError(f"sampling frequency {fs!r} is not a usable rate", path)
    return meta


def parse_index(raw, path=None, check_crc=True):
    """The TIME_SERIES_INDEX entries of a ``.tidx`` file (header validated).

    The header's ``number_of_entries`` and body CRC describe the *committed* entries.
    An append that was interrupted after writing new entries but before rewriting the
    header leaves whole entries past the declared count (and possibly a torn partial
    one): the body CRC is then checked over the committed entries only, and the
    trailing entries are kept as long as each continues the previous one (next file
    offset, next start sample, sane sizes) -- they index blocks whose data was written
    first. A torn partial entry is ignored. Declaring more entries than the file holds
    is damage, not an interrupted append, and raises FormatError.
    """
    _, stored = check_universal_header(raw, path, "tidx", check_crc)
    uh = np.frombuffer(raw, UNIVERSAL_HEADER, 1, 0)[0]
    esize = TIME_SERIES_INDEX.itemsize
    body = len(raw) - UNIVERSAL_HEADER_BYTES
    whole = body // esize
    declared = _INT64.unpack_from(raw, UH_NUMBER_OF_ENTRIES)[0]
    if declared < 0:  # "no entry": the file itself is all there is
        if body % esize:
            raise FormatError(
                f"index body is {body} bytes, not a whole number of {esize}-byte entries (truncated file?)", path
            )
        if check_crc:
            check_body_crc(raw, uh, path)
        return uh, np.frombuffer(raw, TIME_SERIES_INDEX, whole, UNIVERSAL_HEADER_BYTES)
    if declared > whole:
        raise FormatError(f"index header declares {declared} entries; the file holds {whole}", path)
    if check_crc:
        actual = crc32(memoryview(raw)[UNIVERSAL_HEADER_BYTES : UNIVERSAL_HEADER_BYTES + declared * esize])
        if stored != actual:
            raise CrcError(f"body CRC mismatch (stored {stored:#010x}, computed {actual:#010x})", path)
    entries = np.frombuffer(raw, TIME_SERIES_INDEX, whole, UNIVERSAL_HEADER_BYTES)
    n = declared + count_continuing_entries(entries, declared)
    return uh, entries[:n]


def count_continuing_entries(entries, committed):
    """How many entries after the first `committed` ones continue the index plausibly.

    Entry k continues entry k-1 when it starts at the byte and at the sample where k-1
    ends, holds at least one sample and at least a RED block header's bytes.
    """
    n = 0
    if committed >= len(entries):
        return 0
    if committed:
        prev = entries[committed - 1]
        next_offset = int(prev["file_offset"]) + int(prev["block_bytes"])
        next_sample = int(prev["start_sample"]) + int(prev["number_of_samples"])
    else:
        next_offset = UNIVERSAL_HEADER_BYTES
        next_sample = None
    for k in range(committed, len(entries)):
        e = entries[k]
        if (
            int(e["file_offset"]) != next_offset
            or int(e["number_of_samples"]) < 1
            or int(e["block_bytes"]) < RED_BLOCK_HEADER_BYTES
            or (next_sample is not None and int(e["start_sample"]) != next_sample)
        ):
            break
        next_offset += int(e["block_bytes"])
        next_sample = int(e["start_sample"]) + int(e["number_of_samples"])
        n += 1
    return n


# --- the three files of a segment belong together ---------------------------------------


def segment_mismatch(head, meta_head):
    """Why a ``.tidx``/``.tdat`` header (raw bytes) does not belong with a segment's ``.tmet``
    header, or None. A segment's three files share channel name, segment number and level
    UUID (an unset UUID matches any)."""
    if head[UH_SEGMENT_NUMBER] != meta_head[UH_SEGMENT_NUMBER] or (
        head[UH_CHANNEL_NAME].rstrip(b"\0") != meta_head[UH_CHANNEL_NAME].rstrip(b"\0")
    ):
        return (
            f"this file is of channel {text(head[UH_CHANNEL_NAME])!r} segment "
            f"{int.from_bytes(head[UH_SEGMENT_NUMBER], 'little', signed=True)}, the metadata of channel "
            f"{text(meta_head[UH_CHANNEL_NAME])!r} segment "
            f"{int.from_bytes(meta_head[UH_SEGMENT_NUMBER], 'little', signed=True)}"
        )
    mine, theirs = head[UH_LEVEL_UUID], meta_head[UH_LEVEL_UUID]
    if mine != theirs and mine != _NO_UUID and theirs != _NO_UUID:
        return "this file's level UUID differs from that of the metadata"
    return None


def check_same_segment(head, meta_head, path=None, meta_path=None):
    """FormatError (naming `path`) unless :func:`segment_mismatch` finds nothing: a file
    copied over from another channel or segment would otherwise be read as this one's."""
    problem = segment_mismatch(head, meta_head)
    if problem is not None:
        raise FormatError(f"{problem} ({meta_path}): files of different segments are mixed", path)


# --- building -------------------------------------------------------------------------


def new_uuid():
    """16 random bytes for a level, file or provenance UUID."""
    return _uuid.uuid4().bytes


def build_universal_header(file_type, *, start, end, n_entries, max_entry, segment_number, channel,
                           session, level_uuid, file_uuid, provenance_uuid, fields):
    """A 1024-byte universal header (bytearray; CRCs left zero, see :func:`seal`).

    Times are stored times; `fields` the two password validation fields, or None for an
    unencrypted file.
    """
    uh = np.zeros((), UNIVERSAL_HEADER)
    uh["file_type"] = file_type.encode("ascii")
    uh["mef_version_major"] = MEF_VERSION[0]
    uh["mef_version_minor"] = MEF_VERSION[1]
    uh["byte_order_code"] = LITTLE_ENDIAN_CODE
    uh["start_time"] = start
    uh["end_time"] = end
    uh["number_of_entries"] = n_entries
    uh["maximum_entry_size"] = max_entry
    uh["segment_number"] = segment_number
    uh["channel_name"] = encode_text(channel, BASE_NAME_BYTES, "channel name")
    uh["session_name"] = encode_text(session, BASE_NAME_BYTES, "session name")
    uh["level_uuid"] = np.frombuffer(level_uuid, np.uint8)
    uh["file_uuid"] = np.frombuffer(file_uuid, np.uint8)
    uh["provenance_uuid"] = np.frombuffer(provenance_uuid, np.uint8)
    if fields is not None:
        uh["level_1_password_validation_field"] = np.frombuffer(fields[0], np.uint8)
        uh["level_2_password_validation_field"] = np.frombuffer(fields[1], np.uint8)
    return bytearray(uh.tobytes())


def patch_header(header, **values):
    """Copy (bytearray) of a 1024-byte header with some UNIVERSAL_HEADER fields replaced."""
    uh = np.frombuffer(bytes(header[:UNIVERSAL_HEADER_BYTES]), UNIVERSAL_HEADER, 1)[0].copy()
    for k, v in values.items():
        uh[k] = v
    return bytearray(uh.tobytes())


def header_entries(header):
    """The ``number_of_entries`` of a universal header (raw bytes)."""
    return _INT64.unpack_from(header, UH_NUMBER_OF_ENTRIES)[0]


def seal(header, body_crc):
    """Set the body CRC, then the header CRC, of a universal header (bytearray), in place."""
    _UINT32.pack_into(header, UH_BODY_CRC, body_crc)
    _UINT32.pack_into(header, UH_HEADER_CRC, crc32(memoryview(header)[UH_BODY_CRC:UNIVERSAL_HEADER_BYTES]))
    return header


def finalize_crcs(buf):
    """Fill in body CRC then header CRC of a complete file image (bytearray), in place."""
    return seal(buf, crc32(memoryview(buf)[UNIVERSAL_HEADER_BYTES:]))
