"""Records (annotations): the ``.rdat`` record stream, its ``.ridx`` index, whole files.

A record is a 24-byte header (CRC, 4-letter type, version, encryption level, body bytes,
time) followed by its body, padded with ``0x7e`` to a multiple of 16 bytes so a body can
be AES-encrypted in place. Bodies (:mod:`.record_bodies`) of the types meflib defines are
decoded into named fields; any other type comes back with its raw ``body`` bytes.

:func:`parse_records_file` reads a whole ``.rdat`` image (header, CRCs, owner, access)
and :func:`build_records_files` makes the ``.rdat`` and ``.ridx`` images a Writer
stores: every reader and writer of records files goes through these two.
"""

import struct

import numpy as np

from .._red import crc32
from ..errors import CrcError, FormatError, PasswordError
from . import crypto, headers
from .layout import (
    ENCRYPTION_BLOCK_BYTES,
    PAD_BYTE,
    RDAT,
    RECORD_CRC,
    RECORD_CRC_START,
    RECORD_HEADER,
    RECORD_HEADER_BYTES,
    RECORD_INDEX,
    RECORD_INDEX_BYTES,
    RIDX,
    UNIVERSAL_HEADER_BYTES,
    UUTC_NO_ENTRY,
    pad_length,
    text,
)
from .record_bodies import BODY_FIELDS, KNOWN_TYPES, decode_body, encode_body  # noqa: F401  (part of this module's API)
from .times import to_stored, to_uutc

_UINT32 = struct.Struct("<I")


def parse_records(data, keys, rto=0, path=None, check_crc=True, expected=None):
    """Decode every record of an ``.rdat`` file's bytes (universal header excluded).

    `keys` is a :class:`crypto.Keys`; an encrypted body needs level access to its
    encryption level, otherwise PasswordError. `expected` (the header's entry count)
    bounds the walk; a record running past the end of the data is a FormatError.
    """
    data = memoryview(data)
    out = []
    pos = 0
    n = len(data)
    while pos < n and (expected is None or len(out) < expected):
        if pos + RECORD_HEADER_BYTES > n:
            raise FormatError(f"record {len(out)} at byte {pos + UNIVERSAL_HEADER_BYTES} is truncated", path)
        head = np.frombuffer(data, RECORD_HEADER, 1, pos)[0]
        body_bytes = int(head["bytes"])
        end = pos + RECORD_HEADER_BYTES + body_bytes
        if end > n:
            raise FormatError(
                f"record {len(out)} at byte {pos + UNIVERSAL_HEADER_BYTES} claims {body_bytes} body bytes; "
                f"only {n - pos - RECORD_HEADER_BYTES} remain",
                path,
            )
        if check_crc:  # (over the whole header after the CRC, the encryption byte included)
            crc = crc32(data[pos + RECORD_CRC_START : end])
            if crc != int(head["record_crc"]):
                raise CrcError(f"record {len(out)} at byte {pos + UNIVERSAL_HEADER_BYTES} fails its CRC", path)
        rtype = text(head["type_string"])
        body = bytes(data[pos + RECORD_HEADER_BYTES : end])
        level = int(head["encryption"])
        if level > 0:
            if not keys.can(level):
                raise PasswordError(
                    f"record {len(out)} is level-{level} encrypted; this password does not unlock it",
                    path,
                )
            if body_bytes % ENCRYPTION_BLOCK_BYTES:
                raise FormatError(f"encrypted record {len(out)} is not a whole number of AES blocks", path)
            body = crypto.decrypt(body, keys.key(level))
        rec = {
            "type": rtype,
            "time": to_uutc(head["time"], rto),
            "version_major": int(head["version_major"]),
            "version_minor": int(head["version_minor"]),
            "encryption": level,
        }
        rec.update(decode_body(rtype, body, rto))
        out.append(rec)
        pos = end
    if expected is not None and len(out) < expected:
        raise FormatError(f"the header announces {expected} records; the file holds {len(out)}", path)
    return out


def build_records(records, rto=0, keys=None, encryption_level=0):
    """Serialise record dicts into (rdat body bytes, ridx entries, max record bytes).

    Bodies are padded to 16 bytes with 0x7e; with ``encryption_level`` 2 and keys they
    are AES-encrypted and the CRC is taken over the encrypted bytes, as meflib does.
    File offsets in the index are file-relative (after the 1024-byte universal header).
    """
    chunks = []
    index = np.zeros(len(records), RECORD_INDEX)
    pos = UNIVERSAL_HEADER_BYTES
    max_bytes = 0
    for i, rec in enumerate(records):
        rtype = rec.get("type", "Note")
        if len(rtype.encode("ascii", "replace")) != 4:
            raise ValueError(f"record type must be 4 ASCII characters, got {rtype!r}")
        body = encode_body(rec, rto)
        body += bytes([PAD_BYTE]) * pad_length(len(body), ENCRYPTION_BLOCK_BYTES)
        level = 0
        if encryption_level and keys is not None and keys.can(encryption_level):
            body = crypto.encrypt(body, keys.key(encryption_level))
            level = encryption_level
        head = np.zeros(1, RECORD_HEADER)[0]
        head["type_string"] = rtype.encode("ascii")
        head["version_major"] = int(rec.get("version_major", 1))
        head["version_minor"] = int(rec.get("version_minor", 0))
        head["encryption"] = level
        head["bytes"] = len(body)
        head["time"] = to_stored(rec["time"], rto) if rec.get("time") is not None else UUTC_NO_ENTRY
        raw = bytearray(head.tobytes() + body)
        _UINT32.pack_into(raw, RECORD_CRC, crc32(bytes(raw[RECORD_CRC_START:])))
        chunks.append(bytes(raw))
        index[i]["type_string"] = rtype.encode("ascii")
        index[i]["version_major"] = head["version_major"]
        index[i]["version_minor"] = head["version_minor"]
        index[i]["encryption"] = level
        index[i]["file_offset"] = pos
        index[i]["time"] = head["time"]
        pos += len(raw)
        max_bytes = max(max_bytes, len(raw))
    return b"".join(chunks), index, max_bytes


