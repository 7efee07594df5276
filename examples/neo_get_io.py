"""Open a MEF 3.0 session with neo's generic get_io, lazily, and look around.

Usage: python examples/neo_get_io.py [SESSION.mefd] [PASSWORD]
Without arguments it uses the example session shipped with neo_mef3.

`import neo_mef3` is what registers MEF3IO with neo.io (neo reads no entry points).
"""
import sys

import neo

import neo_mef3  # noqa: F401  (registers MEF3IO / MEF3RawIO with neo)
from neo_mef3 import EXAMPLE_SESSION

path = sys.argv[1] if len(sys.argv) > 1 else EXAMPLE_SESSION
password = sys.argv[2] if len(sys.argv) > 2 else None

io = neo.io.get_io(path, password=password)
print(type(io).__name__, io.source_name())
block = io.read_block(lazy=True)  # proxies: nothing decoded yet
print(f"session {block.name!r} recorded {block.rec_datetime:%Y-%m-%d %H:%M:%S %Z}")
for k, seg in enumerate(block.segments):
    print(f"segment {k}: {float(seg.t_start):.3f} s .. {float(seg.t_stop):.3f} s")
    for proxy in seg.analogsignals:
        names = ", ".join(proxy.array_annotations["channel_names"])
        print(f"  {names}: {proxy.shape[0]} samples at {float(proxy.sampling_rate):g} Hz from {float(proxy.t_start):.3f} s")
        if proxy.shape[0]:
            # load only the first 100 ms
            part = proxy.load(time_slice=(proxy.t_start, proxy.t_start + min(0.1 * proxy.t_start.units, proxy.duration)))
            print(f"    first 100 ms: {part.shape[0]} samples, mean {float(part.magnitude.mean()):.2f} {part.units.dimensionality}")
    for ev in list(seg.events) + list(seg.epochs):
        ev = ev.load()
        for t, label in zip(ev.times, ev.labels):
            print(f"  {ev.name} at {float(t):.3f} s: {label}")
