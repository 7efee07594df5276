"""MEF 3.0 to EDF+ and back, keeping date, annotations, units and resolution.

Usage: python examples/convert_edf.py [SESSION.mefd] [OUT_DIR]
The same from the shell: neo-mef3 convert SESSION.mefd OUT.edf (and back: OUT.edf NEW.mefd).
"""
import os
import sys
import tempfile

import neo_mef3
from neo_mef3.convert import convert

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(neo_mef3.__file__), "data", "example.mefd")
out = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()

edf = convert(path, os.path.join(out, "recording.edf"), overwrite=True)  # every rate in one EDF+
print(edf["text"])
mef = convert(os.path.join(out, "recording.edf"), os.path.join(out, "again.mefd"), overwrite=True)
print(mef["text"])
with neo_mef3.Reader(path) as a, neo_mef3.Reader(mef["path"]) as b:
    for ch in a.channels:
        if ch in b.channels:
            x, y = a.read(ch), b.read(ch, a.info(ch)["start_time"], a.info(ch)["end_time"])
            print(f"{ch}: largest difference {abs(x - y)[~(x != x)].max():.4f} {a.info(ch)['units_description']}")
    print("records:", [(r["type"], r.get("text")) for r in b.records()])
