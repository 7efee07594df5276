"""MEF 3.0 on-disk layouts as numpy structured dtypes, plus the format's constants.

Every MEF file is little-endian. Each layout below is asserted against the byte size the
specification gives, so a typo in a field list fails at import time rather than as a
shifted field at read time.
"""

import numpy as np

# --- sizes ---------------------------------------------------------------------------
UNIVERSAL_HEADER_BYTES = 1024
METADATA_FILE_BYTES = 16384
METADATA_SECTION_1_OFFSET = 1024
METADATA_SECTION_1_BYTES = 1536
METADATA_SECTION_2_OFFSET = 2560
METADATA_SECTION_2_BYTES = 10752
METADATA_SECTION_3_OFFSET = 13312
METADATA_SECTION_3_BYTES = 3072
TIME_SERIES_INDEX_BYTES = 56
RECORD_HEADER_BYTES = 24
RECORD_INDEX_BYTES = 24
RED_BLOCK_HEADER_BYTES = 304
ENCRYPTION_BLOCK_BYTES = 16
PASSWORD_BYTES = 16
MAX_PASSWORD_CHARACTERS = 15
BASE_NAME_BYTES = 256  # channel / session / anonymized name fields

# --- sentinels ("no entry") ----------------------------------------------------------
UUTC_NO_ENTRY = -(2**63)  # INT64_MIN
RED_NAN = -(2**31)  # INT32_MIN marks a missing sample in RED; never a stored value
RED_MAXIMUM_SAMPLE_VALUE = 2**31 - 2
RED_MINIMUM_SAMPLE_VALUE = -(2**31) + 2
GMT_OFFSET_NO_ENTRY = -86401
PAD_BYTE = 0x7E

# encryption levels as stored in metadata section 1 and record headers
NO_ENCRYPTION = 0
LEVEL_1_ENCRYPTION = 1
LEVEL_2_ENCRYPTION = 2

# RED block flags (also copied into the index entry)
RED_DISCONTINUITY = 0x01
RED_LEVEL_1_ENCRYPTED = 0x02
RED_LEVEL_2_ENCRYPTED = 0x04

MEF_VERSION = (3, 0)
LITTLE_ENDIAN_CODE = 1

# file and directory suffixes
SESSION_EXT = ".mefd"
TS_CHANNEL_EXT = ".timd"
VIDEO_CHANNEL_EXT = ".vidd"
VMET = "vmet"
VIDX = "vidx"
SEGMENT_EXT = ".segd"
TMET = "tmet"
TIDX = "tidx"
TDAT = "tdat"
RDAT = "rdat"
RIDX = "ridx"


def _check(dtype, size):
    assert dtype.itemsize == size, (dtype, dtype.itemsize, size)
    return dtype


UNIVERSAL_HEADER = _check(
    np.dtype(
        [
            ("header_crc", "<u4"),
            ("body_crc", "<u4"),
            ("file_type", "S5"),
            ("mef_version_major", "u1"),
            ("mef_version_minor", "u1"),
            ("byte_order_code", "u1"),
            ("start_time", "<i8"),
            ("end_time", "<i8"),
            ("number_of_entries", "<i8"),
            ("maximum_entry_size", "<i8"),
            ("segment_number", "<i4"),
            ("channel_name", "S256"),
            ("session_name", "S256"),
            ("anonymized_name", "S256"),
            ("level_uuid", "u1", (16,)),
            ("file_uuid", "u1", (16,)),
            ("provenance_uuid", "u1", (16,)),
            ("level_1_password_validation_field", "u1", (16,)),
            ("level_2_password_validation_field", "u1", (16,)),
            ("protected_region", "u1", (60,)),
            ("discretionary_region", "u1", (64,)),
        ]
    ),
    UNIVERSAL_HEADER_BYTES,
)

METADATA_SECTION_1 = _check(
    np.dtype(
        [
            ("section_2_encryption", "i1"),
            ("section_3_encryption", "i1"),
            ("protected_region", "u1", (766,)),
            ("discretionary_region", "u1", (768,)),
        ]
    ),
    METADATA_SECTION_1_BYTES,
)

