"""Write any neo Block as a MEF 3.0 session with MEF3IO.write_block, then read it back.

Usage: python examples/neo_write_block.py OUTPUT.mefd [INPUT]

INPUT is anything neo can read (a file or folder of any of neo's formats); without it a
small Block is built here. Every AnalogSignal channel becomes a MEF channel, each
Segment a MEF segment, Events/Epochs become Note/EDFA records.
"""
import sys
from datetime import datetime, timezone

import numpy as np
import quantities as pq

import neo
import neo_mef3  # noqa: F401  (registers MEF3IO with neo.io)

out = sys.argv[1] if len(sys.argv) > 1 else "written.mefd"

if len(sys.argv) > 2:
    block = neo.io.get_io(sys.argv[2]).read_block(lazy=True)  # proxies are loaded while writing
else:
    rng = np.random.default_rng(0)
    block = neo.Block(name="demo", rec_datetime=datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc))
    for k, t0 in enumerate((0.0, 60.0)):  # two trials, a minute apart
        seg = neo.Segment(name=f"trial {k}")
        counts = rng.integers(-2000, 2000, size=(5000, 2))
        seg.analogsignals.append(neo.AnalogSignal(
            counts * 0.195, units="uV", sampling_rate=1000 * pq.Hz, t_start=t0 * pq.s,
            array_annotations={"channel_names": np.array(["LA1", "LA2"])}))
        seg.events.append(neo.Event([t0 + 1.0, t0 + 2.5] * pq.s, labels=np.array(["go", "stop"]), name="stim"))
        seg.epochs.append(neo.Epoch([t0 + 0.5] * pq.s, durations=[3.0] * pq.s, labels=np.array(["task"]), name="phase"))
        block.segments.append(seg)

io = neo.io.get_io(out)  # a .mefd path that does not exist yet -> MEF3IO
summary = io.write_block(block, overwrite=True)
for name, ch in summary["channels"].items():
    print(f"wrote {name}: {ch['sampling_frequency']:g} Hz, {ch['units_conversion_factor']:g} {ch['units']}/count")
if summary["inexact"]:
    print("quantized coarser than their precision:", summary["inexact"])

back = neo_mef3.MEF3IO(out).read_block()
print(f"read back {len(back.segments)} segment(s), recorded {back.rec_datetime}")
for seg in back.segments:
    for sig in seg.analogsignals:
        print(f"  {list(sig.array_annotations['channel_names'])} {sig.shape} from {float(sig.t_start):g} s in {sig.units.dimensionality}")
    for ev in list(seg.events) + list(seg.epochs):
        print(f"  {ev.name}: {list(ev.labels)}")
