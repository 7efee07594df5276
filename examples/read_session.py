"""Read a MEF 3.0 session with the native Reader.

Usage: python examples/read_session.py [SESSION.mefd] [PASSWORD]
Without arguments it reads the example session shipped with neo_mef3.
"""
import sys

import numpy as np

import neo_mef3
from neo_mef3 import EXAMPLE_SESSION

path = sys.argv[1] if len(sys.argv) > 1 else EXAMPLE_SESSION
password = sys.argv[2] if len(sys.argv) > 2 else ""

with neo_mef3.Reader(path, password=password) as reader:
    for ch in reader.channels:
        info = reader.info(ch)
        fs = info["sampling_frequency"]
        t0 = info["start_time"]
        # one second from the start, in physical units; NaN marks gaps
        second = reader.read(ch, t0, t0 + 1_000_000)
        # the same window as stored int32 counts with a validity mask
        raw = reader.read_raw(ch, t0, t0 + 1_000_000)
        print(
            f"{ch}: {fs:g} Hz, {info['number_of_samples']} stored samples, "
            f"1 s = {len(second)} values, mean {np.nanmean(second):.2f} {info['units_description']}, "
            f"{int(raw['valid'].sum())} valid counts"
        )
    for rec in reader.records():
        print(rec["type"], rec["time"], rec.get("text"))