TIME_SERIES_METADATA_SECTION_2 = _check(
    np.dtype(
        [
            ("channel_description", "S2048"),
            ("session_description", "S2048"),
            ("recording_duration", "<i8"),
            ("reference_description", "S2048"),
            ("acquisition_channel_number", "<i8"),
            ("sampling_frequency", "<f8"),
            ("low_frequency_filter_setting", "<f8"),
            ("high_frequency_filter_setting", "<f8"),
            ("notch_filter_frequency_setting", "<f8"),
            ("AC_line_frequency", "<f8"),
            ("units_conversion_factor", "<f8"),
            ("units_description", "S128"),
            ("maximum_native_sample_value", "<f8"),
            ("minimum_native_sample_value", "<f8"),
            ("start_sample", "<i8"),
            ("number_of_samples", "<i8"),
            ("number_of_blocks", "<i8"),
            ("maximum_block_bytes", "<i8"),
            ("maximum_block_samples", "<u4"),
            ("maximum_difference_bytes", "<u4"),
            ("block_interval", "<i8"),
            ("number_of_discontinuities", "<i8"),
            ("maximum_contiguous_blocks", "<i8"),
            ("maximum_contiguous_block_bytes", "<i8"),
            ("maximum_contiguous_samples", "<i8"),
            ("protected_region", "u1", (2160,)),
            ("discretionary_region", "u1", (2160,)),
        ]
    ),
    METADATA_SECTION_2_BYTES,
)

METADATA_SECTION_3 = _check(
    np.dtype(
        [
            ("recording_time_offset", "<i8"),
            ("DST_start_time", "<i8"),
            ("DST_end_time", "<i8"),
            ("GMT_offset", "<i4"),
            ("subject_name_1", "S128"),
            ("subject_name_2", "S128"),
            ("subject_ID", "S128"),
            ("recording_location", "S512"),
            ("protected_region", "u1", (1124,)),
            ("discretionary_region", "u1", (1024,)),
        ]
    ),
    METADATA_SECTION_3_BYTES,
)

TIME_SERIES_METADATA = _check(
    np.dtype(
        [
            ("universal_header", UNIVERSAL_HEADER),
            ("section_1", METADATA_SECTION_1),
            ("section_2", TIME_SERIES_METADATA_SECTION_2),
            ("section_3", METADATA_SECTION_3),
        ]
    ),
    METADATA_FILE_BYTES,
)

TIME_SERIES_INDEX = _check(
    np.dtype(
        [
            ("file_offset", "<i8"),
            ("start_time", "<i8"),
            ("start_sample", "<i8"),
            ("number_of_samples", "<u4"),
            ("block_bytes", "<u4"),
            ("maximum_sample_value", "<i4"),
            ("minimum_sample_value", "<i4"),
            ("protected_region", "u1", (4,)),
            ("RED_block_flags", "u1"),
            ("RED_block_protected_region", "u1", (3,)),
            ("RED_block_discretionary_region", "u1", (8,)),
        ]
    ),
    TIME_SERIES_INDEX_BYTES,
)

RED_BLOCK_HEADER = _check(
    np.dtype(
        [
            ("block_crc", "<u4"),
            ("flags", "u1"),
            ("protected_region", "u1", (3,)),
            ("discretionary_region", "u1", (8,)),
            ("detrend_slope", "<f4"),
            ("detrend_intercept", "<f4"),
            ("scale_factor", "<f4"),
            ("difference_bytes", "<u4"),
            ("number_of_samples", "<u4"),
            ("block_bytes", "<u4"),
            ("start_time", "<i8"),
            ("statistics", "u1", (256,)),
        ]
    ),
    RED_BLOCK_HEADER_BYTES,
)

RECORD_HEADER = _check(
    np.dtype(
        [
            ("record_crc", "<u4"),
            ("type_string", "S5"),
            ("version_major", "u1"),
            ("version_minor", "u1"),
            ("encryption", "i1"),
            ("bytes", "<u4"),
            ("time", "<i8"),
        ]
    ),
    RECORD_HEADER_BYTES,
)

RECORD_INDEX = _check(
    np.dtype(
        [
            ("type_string", "S5"),
            ("version_major", "u1"),
            ("version_minor", "u1"),
            ("encryption", "i1"),
            ("file_offset", "<i8"),
            ("time", "<i8"),
        ]
    ),
    RECORD_INDEX_BYTES,
)


# --- byte offsets by name -----------------------------------------------------------
def offset_of(dtype, *names):
    """Byte offset of a (nested) field: ``offset_of(TIME_SERIES_METADATA, "section_2", "sampling_frequency")``."""
    off = 0
    for name in names:
        dtype, o = dtype.fields[name][:2]
        off += o
    return off


def field_slice(dtype, *names):
    """The bytes of a (nested) field as a slice of the enclosing image."""
    start = offset_of(dtype, *names)
    sub = dtype
    for name in names:
        sub = sub.fields[name][0]
    return slice(start, start + sub.itemsize)


