"""The descriptive metadata fields: one table for every layer that names them.

``Reader.info`` reports them, ``Writer.set_metadata`` sets them, the mef_tools drop-in
maps its ``section2_ts_dict``/``section3_dict`` keys onto them and neo annotations are
made from them. Each :class:`Field` says under which name the package knows a field,
where it is stored (metadata section 2 or 3, numpy field name), its kind and, for text,
the bytes its fixed-size field holds (one kept for the NUL).
"""

import collections
import struct

import numpy as np

from .layout import TIME_SERIES_METADATA, encode_text, offset_of, text

Field = collections.namedtuple("Field", "name section stored kind size scope")
Field.__doc__ = """One descriptive field.

``name``: the package's name (``Reader.info``, ``Writer.set_metadata``); ``section``: 2
or 3; ``stored``: the field of the section's dtype (also mef_tools' dict key); ``kind``:
"text", "int64", "int32" or "float"; ``size``: a text field's bytes; ``scope``: what the
value describes -- "channel", "session" (the same for every channel) or "subject"."""

FIELDS = (
    Field("channel_description", 2, "channel_description", "text", 2048, "channel"),
    Field("session_description", 2, "session_description", "text", 2048, "session"),
    Field("reference_description", 2, "reference_description", "text", 2048, "channel"),
    Field("acquisition_channel_number", 2, "acquisition_channel_number", "int64", None, "channel"),
    Field("low_frequency_filter_setting", 2, "low_frequency_filter_setting", "float", None, "channel"),
    Field("high_frequency_filter_setting", 2, "high_frequency_filter_setting", "float", None, "channel"),
    Field("notch_filter_frequency_setting", 2, "notch_filter_frequency_setting", "float", None, "channel"),
    Field("AC_line_frequency", 2, "AC_line_frequency", "float", None, "channel"),
    Field("subject_name_1", 3, "subject_name_1", "text", 128, "subject"),
    Field("subject_name_2", 3, "subject_name_2", "text", 128, "subject"),
    Field("subject_id", 3, "subject_ID", "text", 128, "subject"),
    Field("recording_location", 3, "recording_location", "text", 512, "subject"),
    Field("GMT_offset", 3, "GMT_offset", "int32", None, "subject"),
)
BY_NAME = {f.name: f for f in FIELDS}
SECTION_2 = tuple(f for f in FIELDS if f.section == 2)
SECTION_3 = tuple(f for f in FIELDS if f.section == 3)
#: fields that describe one channel (neo's per-channel array annotations)
CHANNEL = tuple(f for f in FIELDS if f.scope == "channel")
#: section-3 fields a new segment takes over from the channel's previous segment, besides FIELDS
INHERITED_SECTION_3 = ("DST_start_time", "DST_end_time")


def value(field, s2, s3):
    """A field's value as Python (str, int or float) from section records; None when its
    section is not readable (``s3`` None: locked)."""
    rec = s2 if field.section == 2 else s3
    if rec is None:
        return None
    raw = rec[field.stored]
    if field.kind == "text":
        return text(raw)
    return float(raw) if field.kind == "float" else int(raw)


