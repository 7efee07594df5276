"""A MEF 3.0 session as a SpikeInterface recording: traces, preprocessing, saving.

Usage: python examples/spikeinterface_read.py [SESSION.mefd] [PASSWORD]
Needs spikeinterface (pip install spikeinterface); `import neo_mef3` alone never imports it.
"""
import sys
import tempfile

from neo_mef3 import EXAMPLE_SESSION
from neo_mef3.spikeinterface import get_streams, read_mef3

path = sys.argv[1] if len(sys.argv) > 1 else EXAMPLE_SESSION
password = sys.argv[2] if len(sys.argv) > 2 else None

# channels with one rate and one gap layout form a stream; pick one
names, ids = get_streams(path, password)
print("streams:", dict(zip(ids, names)))
rec = read_mef3(path, stream_id=ids[-1], password=password)
print(rec)
print("channels:", list(rec.get_channel_ids()), "gain to uV:", rec.get_channel_gains())

# int32 counts, or microvolts
counts = rec.get_traces(segment_index=0, start_frame=0, end_frame=100)
uv = rec.get_traces(segment_index=0, start_frame=0, end_frame=100, return_in_uV=True)
print(counts.dtype, counts.shape, "first value:", counts[0, 0], "counts =", uv[0, 0], "uV")

# segments follow the stream's own gaps; each starts at its true time (s from session start)
for s in range(rec.get_num_segments()):
    print(f"segment {s}: {rec.get_num_samples(s)} samples from {rec.get_start_time(s):.3f} s")

# preprocessing and saving work as with any recording
import spikeinterface.preprocessing as spre  # noqa: E402

in_uv = spre.scale(rec, gain=rec.get_channel_gains(), dtype="float32")  # counts -> uV, float32
with tempfile.TemporaryDirectory() as tmp:
    saved = in_uv.save(folder=f"{tmp}/binary", progress_bar=False)
    print("saved:", saved)
