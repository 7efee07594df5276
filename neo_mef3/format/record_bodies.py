"""Record bodies: the fields of each record type meflib defines, as bytes and as dicts.

:func:`decode_body` gives named fields (times de-negated with the recording time offset),
:func:`encode_body` the inverse; a type not listed in :data:`KNOWN_TYPES` keeps its raw
``body`` bytes. Offsets inside a body follow the records specification (``mefrec.h``).
"""

import struct

import numpy as np

from .layout import ENCRYPTION_BLOCK_BYTES, PAD_BYTE, pad_length, text
from .times import to_stored, to_uutc

#: record types whose bodies we decode (and can write)
KNOWN_TYPES = ("Note", "SyLg", "EDFA", "Seiz", "CSti", "ESti", "Curs", "Epoc", "LNTP")

#: the body fields each record type holds (records specification; what :func:`decode_body`
#: returns and :func:`encode_body` stores); any other type holds its raw ``body``
BODY_FIELDS = {
    "Note": ("text",),
    "SyLg": ("text",),
    "EDFA": ("duration", "text"),
    "Seiz": ("earliest_onset", "latest_offset", "duration", "number_of_channels", "onset_code", "marker_name_1",
             "marker_name_2", "annotation", "channels"),
    "CSti": ("task_type", "stimulus_duration", "stimulus_type", "patient_response"),
    "ESti": ("amplitude", "frequency", "pulse_width", "ampunit_code", "mode_code", "waveform", "anode", "catode"),
    "Curs": ("id_number", "trace_timestamp", "latency", "value", "name"),
    "Epoc": ("id_number", "timestamp", "end_timestamp", "duration", "epoch_type", "text"),
    "LNTP": ("length", "template"),
}

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
