"""Video channels (``<name>.vidd``): their metadata (``.vmet``) and clip index (``.vidx``).

A video channel's segments hold a ``.vmet`` -- the same 16 KiB layout as a ``.tmet``
(universal header, sections 1 and 3 shared) with a video section 2 -- and a ``.vidx``
of 64-byte entries, one per clip: start and end time (uUTC), first and last frame, and
where the clip lies in the segment's video file (offset, bytes). The video files
themselves are whatever format section 2 names; MEF does not look inside them.
Layouts from the MEF 3.0 specification (meflib's VIDEO_METADATA_SECTION_2, VIDEO_INDEX).
"""

import numpy as np

from ..errors import FormatError
from . import headers
from .layout import (
    METADATA_FILE_BYTES,
    METADATA_SECTION_1,
    METADATA_SECTION_2_BYTES,
    METADATA_SECTION_3,
    UNIVERSAL_HEADER,
    UNIVERSAL_HEADER_BYTES,
    VIDX,
    VMET,
)

VIDEO_METADATA_SECTION_2 = np.dtype([
    ("channel_description", "S2048"),
    ("session_description", "S2048"),
    ("recording_duration", "<i8"),
    ("horizontal_resolution", "<i8"),
    ("vertical_resolution", "<i8"),
    ("frame_rate", "<f8"),
    ("number_of_clips", "<i8"),
    ("maximum_clip_bytes", "<i8"),
    ("video_format", "S128"),
    ("video_file_CRC", "<u4"),
    ("protected_region", "V3236"),
    ("discretionary_region", "V3240"),
])
assert VIDEO_METADATA_SECTION_2.itemsize == METADATA_SECTION_2_BYTES

VIDEO_METADATA = np.dtype([
    ("universal_header", UNIVERSAL_HEADER),
    ("section_1", METADATA_SECTION_1),
    ("section_2", VIDEO_METADATA_SECTION_2),
    ("section_3", METADATA_SECTION_3),
])
assert VIDEO_METADATA.itemsize == METADATA_FILE_BYTES

VIDEO_INDEX = np.dtype([
    ("start_time", "<i8"),
    ("end_time", "<i8"),
    ("start_frame", "<u4"),
    ("end_frame", "<u4"),
    ("file_offset", "<i8"),
    ("clip_bytes", "<i8"),
    ("protected_region", "V16"),
    ("discretionary_region", "V8"),
])
assert VIDEO_INDEX.itemsize == 64

#: the clip fields :func:`parse_video_index` returns (as int64 arrays)
CLIP_FIELDS = ("start_time", "end_time", "start_frame", "end_frame", "file_offset", "clip_bytes")


def parse_video_metadata(raw, path=None, password="", keys=None, check_crc=True):
    """``(record, keys, section3_available)`` of a ``.vmet`` (header and CRCs checked,
    sections decrypted as the keys allow)."""
    if len(raw) != METADATA_FILE_BYTES:
        raise FormatError(f"video metadata file is {len(raw)} bytes; MEF 3.0 metadata is exactly "
                          f"{METADATA_FILE_BYTES}", path)
    headers.check_universal_header(raw, path, VMET, check_crc)
    if check_crc:
        headers.check_body_crc(raw, np.frombuffer(raw, UNIVERSAL_HEADER, 1, 0)[0], path)
    raw, keys, s3 = headers.decrypt_sections(raw, path, password, keys)
    record = np.frombuffer(raw, VIDEO_METADATA, 1, 0)[0]
    rate = float(record["section_2"]["frame_rate"])
    if not (rate == -1.0 or 0 < rate <= 1e6):  # (-1: "no entry")
        raise FormatError(f"frame rate {rate!r} is not a usable rate", path)
    return record, keys, s3


def parse_video_index(raw, path=None, check_crc=True):
    """The clips of a ``.vidx`` as a dict of int64 arrays (:data:`CLIP_FIELDS`)."""
    headers.check_universal_header(raw, path, VIDX, check_crc)
    uh = np.frombuffer(raw, UNIVERSAL_HEADER, 1, 0)[0]
    body = len(raw) - UNIVERSAL_HEADER_BYTES
    if body % VIDEO_INDEX.itemsize:
        raise FormatError(f"video index body is {body} bytes, not a whole number of 64-byte entries", path)
    n = body // VIDEO_INDEX.itemsize
    declared = int(uh["number_of_entries"])
    if declared >= 0 and declared != n:
        raise FormatError(f"video index header declares {declared} clips; the file holds {n}", path)
    if check_crc:
        headers.check_body_crc(raw, uh, path)
    entries = np.frombuffer(raw, VIDEO_INDEX, n, UNIVERSAL_HEADER_BYTES)
    return {k: entries[k].astype(np.int64) for k in CLIP_FIELDS}