# universal header: the header CRC covers everything after itself, from the body CRC on
UH_HEADER_CRC = offset_of(UNIVERSAL_HEADER, "header_crc")
UH_BODY_CRC = offset_of(UNIVERSAL_HEADER, "body_crc")
UH_FILE_TYPE = field_slice(UNIVERSAL_HEADER, "file_type")
UH_VERSION_MAJOR = offset_of(UNIVERSAL_HEADER, "mef_version_major")
UH_BYTE_ORDER = offset_of(UNIVERSAL_HEADER, "byte_order_code")
UH_START_TIME = offset_of(UNIVERSAL_HEADER, "start_time")
UH_END_TIME = offset_of(UNIVERSAL_HEADER, "end_time")
UH_NUMBER_OF_ENTRIES = offset_of(UNIVERSAL_HEADER, "number_of_entries")
UH_SEGMENT_NUMBER = field_slice(UNIVERSAL_HEADER, "segment_number")
UH_CHANNEL_NAME = field_slice(UNIVERSAL_HEADER, "channel_name")
UH_LEVEL_UUID = field_slice(UNIVERSAL_HEADER, "level_uuid")
UH_LEVEL_1_FIELD = field_slice(UNIVERSAL_HEADER, "level_1_password_validation_field")
UH_LEVEL_2_FIELD = field_slice(UNIVERSAL_HEADER, "level_2_password_validation_field")
#: both password validation fields, which are adjacent (the key ring's cache key)
UH_PASSWORD_FIELDS = slice(UH_LEVEL_1_FIELD.start, UH_LEVEL_2_FIELD.stop)
assert UH_END_TIME == UH_START_TIME + 8 and UH_LEVEL_2_FIELD.start == UH_LEVEL_1_FIELD.stop

# metadata file (.tmet): the two section encryption levels of section 1 (adjacent int8s)
# and the fields every segment's opening reads
TMET_SECTION_LEVELS = offset_of(TIME_SERIES_METADATA, "section_1", "section_2_encryption")
assert offset_of(TIME_SERIES_METADATA, "section_1", "section_3_encryption") == TMET_SECTION_LEVELS + 1
TMET_SAMPLING_FREQUENCY = offset_of(TIME_SERIES_METADATA, "section_2", "sampling_frequency")
TMET_UNITS_CONVERSION_FACTOR = offset_of(TIME_SERIES_METADATA, "section_2", "units_conversion_factor")
#: start_sample, number_of_samples and number_of_blocks follow each other (three int64s)
TMET_START_SAMPLE = offset_of(TIME_SERIES_METADATA, "section_2", "start_sample")
TMET_NUMBER_OF_SAMPLES = offset_of(TIME_SERIES_METADATA, "section_2", "number_of_samples")
TMET_NUMBER_OF_BLOCKS = offset_of(TIME_SERIES_METADATA, "section_2", "number_of_blocks")
assert TMET_NUMBER_OF_SAMPLES == TMET_START_SAMPLE + 8 and TMET_NUMBER_OF_BLOCKS == TMET_START_SAMPLE + 16
TMET_RECORDING_TIME_OFFSET = offset_of(TIME_SERIES_METADATA, "section_3", "recording_time_offset")

# RED block header
RED_BLOCK_CRC = offset_of(RED_BLOCK_HEADER, "block_crc")
RED_CRC_START = offset_of(RED_BLOCK_HEADER, "flags")  # the block CRC covers the block from here
RED_FLAGS = offset_of(RED_BLOCK_HEADER, "flags")
RED_DIFFERENCE_BYTES = offset_of(RED_BLOCK_HEADER, "difference_bytes")
RED_NUMBER_OF_SAMPLES = offset_of(RED_BLOCK_HEADER, "number_of_samples")
RED_START_TIME = offset_of(RED_BLOCK_HEADER, "start_time")
#: the part of a RED block header that block encryption covers
RED_STATISTICS = field_slice(RED_BLOCK_HEADER, "statistics")

# record header: the record CRC covers the rest of the header and the body
RECORD_CRC = offset_of(RECORD_HEADER, "record_crc")
RECORD_CRC_START = offset_of(RECORD_HEADER, "type_string")
RECORD_TYPE = field_slice(RECORD_HEADER, "type_string")
RECORD_ENCRYPTION = offset_of(RECORD_HEADER, "encryption")
RECORD_BODY_BYTES = offset_of(RECORD_HEADER, "bytes")


def text(field):
    """Decode a fixed-size, NUL-padded UTF-8 field (bytes) to str, up to the first NUL."""
    raw = bytes(field)
    cut = raw.find(b"\x00")
    if cut >= 0:
        raw = raw[:cut]
    return raw.decode("utf-8", errors="replace")


def encode_text(value, size, what="field"):
    """Encode str to UTF-8 for a fixed field of `size` bytes (one byte kept for the NUL)."""
    raw = (value or "").encode("utf-8")
    if len(raw) > size - 1:
        raise ValueError(f"{what} {value!r} is {len(raw)} bytes in UTF-8; at most {size - 1} fit")
    return raw


def pad_length(n, alignment):
    """Bytes needed to bring `n` up to a multiple of `alignment`."""
    return (-n) % alignment
