"""Read int32 chunks through neo.rawio, the way spike sorters and viewers do.

Usage: python examples/neo_rawio_chunks.py [SESSION.mefd] [PASSWORD]

Each chunk decodes only the RED blocks it overlaps, so a short window of a long
recording is cheap. Raw values are the stored int32 counts; `gain` (the MEF units
conversion factor) turns them into the channel's units.
"""
import sys

import numpy as np

import neo_mef3
from neo_mef3 import EXAMPLE_SESSION

path = sys.argv[1] if len(sys.argv) > 1 else EXAMPLE_SESSION
password = sys.argv[2] if len(sys.argv) > 2 else None

rawio = neo_mef3.MEF3RawIO(path, password=password)
rawio.parse_header()
print(rawio)

channels = rawio.header["signal_channels"]
for stream_index, stream in enumerate(rawio.header["signal_streams"]):
    mine = channels[channels["stream_id"] == stream["id"]]
    print(f"stream {stream['id']} ({stream['name']}): {', '.join(mine['name'])}, "
          f"gain {mine['gain'][0]:g} {mine['units'][0]}/count")
    for seg_index in range(rawio.segment_count(0)):
        n = rawio.get_signal_size(0, seg_index, stream_index)
        t0 = rawio.get_signal_t_start(0, seg_index, stream_index)
        if n == 0:
            print(f"  segment {seg_index}: no samples in this stream")
            continue
        # 1000 samples from the middle of the segment, all channels of the stream
        a = max(0, n // 2 - 500)
        raw = rawio.get_analogsignal_chunk(0, seg_index, a, min(n, a + 1000), stream_index)
        values = rawio.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=stream_index)
        fs = rawio.get_signal_sampling_rate(stream_index)
        print(f"  segment {seg_index}: {n} samples from {t0:.3f} s; chunk at {t0 + a / fs:.3f} s: "
              f"{raw.dtype} {raw.shape}, range {np.min(values):.2f} .. {np.max(values):.2f} {mine['units'][0]}")

# events and epochs: one channel per record type
for c, ev in enumerate(rawio.header["event_channels"]):
    for seg_index in range(rawio.segment_count(0)):
        ts, durations, labels = rawio.get_event_timestamps(0, seg_index, c)
        times = rawio.rescale_event_timestamp(ts, "float64", c)
        for k, (t, label) in enumerate(zip(times, labels)):
            extra = ""
            if durations is not None:
                extra = f" for {rawio.rescale_epoch_duration(durations, 'float64', c)[k]:.3f} s"
            print(f"{ev['name']} ({ev['type'].decode()}) at {t:.3f} s{extra}: {label}")
rawio.close()
