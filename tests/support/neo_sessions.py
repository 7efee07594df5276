"""Fixture sessions for the neo / SpikeInterface tests (test_rawio*, test_io*, test_spikeinterface*).

The ``mef_sessions`` fixture (conftest.py) is a :class:`MefSessions`:
``mef_sessions(name, writer)`` returns the path of a session built with ``writer``:

* ``"mef_tools"`` / ``"mef3io"``: the reference writers (through :mod:`support.build_oracles`);
* ``"native"``: our :class:`neo_mef3.writer.Writer`, driven by the same oracle builder as
  mef3io (identical API).

``name`` is an oracle scenario (``support.scenarios.SCENARIOS``) or one of :data:`EXTRA`
below, which cover what the neo mapping needs beyond them: channels of one rate whose gaps
differ, records inside gaps and outside the data, channels whose MEF segments carry
different conversion factors, and a long recording for the "reads stay local" check.
"""

import os
import unittest.mock

import numpy as np
import pytest

from support.build_oracles import build_scenario
from support.scenarios import SCENARIOS, T0, Channel, Scenario, Write
from support.signals import float_channel_data, with_gaps

WRITERS = ("mef_tools", "mef3io", "native")


def _data(n, fs, seed, precision=2):
    return float_channel_data(n, fs, np.random.default_rng(seed), precision=precision)


def _extra():
    sc = {}
    fs = 1000.0
    # one rate, three gap layouts + a second rate; records in gaps and outside the data
    sc["differing_gaps"] = Scenario(
        "differing_gaps",
        "1000 Hz: 'x' 10 s continuous, 'x2' the same layout as 'x', 'y' with a gap "
        "[3 s, 4 s), 'z' with a gap [6 s, 7.5 s); 'w' 250 Hz, 10 s continuous. Records: "
        "session Note inside y's gap, before the first sample and after the last one; "
        "a channel Note on y inside its own gap; an EDFA on z.",
        [
            Channel("x", fs, T0, _data(10000, fs, 1)),
            Channel("x2", fs, T0, _data(10000, fs, 2)),
            Channel("y", fs, T0, with_gaps(_data(10000, fs, 3), [(3000, 4000)])),
            Channel("z", fs, T0, with_gaps(_data(10000, fs, 4), [(6000, 7500)])),
            Channel("w", 250.0, T0, _data(2500, 250.0, 5)),
        ],
        annotations=[
            {"time": T0 - 1_000_000, "type": "Note", "text": "before the data"},
            {"time": T0 + 3_500_000, "type": "Note", "text": "in y's gap"},
            {"time": T0 + 3_200_000, "type": "Note", "text": "y channel note", "channel": "y"},
            {"time": T0 + 6_500_000, "type": "EDFA", "text": "z epoch", "duration": 1_000_000, "channel": "z"},
            {"time": T0 + 12_000_000, "type": "Note", "text": "after the data"},
        ],
    )
    # MEF segments of one channel with different conversion factors
    counts = np.random.default_rng(6).integers(-20000, 20000, 3000).astype(np.int32)
    sc["mixed_factors"] = Scenario(
        "mixed_factors",
        "'dec' 500 Hz: segment 0 at precision 2 (factor 0.01), segment 1 at precision 3 "
        "(0.001, a whole fraction: int32 on 0.001). 'amp' 600 Hz int32: segment 0 ufact "
        "0.195, segment 1 ufact 0.5 (not multiples: float64).",
        [
            Channel("dec", 500.0, T0, _data(1000, 500.0, 7, 2), precision=2),
            Channel("amp", 600.0, T0, counts, precision=None, ufact=0.195),
        ],
        writers=("mef3io",),
    )
    sc["overlap"] = Scenario(
        "overlap",
        "100 Hz: 'o' segment 0 at 0-10 s, segment 1 at 5-15 s (overlapping in time); "
        "'p' 0-20 s continuous.",
        [
            Channel("o", 100.0, T0, _data(1000, 100.0, 11),
                    appends=[Write(_data(1000, 100.0, 12), T0 + 5_000_000, new_segment=True)]),
            Channel("p", 100.0, T0, _data(2000, 100.0, 13)),
        ],
        writers=("mef3io",),
    )
    sc["long"] = Scenario(
        "long",
        "One 1000 Hz channel, 120 s in 1000-sample blocks (120 blocks).",
        [Channel("long", 1000.0, T0, _data(120_000, 1000.0, 9), block_len=1000)],
    )
    return sc


EXTRA = _extra()


def scenario(name):
    return EXTRA[name] if name in EXTRA else SCENARIOS[name]


#: scenarios our Writer refuses by design (it never writes overlapping data)
NATIVE_REFUSES = ("overlap",)


def can_build(name, writer):
    sc = scenario(name)
    if writer == "native" and name in NATIVE_REFUSES:
        return False
    return (writer if writer != "native" else "mef3io") in sc.writers


def _native_writer():
    try:
        from neo_mef3.writer import Writer
    except ImportError:
        pytest.skip("neo_mef3.writer is not available yet")
    return Writer


def build(name, path, writer):
    """Build scenario `name` at `path` with `writer` and return the path."""
    sc = scenario(name)
    if not can_build(name, writer):
        pytest.skip(f"{writer} cannot build {name}")
    if writer == "native":
        import mef3io

        with unittest.mock.patch.object(mef3io, "Writer", _native_writer()):
            path = build_scenario(sc, path, "mef3io")
        _add_second_segment_int(sc, path, _native_writer())
        return path
    path = build_scenario(sc, path, writer)
    if writer == "mef3io":
        import mef3io

        _add_second_segment_int(sc, path, mef3io.Writer)
    return path


def _add_second_segment_int(sc, path, Writer):
    # second segments with other factors (the oracle builder keeps one factor per channel)
    if sc.name != "mixed_factors":
        return
    counts = np.random.default_rng(10).integers(-1000, 1000, 1200).astype(np.int32)
    w = Writer(path, overwrite=False, units="uV")
    try:
        w.write("dec", _data(1000, 500.0, 8, 3), T0 + 3_000_000, 500.0, precision=3, new_segment=True)
        w.write_int32("amp", counts, 0.5, T0 + 10_000_000, 600.0, new_segment=True)
    finally:
        w.close()


class MefSessions:
    """Builds sessions on first use and caches their paths (the oracle scenarios through
    the ``oracle_sessions`` fixture, so each is built once per test run)."""

    def __init__(self, base, oracle_sessions):
        self._base = base
        self._oracle = oracle_sessions
        self._paths = {}

    def __call__(self, name, writer="mef3io"):
        key = (name, writer)
        if key not in self._paths:
            if name in SCENARIOS and writer in ("mef_tools", "mef3io"):
                self._paths[key] = self._oracle(name, writer)
            else:
                path = os.path.join(str(self._base), writer, f"{name}.mefd")
                self._paths[key] = build(name, path, writer)
        return self._paths[key]

    @staticmethod
    def password(name):
        return scenario(name).read_password


def all_cases():
    """(scenario, writer) pairs for the generic checks (overlapping data has its own test:
    the Reader's by-time view lets the later segment win where two overlap)."""
    names = list(SCENARIOS) + [n for n in EXTRA if n != "overlap"]
    return [(n, w) for n in names for w in WRITERS if can_build(n, w)]
