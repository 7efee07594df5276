"""Building time-series metadata (``.tmet``) images: pure functions of sections and keys.

Sections 2 and 3 are handled as writable numpy records (:func:`writable`); a new file
starts from :func:`new_section2` / :func:`new_section3`, the counts and statistics of
section 2 come from the segment's block index (:func:`fill_section2`), and
:func:`build_tmet` assembles the 16384 bytes with the session's encryption and both CRCs.
Parsing lives in :mod:`neo_mef3.format.headers`.
"""

import math
import struct

import numpy as np

from ..errors import FormatError, PasswordError
from . import crypto, fields
from .headers import finalize_crcs
from .layout import (
    LEVEL_1_ENCRYPTION,
    LEVEL_2_ENCRYPTION,
    METADATA_FILE_BYTES,
    METADATA_SECTION_1_OFFSET,
    METADATA_SECTION_2_BYTES,
    METADATA_SECTION_2_OFFSET,
    METADATA_SECTION_3,
    METADATA_SECTION_3_BYTES,
    METADATA_SECTION_3_OFFSET,
    RED_DISCONTINUITY,
    TIME_SERIES_METADATA_SECTION_2,
    TMET_SECTION_LEVELS,
    UNIVERSAL_HEADER_BYTES,
    UUTC_NO_ENTRY,
)

_LEVELS = struct.Struct("bb")  # section 2 and section 3 encryption levels


def writable(record, dtype):
    """A writable 0-d copy of a numpy structured record."""
    return np.frombuffer(bytearray(record.tobytes()), dtype, 1).reshape(())


def new_section2(fs, ufact, units):
    """Section 2 of a new channel: meflib's defaults (-1 for unknown numbers), the rate,
    the conversion factor and `units` (encoded bytes)."""
    s2 = np.zeros((), TIME_SERIES_METADATA_SECTION_2)
    s2["acquisition_channel_number"] = -1
    s2["sampling_frequency"] = fs
    s2["low_frequency_filter_setting"] = -1.0
    s2["high_frequency_filter_setting"] = -1.0
    s2["notch_filter_frequency_setting"] = -1.0
    s2["AC_line_frequency"] = -1.0
    s2["units_conversion_factor"] = ufact
    s2["units_description"] = units
    return s2


def new_section3(rto):
    """Section 3 of a new channel: the recording time offset, no DST entries, GMT offset 0
    (meflib's default, ``initialize_metadata``: times are UTC), no subject fields."""
    s3 = np.zeros((), METADATA_SECTION_3)
    s3["recording_time_offset"] = rto
    s3["DST_start_time"] = UUTC_NO_ENTRY
    s3["DST_end_time"] = UUTC_NO_ENTRY
    s3["GMT_offset"] = 0
    return s3


def inherit_description(s2, s3, prev_s2, prev_s3):
    """Copy the descriptive fields of a channel's previous segment into a new one's
    sections (section 3 only when the previous one was readable)."""
    for f in fields.FIELDS:
        if f.section == 2:
            s2[f.stored] = prev_s2[f.stored]
        elif prev_s3 is not None:
            s3[f.stored] = prev_s3[f.stored]
    if prev_s3 is not None:
        for name in fields.INHERITED_SECTION_3:
            s3[name] = prev_s3[name]


def contiguous_stats(flags, block_bytes, counts):
    """(max blocks, max bytes, max samples) over runs of blocks between discontinuities."""
    n = len(flags)
    if n == 0:
        return 0, 0, 0
    starts = (flags & RED_DISCONTINUITY) != 0
    starts[0] = True
    run_id = np.cumsum(starts) - 1
    nruns = int(run_id[-1]) + 1
    blocks = np.bincount(run_id, minlength=nruns)
    nbytes = np.bincount(run_id, weights=block_bytes.astype(np.float64), minlength=nruns)
    samples = np.bincount(run_id, weights=counts.astype(np.float64), minlength=nruns)
    return int(blocks.max()), int(nbytes.max()), int(samples.max())


def fill_section2(s2, index, start_time, end_time, start_sample, max_difference_bytes):
    """Every count and statistic of section 2 (in place), derived from a segment's block
    index (TIME_SERIES_INDEX entries, at least one), its times (uUTC) and the channel-wide
    number of its first sample."""
    counts = index["number_of_samples"].astype(np.int64)
    nbytes = index["block_bytes"].astype(np.int64)
    flags = index["RED_block_flags"].astype(np.uint8)
    fs = float(s2["sampling_frequency"])
    ufact = float(s2["units_conversion_factor"])
    s2["recording_duration"] = end_time - start_time
    s2["start_sample"] = start_sample
    s2["number_of_samples"] = int(counts.sum())
    s2["number_of_blocks"] = len(index)
    s2["maximum_block_bytes"] = int(nbytes.max())
    s2["maximum_block_samples"] = int(counts.max())
    s2["maximum_difference_bytes"] = max_difference_bytes
    s2["block_interval"] = int(math.floor(int(counts.max()) * 1e6 / fs + 0.5))
    s2["number_of_discontinuities"] = int(((flags & RED_DISCONTINUITY) != 0).sum())
    blocks, cbytes, csamples = contiguous_stats(flags.copy(), nbytes, counts)
    s2["maximum_contiguous_blocks"] = blocks
    s2["maximum_contiguous_block_bytes"] = cbytes
    s2["maximum_contiguous_samples"] = csamples
    hi = float(index["maximum_sample_value"].max())
    lo = float(index["minimum_sample_value"].min())
    f = ufact if ufact != 0.0 else 1.0
    s2["maximum_native_sample_value"] = hi * f if f > 0 else lo * f
    s2["minimum_native_sample_value"] = lo * f if f > 0 else hi * f


