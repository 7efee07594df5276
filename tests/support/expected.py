"""Expected values of the committed fixture sessions in ``tests/data`` (written and
cross-checked by ``scripts/make_test_fixtures.py``); needs only numpy."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from support.paths import DATA_DIR


def load_expected(name: str, data_dir=None) -> dict:
    """Expected values of a committed fixture ``tests/data/<name>.mefd``.

    Returns the JSON dict (``<name>.expected.json``) with the arrays of
    ``<name>.expected.npz`` put back in place: for every channel
    ``channels[ch]["raw_samples"]`` (int32, mef3io ``read_raw``),
    ``["raw_valid"]`` (bool), ``["data"]`` (float64, NaN gaps, =
    mef3io ``read`` = pymef ``read_ts_channels_uutc * ufact``),
    ``["stored_samples"]`` (int32, the stored samples back to back) and
    ``["block_start_times"]`` etc. The session itself is ``["path"]``.
    Needs only numpy.
    """
    d = Path(data_dir if data_dir is not None else DATA_DIR)
    with open(d / f"{name}.expected.json") as f:
        exp = json.load(f)
    with np.load(d / f"{name}.expected.npz") as z:
        for key in z.files:
            ch, what = key.split("/", 1)
            exp["channels"][ch][what] = z[key]
    for ch in exp["channels"].values():
        if "raw_valid" in ch:
            ch["raw_valid"] = ch["raw_valid"].astype(bool)
    exp["path"] = str(d / f"{name}.mefd")
    return exp
