"""pymef's basic channel info (``read_ts_channel_basic_info``), built from the native
Reader: what ``MefReader.bi`` and ``MefWriter.bi`` hold."""

import numpy as np


def _basic_info(reader):
    """pymef ``read_ts_channel_basic_info()``: one dict of length-1 arrays per channel, sorted by name."""
    names = sorted(reader.channels)
    if not names:
        # pymef builds no 'time_series_channels' entry for a session without channels
        raise KeyError("time_series_channels")
    out = []
    for name in names:
        info = reader.info(name)
        ufact = info["units_conversion_factor"]
        if ufact is None:  # segments disagree: meflib's channel level says "no entry" (0.0)
            ufact = 0.0
        out.append(
            {
                "name": name,
                "fsamp": np.array([info["sampling_frequency"]], dtype=np.float64),
                "nsamp": np.array([info["number_of_samples"]], dtype=np.int64),
                "ufact": np.array([ufact], dtype=np.float64),
                "unit": np.array([_channel_text(reader, name, "units_description", info)], dtype="S128"),
                "start_time": np.array([info["start_time"]], dtype=np.int64),
                "end_time": np.array([info["end_time"]], dtype=np.int64),
                "channel_description": np.array([_channel_text(reader, name, "channel_description", info)],
                                                dtype="S2048"),
            }
        )
    return out


def _channel_text(reader, name, field, info):
    """meflib's channel-level text of section 2 `field`: the first segment's when every
    segment holds the same, else empty (meflib zeroes fields its segments disagree on)."""
    values = {seg[field] for seg in reader.segments(name)}
    return info[field].encode("utf-8") if len(values) <= 1 else b""