def parse_records_file(raw, path=None, keys=None, keyring=None, owner="", rto=0):
    """The records of a whole ``.rdat`` image, every check made.

    The universal header and the body CRC are verified; the header must name `owner`
    (the channel for channel- and segment-level records, "" at the session level), so
    that a records file copied to the wrong place is refused. `keys` open the bodies;
    without them the file's own header is unlocked with `keyring`, and records then need
    level-2 access (they may identify the subject). FormatError / CrcError /
    PasswordError naming `path`.
    """
    uh = headers.parse_universal_header(raw, path, RDAT)
    headers.check_body_crc(raw, uh, path)
    if keys is None:
        keys = keyring.for_header(uh, path)
        if keys.access_level < crypto.LEVEL_2_ACCESS:
            raise PasswordError("records of an encrypted session need the level-2 password", path)
    named = text(uh["channel_name"])
    if named != owner:  # session-level records name no channel, a channel's name it
        whose = f"channel {named!r}" if named else "the session level"
        where = f"channel {owner!r}" if owner else "the session level"
        raise FormatError(f"these records are of {whose}, found at {where}: a records file was mixed up", path)
    expected = int(uh["number_of_entries"])
    return parse_records(
        memoryview(raw)[UNIVERSAL_HEADER_BYTES:], keys, rto, path, check_crc=True,
        expected=expected if expected >= 0 else None,
    )


def build_records_files(records, *, rto, keys, encryption_level, segment_number, channel, session, level_uuid,
                        fields):
    """The ``.rdat`` and ``.ridx`` images of a level's records: ``(rdat chunks, ridx chunks)``.

    `records` are record dicts (each with a ``time``); the universal headers carry the
    level's `segment_number` code, `channel` ("" at the session level), `session`,
    `level_uuid` and the password validation `fields` (None: unencrypted), with the
    first and last record times and both CRCs.
    """
    body, index, max_bytes = build_records(records, rto, keys, encryption_level=encryption_level)
    times = [r["time"] for r in records]
    common = dict(start=to_stored(min(times), rto), end=to_stored(max(times), rto), segment_number=segment_number,
                  channel=channel, session=session, level_uuid=level_uuid, fields=fields)
    uuid = headers.new_uuid()
    rdat_header = headers.build_universal_header(RDAT, n_entries=len(records), max_entry=max_bytes, file_uuid=uuid,
                                                 provenance_uuid=uuid, **common)
    headers.seal(rdat_header, crc32(body))
    ridx_body = index.tobytes()
    uuid = headers.new_uuid()
    ridx_header = headers.build_universal_header(RIDX, n_entries=len(records), max_entry=RECORD_INDEX_BYTES,
                                                 file_uuid=uuid, provenance_uuid=uuid, **common)
    headers.seal(ridx_header, crc32(ridx_body))
    return [rdat_header, body], [ridx_header, ridx_body]


def index_of_records_file(raw, path=None):
    """The ``.ridx`` image (header, entries) that indexes the whole ``.rdat`` image `raw`.

    Record headers are stored in the clear, so no password is needed: each entry takes
    its record's type, version, encryption level, time and file offset; the universal
    header takes the ``.rdat``'s identity (level, channel, session, password fields,
    times). What repairs rebuild when a power cut left a ``.ridx`` that does not match
    its ``.rdat`` (the two are renamed into place one after the other). FormatError /
    CrcError when the ``.rdat`` itself is damaged.
    """
    uh = headers.parse_universal_header(raw, path, RDAT)
    headers.check_body_crc(raw, uh, path)
    entries, pos = [], UNIVERSAL_HEADER_BYTES
    while pos < len(raw):
        if pos + RECORD_HEADER_BYTES > len(raw):
            raise FormatError(f"record at byte {pos} is truncated", path)
        head = np.frombuffer(raw, RECORD_HEADER, 1, pos)[0]
        e = np.zeros((), RECORD_INDEX)
        for field in ("type_string", "version_major", "version_minor", "encryption", "time"):
            e[field] = head[field]
        e["file_offset"] = pos
        entries.append(e)
        pos += RECORD_HEADER_BYTES + int(head["bytes"])
    body = np.array(entries, RECORD_INDEX).tobytes()
    fields = crypto.header_fields(uh)
    uuid = headers.new_uuid()
    header = headers.build_universal_header(
        RIDX, start=int(uh["start_time"]), end=int(uh["end_time"]), n_entries=len(entries),
        max_entry=RECORD_INDEX_BYTES, segment_number=int(uh["segment_number"]), channel=text(uh["channel_name"]),
        session=text(uh["session_name"]), level_uuid=bytes(uh["level_uuid"]), file_uuid=uuid, provenance_uuid=uuid,
        fields=fields if any(fields[0]) else None)
    headers.seal(header, crc32(body))
    return bytes(header) + body
