"""mef_tools' metadata dicts (``MefWriter.section2_ts_dict`` and ``section3_dict``): their
defaults, and the fields of a new segment's metadata they give the native Writer."""

import numpy as np

from ..format import fields as metadata_fields


def _section3_defaults():
    """mef_tools' ``section3_dict`` of a new MefWriter."""
    return {
        "recording_time_offset": np.nan,
        "DST_start_time": 0,
        "DST_end_time": 0,
        "GMT_offset": -6 * 3600,
        "subject_name_1": b"none",
        "subject_name_2": b"none",
        "subject_ID": b"None",
        "recording_location": b"P",
    }


def _section2_defaults(units):
    """mef_tools' ``section2_ts_dict`` of a new MefWriter storing `units` (bytes)."""
    return {
        "channel_description": b"ts_channel",
        "session_description": b"ts_session",
        "recording_duration": np.nan,
        "reference_description": b"None",
        "acquisition_channel_number": 1,
        "sampling_frequency": np.nan,
        "notch_filter_frequency_setting": 0,
        "low_frequency_filter_setting": 1,
        "high_frequency_filter_setting": 10,
        "AC_line_frequency": 0,
        "units_conversion_factor": 1.0,
        "units_description": units,
        "maximum_native_sample_value": 0.0,
        "minimum_native_sample_value": 0.0,
        "start_sample": 0,  # Different for segments
        "number_of_blocks": 0,
        "maximum_block_bytes": 0,
        "maximum_block_samples": 0,
        "maximum_difference_bytes": 0,
        "block_interval": 0,
        "number_of_discontinuities": 0,
        "maximum_contiguous_blocks": 0,
        "maximum_contiguous_block_bytes": 0,
        "maximum_contiguous_samples": 0,
        "number_of_samples": 0,
    }


def _segment_metadata(section2, section3):
    """set_metadata fields from section2_ts_dict / section3_dict (mef_tools' values)."""
    out = {}
    for field in metadata_fields.FIELDS:  # (mef_tools' dict keys are the stored field names)
        source = section2 if field.section == 2 else section3
        if field.stored not in source:
            continue
        value = source[field.stored]
        try:
            if field.kind == "text":
                raw = value if isinstance(value, (bytes, bytearray, np.bytes_)) else str(value).encode("utf-8")
                # numpy (pymef) cuts a too-long value to the field; keep room for a NUL
                value = bytes(raw)[: field.size - 1].split(b"\x00")[0].decode("utf-8", "ignore")
            elif field.kind == "float":
                value = float(value)
            else:
                value = int(value)
        except (TypeError, ValueError, OverflowError):
            pass  # the native Writer reports it
        out[field.name] = value
    return out