class ImageReader:
    """Named fields of a decrypted ``.tmet`` image read in one struct call (a numpy
    record field costs more than the struct call for all of them).

    ``fields``: ``(name, section, stored)`` with section "uh", 2 or 3 (where
    ``stored`` is the field's name in that layout). :meth:`read` gives the values as
    Python (text decoded up to its first NUL, as ``layout.text``), section-3 fields
    None unless ``section3_available``.
    """

    _CODES = {"i8": "q", "i4": "i", "u4": "I", "f8": "d", "f4": "f", "u1": "B", "i1": "b"}

    def __init__(self, fields):
        placed = []
        for name, section, stored in fields:
            path = ("universal_header",) if section == "uh" else ("section_2",) if section == 2 else ("section_3",)
            kind = TIME_SERIES_METADATA
            for part in path + (stored,):
                kind = kind.fields[part][0]
            code = f"{kind.itemsize}s" if kind.kind in "SV" else self._CODES[kind.str[1:]]
            placed.append((offset_of(TIME_SERIES_METADATA, *path, stored), kind.itemsize, code, name, section,
                           kind.kind == "S"))
        placed.sort(key=lambda p: p[0])
        # (a text field's first byte only: most are empty, and the others are cut at their
        # first NUL in the image itself, not copied whole first)
        fmt, at = "<", 0
        for off, size, code, _, _, is_text in placed:
            fmt += (f"{off - at}x" if off > at else "") + ("B" if is_text else code)
            at = off + (1 if is_text else size)
        end = max((p[0] + p[1] for p in placed), default=0)
        self._struct = struct.Struct(fmt + (f"{end - at}x" if end > at else ""))  # (as long as the fields)
        self.names = tuple(p[3] for p in placed)
        self._text = tuple((i, p[0], p[0] + p[1]) for i, p in enumerate(placed) if p[5])
        self._section3 = tuple(i for i, p in enumerate(placed) if p[4] == 3)

    def values(self, raw, section3_available=True):
        """The values of the fields of `raw` (the image, at least its fields' bytes), as a
        list in the order of ``names``."""
        values = list(self._struct.unpack_from(raw))
        for i, a, b in self._text:
            if not values[i]:  # (most text fields are empty)
                values[i] = ""
                continue
            if not isinstance(raw, (bytes, bytearray)):
                raw = bytes(raw)
            cut = raw.find(b"\x00", a, b)
            values[i] = raw[a : b if cut < 0 else cut].decode("utf-8", errors="replace")
        if not section3_available:
            for i in self._section3:
                values[i] = None
        return values

    def read(self, raw, section3_available=True):
        """``{name: value}`` of the fields of `raw` (see :meth:`values`)."""
        return dict(zip(self.names, self.values(raw, section3_available)))


_IMAGE_READER = ImageReader([(f.name, f.section, f.stored) for f in FIELDS])


def image_values(raw, section3_available=True):
    """{name: value} of every FIELDS field of a decrypted ``.tmet`` image (bytes), as
    :func:`value` gives them (section-3 fields None when it is locked)."""
    return _IMAGE_READER.read(raw, section3_available)


def check_values(fields):
    """Validated {name: stored value} of ``Writer.set_metadata``'s `fields` (None dropped).

    Unknown names and values that do not fit raise ValueError, wrong types TypeError.
    """
    if not hasattr(fields, "items"):
        raise TypeError("fields must be a dict of metadata values")
    unknown = sorted(str(k) for k in fields if k not in BY_NAME)
    if unknown:
        raise ValueError(f"unknown metadata field(s) {unknown}; known: {sorted(BY_NAME)}")
    out = {}
    for key, v in fields.items():
        if v is None:
            continue
        kind, size = BY_NAME[key].kind, BY_NAME[key].size
        if kind == "text":
            if not isinstance(v, str):
                raise TypeError(f"{key} must be a str, got {type(v).__name__}")
            if "\x00" in v:
                raise ValueError(f"{key} must not contain NUL characters")
            out[key] = encode_text(v, size, key)
        elif kind in ("int64", "int32"):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{key} must be an int, got {type(v).__name__}")
            bits = 63 if kind == "int64" else 31
            if not -(2**bits) <= int(v) < 2**bits:
                raise ValueError(f"{key} {int(v)} does not fit the field ({kind})")
            out[key] = int(v)
        else:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{key} must be a number, got {type(v).__name__}")
            out[key] = float(v)
    return out


def apply_values(s2, s3, values):
    """Set :func:`check_values`' result in section records s2 / s3 (s3 None: left alone)."""
    for key, v in values.items():
        field = BY_NAME[key]
        rec = s2 if field.section == 2 else s3
        if rec is not None:
            rec[field.stored] = v


def touches(values, section):
    """True when some of `values` are stored in metadata `section` (2 or 3)."""
    return any(BY_NAME[k].section == section for k in values)
