"""Read a MEF 3.0 session into MNE-Python: lazily, in volts, gaps and records as annotations.

Usage: python examples/mne_read_raw.py [SESSION.mefd] [PASSWORD]
Without arguments it reads the example session shipped with neo_mef3 (three channels at
three rates, one gap, two records).
"""
import os
import sys
import warnings

import neo_mef3
from neo_mef3.mne import read_raw_mef3, to_mne

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(neo_mef3.__file__), "data", "example.mefd")
password = sys.argv[2] if len(sys.argv) > 2 else None

# Channels of several rates: the rate most channels have is read, and a warning names the rest.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    raw = read_raw_mef3(path, password=password)  # lazy: nothing decoded yet
for w in caught:
    print("warning:", w.message)
print(raw)
print("start (UTC):", raw.info["meas_date"], "| types:", set(raw.get_channel_types()))
for a in raw.annotations:  # gaps are BAD_ACQ_SKIP, records are "Type: text"
    print(f"  {a['onset']:7.3f} s  {a['duration']:6.3f} s  {a['description']}  {list(a['ch_names'])}")

# A 2 s window costs a 2 s read; samples are in volts, zeros in gaps.
sfreq = raw.info["sfreq"]
window = raw.get_data(start=int(1 * sfreq), stop=int(3 * sfreq))
print(f"window: {window.shape}, peak {abs(window).max() * 1e6:.1f} uV")

# Every rate is there: ask for it with sfreq=, or convert an open Reader.
with neo_mef3.Reader(path, password=password or "") as reader:
    for fs in sorted({reader.info(c)["sampling_frequency"] for c in reader.channels}):
        part = to_mne(reader, sfreq=fs, preload=True)  # preload: all cores
        print(f"{fs:g} Hz: {part.ch_names}, {part.n_times} samples")
