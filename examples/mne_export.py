"""Write any MNE Raw to MEF 3.0 and read it back: values, annotations, date and gaps kept.

Usage: python examples/mne_export.py [RECORDING] [OUT.mefd]
RECORDING is anything mne.io.read_raw opens (EDF, BDF, BrainVision, FIF...); without it a
small synthetic recording is made. The summary says which resolution each channel got.
"""
import datetime
import os
import sys
import tempfile

import mne
import numpy as np

from neo_mef3.mne import read_raw_mef3, write_raw_mef3

if len(sys.argv) > 1:
    raw = mne.io.read_raw(sys.argv[1], verbose="error")
else:
    rng = np.random.default_rng(0)
    data = np.cumsum(rng.standard_normal((4, 30 * 256)), axis=1) * 1e-6  # volts
    raw = mne.io.RawArray(data, mne.create_info(["LA1", "LA2", "LA3", "LA4"], 256.0, "seeg"), verbose="error")
    start = datetime.datetime(2024, 5, 1, 8, 30, tzinfo=datetime.timezone.utc)
    raw.set_meas_date(start)
    raw.set_annotations(mne.Annotations([2.0, 10.0, 20.0], [0.0, 3.0, 1.5], ["lights off", "seizure", "BAD_ACQ_SKIP"],
                                        orig_time=start))
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "exported.mefd")

summary = write_raw_mef3(raw, out, overwrite=True)  # chunked: memory stays bounded
print(summary["text"])

back = read_raw_mef3(out)
print(back)
for a in back.annotations:  # BAD_ACQ_SKIP spans were stored as gaps and come back as such
    print(f"  {a['onset']:7.3f} s  {a['duration']:6.3f} s  {a['description']}")
steps = np.array([summary["channels"][n]["step"] for n in back.ch_names]) * 1e-6  # uV -> V per count
error = np.abs(back.get_data() - raw.get_data(picks=back.ch_names))
gaps = back.get_data() == 0
print("largest difference / half a stored step:",
      float((np.where(gaps, 0, error) / (steps[:, None] / 2)).max()))
