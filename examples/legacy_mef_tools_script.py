"""A mef_tools-era lab script, unchanged except for its import line.

Usage: python examples/legacy_mef_tools_script.py [OUTPUT_DIR]

    # from mef_tools.io import MefReader, MefWriter
    from neo_mef3 import MefReader, MefWriter

Writes a session the mef_tools way (inferred precision, NaN gaps, an in-segment append,
a refused append, annotations) and reads it back with the mef_tools reader API. Every
call returns what mef_tools returns and prints what it prints; calls that mef_tools
answers with ``None`` plus a message also issue a ``neo_mef3.legacy.LegacyWarning``.
"""
import os
import sys
import tempfile
import warnings

import numpy as np

from neo_mef3 import MefReader, MefWriter
from neo_mef3.legacy import LegacyWarning

try:
    import pandas as pd
except ImportError:  # write_annotations takes a DataFrame, as in mef_tools
    pd = None

out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
session = os.path.join(out_dir, "legacy_demo.mefd")
fs = 256
start = 1_600_000_000_000_000  # uUTC

rng = np.random.default_rng(0)
x = np.cumsum(rng.standard_normal(60 * fs)) + 20 * rng.standard_normal(60 * fs)
x[10 * fs : 12 * fs] = np.nan  # two seconds missing: stored as a gap

# --- writing, mef_tools style ----------------------------------------------------------
writer = MefWriter(session, overwrite=True)
writer.data_units = "uV"
print("write:", writer.write_data(x, "Fp1", start, fs))  # precision inferred
t_next = int(start + len(x) / fs * 1e6)
print("append:", writer.write_data(x[: 10 * fs], "Fp1", t_next, fs))  # same segment

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = writer.write_data(x[:fs], "Fp1", start, fs)  # starts before the end: refused
print("refused append returned", result, "and warned:", [w.category.__name__ for w in caught
                                                         if issubclass(w.category, LegacyWarning)])

if pd is not None:
    writer.write_annotations(pd.DataFrame({"time": [start + 5_000_000, start + 30_000_000],
                                           "type": ["Note", "EDFA"], "text": ["eyes closed", "artifact"],
                                           "duration": [0, 2_000_000]}))
del writer

# --- reading, mef_tools style ----------------------------------------------------------
reader = MefReader(session)
print("channels:", reader.channels)
print("fs:", reader.get_property("fsamp", "Fp1"), "ufact:", reader.get_property("ufact", "Fp1"),
      "unit:", reader.get_property("unit", "Fp1"))
data = reader.get_data("Fp1")
print(f"get_data: {data.shape[0]} samples, {int(np.isnan(data).sum())} NaN (the gap)")
window = reader.get_data(["Fp1"], start + 9_000_000, start + 13_000_000)
print("4 s window around the gap:", window[0].shape, "NaN:", int(np.isnan(window[0]).sum()))
if pd is not None:
    print(pd.DataFrame(reader.get_annotations()))
reader.close()
