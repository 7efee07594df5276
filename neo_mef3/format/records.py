"""Records (annotations): the ``.rdat`` record stream, its ``.ridx`` index and the bodies.

A record is a 24-byte header (CRC, 4-letter type, version, encryption level, body bytes,
time) followed by its body, padded with ``0x7e`` to a multiple of 16 bytes so a body can
be AES-encrypted in place. Bodies of the types meflib defines are decoded into named
fields; any other type comes back with its raw ``body`` bytes.
"""

import struct

import numpy as np

from .._red import crc32
from ..errors import CrcError, FormatError, PasswordError
from . import crypto
from .layout import (
    ENCRYPTION_BLOCK_BYTES,
    PAD_BYTE,
    RECORD_HEADER,
    RECORD_HEADER_BYTES,
    RECORD_INDEX,
    UUTC_NO_ENTRY,
    pad_length,
    text,
)
from .times import to_stored, to_uutc

#: record types whose bodies we decode (and can write)
KNOWN_TYPES = ("Note", "SyLg", "EDFA", "Seiz", "CSti", "ESti", "Curs", "Epoc", "LNTP")

_SEIZ_FIXED = 1312
_SEIZ_CHANNEL = 272


def _cstr(body, start, size=None):
    end = len(body) if size is None else min(len(body), start + size)
    return text(body[start:end]) if start < len(body) else ""


def _i8(body, off):
    return struct.unpack_from("<q", body, off)[0] if off + 8 <= len(body) else None


def _f8(body, off):
    return struct.unpack_from("<d", body, off)[0] if off + 8 <= len(body) else None


def _i4(body, off):
    return struct.unpack_from("<i", body, off)[0] if off + 4 <= len(body) else None


def _time(value, rto):
    return None if value is None else to_uutc(value, rto)


