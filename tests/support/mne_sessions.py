"""Small sessions for the MNE, EDF, BIDS and convert tests, written by our Writer.

``build_clinical``: what the MNE issue describes, in miniature: four 1 kHz channels and
one 5 kHz channel; the 1 kHz channels stop for 2 s (a gap in all of them), LA3 also
misses 0.5 s on its own, RH1's second part is a new segment at another conversion factor;
records at session and channel level, some after the gap; filter settings, line
frequency and a GMT offset in the metadata.

``build_clean``: the case MNE's own reader gets right (one rate, no gap): three 512 Hz
channels, records of several types at session and channel level.
"""

import numpy as np

import neo_mef3

T0 = 1_700_000_000_000_000
SECOND = 1_000_000
GAP = (4 * SECOND, 6 * SECOND)  # the 1 kHz channels' common gap, from T0
LA3_GAP = (1_000_000, 1_500_000)  # LA3's own gap, from T0
FAST = ["LA1", "LA2", "LA3", "RH1"]


def ieeg(n, fs, rng, amp=40.0):
    """Brown-ish noise plus a 10 Hz rhythm, in uV."""
    t = np.arange(n) / fs
    return np.cumsum(rng.standard_normal(n)) * amp / np.sqrt(fs) + 15 * np.sin(2 * np.pi * 10 * t) + rng.normal(0, 5, n)


CLINICAL_RECORDS = [
    {"time": T0 + 500_000, "type": "Note", "text": "lights off"},
    {"time": T0 + 7 * SECOND, "type": "EDFA", "text": "seizure onset", "duration": 1_500_000},
    {"time": T0 + 9 * SECOND, "type": "Note", "text": "after the gap"},
]
CLINICAL_CHANNEL_RECORDS = {"LA1": [{"time": T0 + 8 * SECOND, "type": "Note", "text": "LA1 artifact"}]}


def build_clinical(path):
    rng = np.random.default_rng(16)
    with neo_mef3.Writer(path, overwrite=True) as w:
        w.set_metadata({"low_frequency_filter_setting": 0.5, "high_frequency_filter_setting": 300.0,
                        "AC_line_frequency": 60.0, "GMT_offset": -18000,
                        "reference_description": "common average", "session_description": "issue 16"})
        for name in FAST:
            first = ieeg(4000, 1000.0, rng)
            if name == "LA3":
                first[1000:1500] = np.nan
            w.write(name, first, T0, 1000.0, precision=2)
            second = ieeg(4000, 1000.0, rng)
            if name == "RH1":  # a new segment at another factor (0.001 uV per count)
                w.write(name, second, T0 + GAP[1], 1000.0, precision=3, new_segment=True)
            else:
                w.write(name, second, T0 + GAP[1], 1000.0, precision=2)
        w.write("MICRO", ieeg(50_000, 5000.0, rng, amp=10.0), T0, 5000.0, precision=1)
        w.write_annotations(CLINICAL_RECORDS)
        for name, recs in CLINICAL_CHANNEL_RECORDS.items():
            w.write_annotations(recs, channel=name)
    return path


def build_clean(path, password1="", password2=""):
    rng = np.random.default_rng(17)
    with neo_mef3.Writer(path, overwrite=True, password1=password1, password2=password2) as w:
        w.set_metadata({"AC_line_frequency": 50.0})
        for name in ("A1", "A2", "B1"):
            w.write(name, ieeg(4096, 512.0, rng), T0, 512.0, precision=2)
        w.write_annotations([
            {"time": T0 + 250_000, "type": "Note", "text": "start"},
            {"time": T0 + 2 * SECOND, "type": "EDFA", "text": "stimulus", "duration": 750_000},
            {"time": T0 + 3 * SECOND, "type": "Seiz", "annotation": "focal", "duration": 2 * SECOND,
             "channels": [{"name": "A1", "onset": T0 + 3 * SECOND, "offset": T0 + 5 * SECOND}]},
            {"time": T0 + 6 * SECOND, "type": "Epoc", "epoch_type": "sleep", "text": "N2",
             "end_timestamp": T0 + 7 * SECOND, "duration": SECOND},
        ])
        w.write_annotations([{"time": T0 + 4 * SECOND, "type": "Note", "text": "A2 loose"}], channel="A2")
    return path


def suite_sessions(oracle_sessions, directory):
    """``[(path, password)]`` of every session of the suite: the committed fixtures, our
    Writer's (``build_clean``, ``build_clinical`` in `directory`) and every oracle
    scenario with each writer that can build it (full-access passwords)."""
    import os

    from .paths import DATA_DIR as DATA
    from .scenarios import SCENARIOS

    out = [(os.path.join(DATA, f), "pass2" if "encrypted" in f else "")
           for f in sorted(os.listdir(DATA)) if f.endswith(".mefd")]
    out += [(build_clean(os.path.join(str(directory), "clean.mefd")), ""),
            (build_clinical(os.path.join(str(directory), "clinical.mefd")), "")]
    for name, sc in SCENARIOS.items():
        out += [(oracle_sessions(name, writer), sc.read_password or "") for writer in sc.writers]
    return out


def suite_rate_groups(oracle_sessions, directory):
    """``(path, password, rate)`` for each rate of each session of :func:`suite_sessions`."""
    import neo_mef3

    for path, password in suite_sessions(oracle_sessions, directory):
        with neo_mef3.Reader(path, password=password) as reader:
            rates = sorted({reader.info(c)["sampling_frequency"] for c in reader.channels})
        for fs in rates:
            yield path, password, fs
