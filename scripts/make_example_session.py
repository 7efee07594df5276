#!/usr/bin/env python3
"""Write the example session shipped with the package: neo_mef3/data/example.mefd.

Written with the reference writer ``mef_tools.io.MefWriter`` (on pymef/meflib), on
purpose: the example every new user reads first comes from the reference
implementation, not from our own Writer. Content:

* ``Fp1``    256 Hz, 20 s, scalp-like EEG: 1/f noise + 10 Hz alpha, uV, precision 2
* ``Hippo1`` 1024 Hz, 20 s, depth iEEG: 1/f noise + 10 Hz rhythm + a few
  interictal spikes, uV, precision 2, with a 2 s recording gap (NaN) at 8-10 s
* ``ECG``    250 Hz, 20 s, ~72 bpm synthetic PQRST complexes, uV, precision 1
* session-level records: a Note at 1 s and an EDFA "stimulus" at 12 s lasting 2 s
* channel-level record on Hippo1: a Note at 8 s ("amplifier saturated, data dropped")

Fixed seed and start time (1_600_000_000_000_000 uUTC = 2020-09-13 12:26:40
UTC): reruns give the same content (file UUIDs and CRCs differ). The session
is ~150 kB. Needs mef_tools (and pymef, pandas); the values are quantized so
mef3io and mef_tools would store the same counts (``support.signals.exact_decimal``).

Run:  PYTHONPATH=tests python scripts/make_example_session.py [output.mefd]
"""
from __future__ import annotations

import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import support  # noqa: F401  (tests/support/)
except ImportError:
    sys.exit("needs tests/ on PYTHONPATH: PYTHONPATH=tests python scripts/make_example_session.py")

from support.build_oracles import build_with_mef_tools  # noqa: E402
from support.compare import same_samples  # noqa: E402
from support.read_oracles import read_mef3io, read_pymef  # noqa: E402
from support.scenarios import Channel  # noqa: E402
from support.signals import exact_decimal, ieeg_like  # noqa: E402

START = 1_600_000_000_000_000
DURATION_S = 20
SEED = 20200913
DEFAULT_OUT = os.path.join(REPO, "neo_mef3", "data", "example.mefd")


def eeg(n, fs, rng, amp_uv, alpha_uv, alpha_hz=10.0):
    return ieeg_like(n, fs, rng, amp_uv=amp_uv, rhythm_hz=alpha_hz, rhythm_uv=alpha_uv)


def spikes(n, fs, rng, times_s, amp_uv=-300.0, width_s=0.02):
    t = np.arange(n) / fs
    x = np.zeros(n)
    for t0 in times_s:
        x += amp_uv * np.exp(-0.5 * ((t - t0) / (width_s / 2.355)) ** 2)
        x += -0.35 * amp_uv * np.exp(-0.5 * ((t - t0 - 0.06) / 0.03) ** 2)  # slow wave
    return x


def ecg(n, fs, rng, bpm=72.0):
    t = np.arange(n) / fs
    rr = 60.0 / bpm
    beats = np.cumsum(rr + rng.normal(0, 0.02, int(DURATION_S / rr) + 3)) - 0.3
    x = np.zeros(n)
    # (offset s, amplitude uV, width s) for P, Q, R, S, T
    waves = [(-0.2, 120, 0.025), (-0.03, -150, 0.008), (0.0, 1100, 0.01), (0.03, -250, 0.01),
             (0.25, 300, 0.04)]
    for b in beats:
        for off, amp, w in waves:
            x += amp * np.exp(-0.5 * ((t - b - off) / w) ** 2)
    wander = 40 * np.sin(2 * np.pi * 0.15 * t)
    return x + wander + rng.normal(0, 8, n)


def make_channels():
    rng = np.random.default_rng(SEED)
    n = lambda fs: int(round(DURATION_S * fs))  # noqa: E731
    fp1 = exact_decimal(eeg(n(256), 256.0, rng, 25.0, 20.0), 2)[0]
    hip = eeg(n(1024), 1024.0, rng, 60.0, 15.0, alpha_hz=10.0) + spikes(
        n(1024), 1024.0, rng, [3.1, 5.7, 12.4, 16.9])
    hip = exact_decimal(hip, 2)[0]
    hip[8 * 1024:10 * 1024] = np.nan  # 2 s recording gap
    ecg_x = exact_decimal(ecg(n(250), 250.0, rng), 1)[0]
    return [
        Channel("Fp1", 256.0, START, fp1, precision=2),
        Channel("Hippo1", 1024.0, START, hip, precision=2),
        Channel("ECG", 250.0, START, ecg_x, precision=1),
    ]


ANNOTATIONS = [
    {"time": START + 1_000_000, "type": "Note", "text": "recording start, patient awake"},
    {"time": START + 12_000_000, "type": "EDFA", "text": "stimulus", "duration": 2_000_000},
    {"time": START + 8_000_000, "type": "Note", "text": "amplifier saturated, data dropped",
     "channel": "Hippo1"},
]


def main(out=DEFAULT_OUT):
    path = build_with_mef_tools(out, make_channels(), annotations=ANNOTATIONS)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    # sanity check with the reference readers
    m3 = read_mef3io(path)
    pm = read_pymef(path)
    for ch in m3["channels"]:
        assert same_samples(pm["channels"][ch]["data_scaled"], m3["channels"][ch]["read"]), ch
    assert len(m3["records"]) == 2 and len(m3["channels"]["Hippo1"]["records"]) == 1
    print(f"{path}: {size} bytes, channels {sorted(m3['channels'])}")
    if size > 300 * 1024:
        raise SystemExit("example session larger than 300 kB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