def stored_section(data, level, number, keys, path=None):
    """Metadata section `number`'s bytes as stored at encryption `level` (> 0: AES with
    that level's key from `keys`; PasswordError without it)."""
    if level <= 0:
        return data
    if keys is None or not keys.can(level):
        raise PasswordError(f"metadata section {number} is encrypted; the Writer cannot re-encrypt it", path)
    return crypto.encrypt(data, keys.key(level))


def build_tmet(header, s2, s3, keys, previous=None, path=None):
    """A complete ``.tmet`` image: sections encrypted as the session requires, CRCs set.

    `header` is the universal header (1024 bytes). A new file (``previous`` None) takes
    section 3 from the record `s3`; section 2 is level-1 and section 3 level-2 encrypted
    when `keys` are given, else marked -1/-2 (in the clear). An update passes the
    previous image as `previous`: its sections 1 and 3 are kept byte for byte (`s3` is
    then unused) and section 2 is stored at the level section 1 names.
    """
    buf = bytearray(METADATA_FILE_BYTES)
    buf[:UNIVERSAL_HEADER_BYTES] = header[:UNIVERSAL_HEADER_BYTES]
    if previous is None:
        s3_bytes = s3.tobytes()
        if keys is not None:
            _LEVELS.pack_into(buf, TMET_SECTION_LEVELS, LEVEL_1_ENCRYPTION, LEVEL_2_ENCRYPTION)
            s3_bytes = crypto.encrypt(s3_bytes, keys.key(LEVEL_2_ENCRYPTION))
        else:
            _LEVELS.pack_into(buf, TMET_SECTION_LEVELS, -LEVEL_1_ENCRYPTION, -LEVEL_2_ENCRYPTION)
        buf[METADATA_SECTION_3_OFFSET:] = s3_bytes
    else:
        s1 = slice(METADATA_SECTION_1_OFFSET, METADATA_SECTION_2_OFFSET)
        buf[s1] = previous[s1]
        buf[METADATA_SECTION_3_OFFSET:] = previous[METADATA_SECTION_3_OFFSET:METADATA_FILE_BYTES]
    s2_level = _LEVELS.unpack_from(buf, TMET_SECTION_LEVELS)[0]
    s2_bytes = stored_section(s2.tobytes(), s2_level, 2, keys, path)
    if len(s2_bytes) != METADATA_SECTION_2_BYTES or len(buf) - METADATA_SECTION_3_OFFSET != METADATA_SECTION_3_BYTES:
        raise FormatError("internal error: metadata sections have the wrong size", path)
    buf[METADATA_SECTION_2_OFFSET:METADATA_SECTION_3_OFFSET] = s2_bytes
    return bytes(finalize_crcs(buf))


def retag_tmet(raw, meta, values, keys, path=None):
    """The ``.tmet`` image `raw` (parsed as `meta`) with descriptive `values`
    (:func:`fields.check_values`) set; only the sections they touch are re-encrypted,
    CRCs recomputed. PasswordError when section 3 must change and is locked."""
    buf = bytearray(raw)
    s2_level, s3_level = _LEVELS.unpack_from(buf, TMET_SECTION_LEVELS)
    s2 = writable(meta.s2, TIME_SERIES_METADATA_SECTION_2)
    s3 = None
    if fields.touches(values, 3):
        if meta.s3 is None:
            raise PasswordError("metadata section 3 is encrypted; setting it needs the level-2 password", path)
        s3 = writable(meta.s3, METADATA_SECTION_3)
    fields.apply_values(s2, s3, values)
    if fields.touches(values, 2):
        data = stored_section(s2.tobytes(), s2_level, 2, keys, path)
        buf[METADATA_SECTION_2_OFFSET : METADATA_SECTION_2_OFFSET + len(data)] = data
    if s3 is not None:
        data = stored_section(s3.tobytes(), s3_level, 3, keys, path)
        buf[METADATA_SECTION_3_OFFSET : METADATA_SECTION_3_OFFSET + len(data)] = data
    return bytes(finalize_crcs(buf))