def _lntp(body):
    """Line-noise template: si8 length then the samples.

    The records specification (and meflib) store si4 samples; pymef writes si8. When a
    body is long enough for si8 samples, it holds si4 ones only if it ends right after
    them with the 0x7e padding of that layout. Values come back as int64 either way.
    """
    length = _i8(body, 0) or 0
    if len(body) < 8:  # a damaged record: no room for any sample
        return {"length": length, "template": np.zeros(0, np.int64)}
    n = max(0, int(length))
    n4 = 8 + 4 * n
    end4 = n4 + pad_length(n4, ENCRYPTION_BLOCK_BYTES)
    si4_layout = len(body) <= end4 and set(body[n4:end4]) <= {PAD_BYTE}
    if n and len(body) >= 8 + 8 * n and not si4_layout:
        values = np.frombuffer(body, "<i8", n, 8)
    else:
        values = np.frombuffer(body, "<i4", max(0, min(n, (len(body) - 8) // 4)), 8)
    return {"length": length, "template": values.astype(np.int64)}


def decode_body(rtype, body, rto=0):
    """Named fields of a record body of type `rtype`."""
    if rtype in ("Note", "SyLg"):
        return {"text": _cstr(body, 0)}
    if rtype == "EDFA":
        return {"duration": _i8(body, 0), "text": _cstr(body, 8)}
    if rtype == "Seiz":
        n_channels = _i4(body, 24)
        channels = []
        for k in range(max(0, n_channels or 0)):
            base = _SEIZ_FIXED + k * _SEIZ_CHANNEL
            if base + _SEIZ_CHANNEL > len(body):
                break
            channels.append(
                {
                    "name": _cstr(body, base, 256),
                    "onset": _time(_i8(body, base + 256), rto),
                    "offset": _time(_i8(body, base + 264), rto),
                }
            )
        return {
            "earliest_onset": _time(_i8(body, 0), rto),
            "latest_offset": _time(_i8(body, 8), rto),
            "duration": _i8(body, 16),
            "number_of_channels": n_channels,
            "onset_code": _i4(body, 28),
            "marker_name_1": _cstr(body, 32, 128),
            "marker_name_2": _cstr(body, 160, 128),
            "annotation": _cstr(body, 288, 1024),
            "channels": channels,
        }
    if rtype == "CSti":
        return {
            "task_type": _cstr(body, 0, 64),
            "stimulus_duration": _i8(body, 64),
            "stimulus_type": _cstr(body, 72, 64),
            "patient_response": _cstr(body, 136, 64),
        }
    if rtype == "ESti":
        return {
            "amplitude": _f8(body, 0),
            "frequency": _f8(body, 8),
            "pulse_width": _i8(body, 16),
            "ampunit_code": _i4(body, 24),
            "mode_code": _i4(body, 28),
            "waveform": _cstr(body, 32, 128),
            "anode": _cstr(body, 160, 128),
            "catode": _cstr(body, 288, 128),
        }
    if rtype == "Curs":
        return {
            "id_number": _i8(body, 0),
            "trace_timestamp": _time(_i8(body, 8), rto),
            "latency": _i8(body, 16),
            "value": _f8(body, 24),
            "name": _cstr(body, 32, 128),
        }
    if rtype == "Epoc":
        return {
            "id_number": _i8(body, 0),
            "timestamp": _time(_i8(body, 8), rto),
            "end_timestamp": _time(_i8(body, 16), rto),
            "duration": _i8(body, 24),
            "epoch_type": _cstr(body, 32, 32),
            "text": _cstr(body, 64, 128),
        }
    if rtype == "LNTP":
        return _lntp(body)
    return {"body": bytes(body)}


def _fixed_text(value, size):
    raw = (value or "").encode("utf-8")[: size - 1]
    return raw + bytes(size - len(raw))


def encode_body(record, rto=0):
    """Body bytes (unpadded) of a record dict; the inverse of :func:`decode_body`."""
    rtype = record.get("type", "Note")
    if rtype in ("Note", "SyLg"):
        return (record.get("text") or "").encode("utf-8") + b"\x00"
    if rtype == "EDFA":
        return struct.pack("<q", int(record.get("duration") or 0)) + (
            record.get("text") or ""
        ).encode("utf-8") + b"\x00"
    if rtype == "Seiz":
        channels = record.get("channels") or []
        duration = record.get("duration")
        onset = record.get("earliest_onset", record.get("time"))
        offset = record.get("latest_offset")
        if offset is None and onset is not None and duration is not None:
            offset = int(onset) + int(duration)
        out = struct.pack(
            "<qqqii",
            to_stored(onset, rto),
            to_stored(offset, rto),
            int(duration if duration is not None else -1),
            len(channels),
            int(record.get("onset_code", -1)),
        )
        out += _fixed_text(record.get("marker_name_1"), 128)
        out += _fixed_text(record.get("marker_name_2"), 128)
        out += _fixed_text(record.get("annotation", record.get("text")), 1024)
        for ch in channels:
            out += _fixed_text(ch.get("name"), 256)
            out += struct.pack("<qq", to_stored(ch.get("onset"), rto), to_stored(ch.get("offset"), rto))
        return out
    if rtype == "CSti":
        return (
            _fixed_text(record.get("task_type"), 64)
            + struct.pack("<q", int(record.get("stimulus_duration") or 0))
            + _fixed_text(record.get("stimulus_type"), 64)
            + _fixed_text(record.get("patient_response"), 64)
        )
    if rtype == "ESti":
        return (
            struct.pack(
                "<ddqii",
                float(record.get("amplitude") or 0.0),
                float(record.get("frequency") or 0.0),
                int(record.get("pulse_width") or 0),
                int(record.get("ampunit_code", -1)),
                int(record.get("mode_code", -1)),
            )
            + _fixed_text(record.get("waveform"), 128)
            + _fixed_text(record.get("anode"), 128)
            + _fixed_text(record.get("catode"), 128)
        )
    if rtype == "Curs":
        return struct.pack(
            "<qqqd",
            int(record.get("id_number") or 0),
            to_stored(record.get("trace_timestamp"), rto),
            int(record.get("latency") or 0),
            float(record.get("value") or 0.0),
        ) + _fixed_text(record.get("name"), 128)
    if rtype == "Epoc":
        return (
            struct.pack(
                "<qqqq",
                int(record.get("id_number") or 0),
                to_stored(record.get("timestamp", record.get("time")), rto),
                to_stored(record.get("end_timestamp"), rto),
                int(record.get("duration") or 0),
            )
            + _fixed_text(record.get("epoch_type"), 32)
            + _fixed_text(record.get("text"), 128)
        )
    if rtype == "LNTP":
        template = np.ascontiguousarray(record.get("template", []), dtype="<i4")
        return struct.pack("<q", len(template)) + template.tobytes()
    body = record.get("body")
    if body is None:
        raise ValueError(f"record type {rtype!r} needs its raw 'body' bytes")
    return bytes(body)


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
            raise FormatError(f"record {len(out)} at byte {pos + 1024} is truncated", path)
        head = np.frombuffer(data, RECORD_HEADER, 1, pos)[0]
        body_bytes = int(head["bytes"])
        end = pos + RECORD_HEADER_BYTES + body_bytes
        if end > n:
            raise FormatError(
                f"record {len(out)} at byte {pos + 1024} claims {body_bytes} body bytes; "
                f"only {n - pos - RECORD_HEADER_BYTES} remain",
                path,
            )
        if check_crc:  # (over the whole header after the CRC, the encryption byte included)
            crc = crc32(data[pos + 4 : end])
            if crc != int(head["record_crc"]):
                raise CrcError(f"record {len(out)} at byte {pos + 1024} fails its CRC", path)
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
    pos = 1024
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
        struct.pack_into("<I", raw, 0, crc32(bytes(raw[4:])))
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
