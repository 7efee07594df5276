"""The fixture scenarios: named sessions described as data (channels, writes,
gaps, segments, appends, passwords, records), which the reference writers build
(:mod:`support.build_oracles`) and every reader must read back alike.

``SCENARIOS``: name -> :class:`Scenario`; :func:`scenario_names` lists the ones a
writer can build. Importing this module needs only numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np

from support.signals import float_channel_data, start_after, with_gaps

T0 = 1_600_000_000_000_000  #: default session start, uUTC (2020-09-13 12:26:40 UTC)

WRITERS = ("mef_tools", "mef3io")


@dataclass
class Write:
    """One write call.

    ``data``: float64 (NaN = gap) or integer counts. ``start_uutc``: time of
    ``data[0]``. ``new_segment``: start a new ``.segd``. ``reopen``: close the
    current writer object and construct a new one on the same session before
    this write (appends across separately constructed writers). ``valid``: for
    integer data, 0 marks gap samples (mef3io ``write_int32(valid=)``; for
    mef_tools the sample is written as NaN instead).
    """

    data: np.ndarray
    start_uutc: int
    new_segment: bool = False
    reopen: bool = False
    valid: Optional[np.ndarray] = None

    def __post_init__(self):
        self.data = np.asarray(self.data)
        self.start_uutc = int(self.start_uutc)
        if self.valid is not None:
            self.valid = np.asarray(self.valid).astype(bool)
            if self.valid.shape != self.data.shape:
                raise ValueError("valid must have one entry per sample")

    @property
    def is_int(self) -> bool:
        return np.issubdtype(self.data.dtype, np.integer)

    def float_data(self) -> np.ndarray:
        """The data as float64 with NaN in gaps (what a float writer gets)."""
        x = self.data.astype(np.float64)
        if self.valid is not None:
            x[~self.valid] = np.nan
        return x

    def end_uutc(self, fs: float) -> int:
        """Time just past the last sample, rounded to the microsecond."""
        return self.start_uutc + int(round(len(self.data) * 1e6 / fs))


@dataclass
class Channel:
    """A channel: first write (``data`` at ``start_uutc``) plus ``appends``.

    ``precision``: decimal precision for float data (``ufact = 10**-precision``);
    ``None`` lets the writer infer it. ``ufact``: conversion factor for integer
    data (mef_tools can only store ``ufact == 1.0`` for integer data).
    ``block_len``: samples per RED block (``None`` = writer default, 10*fs below
    5 kHz for both writers).
    """

    name: str
    fs: float
    start_uutc: int
    data: np.ndarray
    precision: Optional[int] = 2
    ufact: float = 1.0
    block_len: Optional[int] = None
    units: str = "uV"
    appends: List[Write] = field(default_factory=list)
    valid: Optional[np.ndarray] = None

    def __post_init__(self):
        self.data = np.asarray(self.data)
        self.fs = float(self.fs)
        self.start_uutc = int(self.start_uutc)
        self.appends = [a if isinstance(a, Write) else Write(**a) for a in self.appends]

    @property
    def is_int(self) -> bool:
        return np.issubdtype(self.data.dtype, np.integer)

    def writes(self) -> List[Write]:
        return [Write(self.data, self.start_uutc, valid=self.valid)] + list(self.appends)

    @property
    def factor(self) -> float:
        """The conversion factor the stored counts carry."""
        if self.is_int:
            return float(self.ufact)
        return float(np.round(0.1 ** self.precision, self.precision))


@dataclass
class Scenario:
    """A named fixture session.

    ``annotations``: dicts ``{"time", "type", "text", "duration"?, "channel"?}``
    written with the writer's own annotation API (``channel`` absent/None =
    session level). ``records``: further records written afterwards with
    :func:`add_records_with_pymef` (any pymef type; ``channel`` key as above).
    ``writers``: which writers can build it. ``writer_dependent``: the stored
    samples differ between writers by design (see ``description``).
    ``pymef_segments``: segments added afterwards with pymef's low-level API
    (:func:`support.build_oracles.add_segments_with_pymef`), each a dict ``channel``,
    ``counts`` (int32), ``start_uutc`` and ``ufact`` (its own units conversion factor,
    which neither writer's high-level API lets differ within a channel).
    """

    name: str
    description: str
    channels: List[Channel]
    password1: Optional[str] = None
    password2: Optional[str] = None
    annotations: List[dict] = field(default_factory=list)
    records: List[dict] = field(default_factory=list)
    writers: tuple = WRITERS
    writer_dependent: bool = False
    pymef_segments: List[dict] = field(default_factory=list)

    @property
    def read_password(self) -> Optional[str]:
        """The password that gives full access (level 2), or None."""
        return self.password2 or self.password1

    def channel(self, name: str) -> Channel:
        for c in self.channels:
            if c.name == name:
                return c
        raise KeyError(name)


def as_channel(spec: Union[Channel, dict]) -> Channel:
    return spec if isinstance(spec, Channel) else Channel(**spec)


def _scenarios() -> Dict[str, Scenario]:
    sc: Dict[str, Scenario] = {}

    def add(s: Scenario):
        sc[s.name] = s

    # -- several channels at different rates; one starts off the 1 ms grid
    rng = np.random.default_rng(101)
    add(Scenario(
        "multi_rate",
        "3 channels at 250, 1000 and 2048 Hz, 4 s each, precision 2; the 2048 Hz "
        "channel starts 1237 us after the others (off every sample grid).",
        [Channel("c250", 250.0, T0, float_channel_data(1000, 250.0, rng)),
         Channel("c1000", 1000.0, T0, float_channel_data(4000, 1000.0, rng)),
         Channel("c2048", 2048.0, T0 + 1237, float_channel_data(8192, 2048.0, rng))],
    ))

    # -- fractional sampling rate with a gap and a later in-segment append
    rng = np.random.default_rng(102)
    fs = 499.907
    x = with_gaps(float_channel_data(4000, fs, rng), [(1500, 2100)])
    add(Scenario(
        "fractional_fs",
        "499.907 Hz, 8 s with a 600-sample NaN gap, block 500, then an in-segment "
        "append 2.5 s after the end; block start times fall off the us grid.",
        [Channel("frac", fs, T0, x, block_len=500,
                 appends=[Write(float_channel_data(1000, fs, rng), start_after(T0, 4000, fs, 2.5))])],
    ))

    # -- several NaN gaps, different per channel (all >= fs samples)
    rng = np.random.default_rng(103)
    add(Scenario(
        "nan_gaps",
        "256 Hz and 512 Hz channels, 10 s, several NaN gaps (each >= fs samples so "
        "both writers store them as gaps), one at the very start of one channel and "
        "one at the very end of the other.",
        [Channel("g256", 256.0, T0,
                 with_gaps(float_channel_data(2560, 256.0, rng),
                            [(300, 600), (1000, 1400), (2000, 2256)])),
         Channel("g512", 512.0, T0,
                 with_gaps(float_channel_data(5120, 512.0, rng),
                            [(0, 700), (1500, 2100), (4600, 5120)]))],
    ))

    # -- NaN runs shorter than fs: writer dependent
    rng = np.random.default_rng(104)
    add(Scenario(
        "short_nan_runs",
        "WRITER DEPENDENT: 1000 Hz, 5 s with NaN runs of 1, 10 and 300 samples "
        "(< fs). mef3io stores each run as a gap; mef_tools (max_nans_written='fs') "
        "stores them as samples of value 0 and starts no new block.",
        [Channel("s1000", 1000.0, T0,
                 with_gaps(float_channel_data(5000, 1000.0, rng),
                            [(500, 501), (1200, 1210), (3000, 3300)]))],
        writer_dependent=True,
    ))

    # -- several segments
    rng = np.random.default_rng(105)
    fs = 500.0
    add(Scenario(
        "segments",
        "'seg' at 500 Hz in 3 segments (new_segment=True): 4 s at T0, 3 s at T0+6 s "
        "(with a 1 s NaN gap inside), 2 s at T0+12.5 s; 'ref' 500 Hz, 14 s in one "
        "segment.",
        [Channel("seg", fs, T0, float_channel_data(2000, fs, rng), block_len=700,
                 appends=[Write(with_gaps(float_channel_data(1500, fs, rng), [(600, 1100)]),
                                T0 + 6_000_000, new_segment=True),
                          Write(float_channel_data(1000, fs, rng), T0 + 12_500_000,
                                new_segment=True)]),
         Channel("ref", fs, T0, float_channel_data(7000, fs, rng))],
    ))

    # -- in-segment appends, same writer and separately constructed writers
    rng = np.random.default_rng(106)
    add(Scenario(
        "appends",
        "In-segment appends. 'a' 1000 Hz block 1000: 3 s at T0; +2 s contiguous "
        "(same writer); +2 s after a 2 s gap written by a NEW writer object "
        "(reopen); +1 s contiguous (same new writer). 'b' 256 Hz: 4 s, then 4 s "
        "contiguous from a new writer. mef_tools: after a reopen the appends use "
        "its default block length (10*fs), not block_len.",
        [Channel("a", 1000.0, T0, float_channel_data(3000, 1000.0, rng), block_len=1000,
                 appends=[Write(float_channel_data(2000, 1000.0, rng), T0 + 3_000_000),
                          Write(float_channel_data(2000, 1000.0, rng), T0 + 7_000_000,
                                reopen=True),
                          Write(float_channel_data(1000, 1000.0, rng), T0 + 9_000_000)]),
         Channel("b", 256.0, T0, float_channel_data(1024, 256.0, rng), block_len=512,
                 appends=[Write(float_channel_data(1024, 256.0, rng), T0 + 4_000_000,
                                reopen=True)])],
    ))

    # -- int32 extremes and constant runs
    M = 2 ** 31 - 2
    rng = np.random.default_rng(107)
    ext = np.concatenate([
        np.array([M, -M, M, -M, 0, 1, -1, M, M, -M], dtype=np.int64),
        np.full(490, 12345), np.full(500, -M), np.full(500, M), np.zeros(300, dtype=np.int64),
        rng.integers(-M, M, 1200, endpoint=True),
    ]).astype(np.int32)
    add(Scenario(
        "int32_extremes",
        "Integer counts at ufact 1.0, 1000 Hz, block 777: alternating +-(2**31-2) "
        "(differences overflow int32), constant runs of 12345, -(2**31-2), "
        "+(2**31-2) and 0, then full-range random counts. mef_tools writes them as "
        "float with precision 0, mef3io with write_int32. (INT32_MIN is RED's NaN "
        "and 2**31-1 its +inf: not used.)",
        [Channel("ext", 1000.0, T0, ext, precision=0, ufact=1.0, block_len=777),
         Channel("const", 250.0, T0, np.full(1000, -7, dtype=np.int32), precision=0,
                 ufact=1.0)],
    ))

    # -- int32 with a non-decimal factor and a validity mask (mef3io only)
    rng = np.random.default_rng(108)
    counts = rng.integers(-20000, 20000, 3000).astype(np.int32)
    valid = np.ones(3000, bool)
    valid[1000:1600] = False
    add(Scenario(
        "int32_ufact",
        "mef3io only: write_int32 counts with ufact 0.195 (an amplifier's uV/bit, "
        "not a power of ten: mef_tools cannot store it) and a valid mask with a "
        "600-sample gap, 600 Hz.",
        [Channel("amp", 600.0, T0, counts, precision=None, ufact=0.195, valid=valid)],
        writers=("mef3io",),
    ))

    # -- odd block lengths
    rng = np.random.default_rng(109)
    add(Scenario(
        "odd_blocks",
        "Odd block lengths: 1000 Hz block 777 (7 s, a 1.2 s gap), 2048 Hz block "
        "1001 (3 s), 250 Hz block 13 (2 s).",
        [Channel("b777", 1000.0, T0,
                 with_gaps(float_channel_data(7000, 1000.0, rng), [(2000, 3200)]),
                 block_len=777),
         Channel("b1001", 2048.0, T0, float_channel_data(6144, 2048.0, rng), block_len=1001),
         Channel("b13", 250.0, T0, float_channel_data(500, 250.0, rng), block_len=13)],
    ))

    # -- encrypted
    rng = np.random.default_rng(110)
    add(Scenario(
        "encrypted",
        "Encrypted with password1 'pass1' and password2 'pass2': 256 Hz and 512 Hz, "
        "5 s, one gap; session-level Note and EDFA, channel-level Note.",
        [Channel("e256", 256.0, T0, float_channel_data(1280, 256.0, rng)),
         Channel("e512", 512.0, T0,
                 with_gaps(float_channel_data(2560, 512.0, rng), [(1000, 1600)]))],
        password1="pass1", password2="pass2",
        annotations=[
            {"time": T0 + 1_000_000, "type": "Note", "text": "session note"},
            {"time": T0 + 2_000_000, "type": "EDFA", "text": "event", "duration": 500_000},
            {"time": T0 + 3_000_000, "type": "Note", "text": "channel note", "channel": "e256"},
        ],
    ))

    # -- records of every type (pymef) at session and channel level
    rec_channels = [Channel("r256", 256.0, T0, float_channel_data(1536, 256.0, np.random.default_rng(111)))]
    annotations = [
        {"time": T0 + 500_000, "type": "Note", "text": "Note at session level"},
        {"time": T0 + 1_000_000, "type": "EDFA", "text": "EDF+ annotation", "duration": 250_000},
        {"time": T0 + 1_250_000, "type": "SyLg", "text": "system log line"},
        {"time": T0 + 1_500_000, "type": "Note", "text": "Note at channel level", "channel": "r256"},
        {"time": T0 + 1_750_000, "type": "EDFA", "text": "channel EDFA", "duration": 100,
         "channel": "r256"},
    ]
    records = [
        {"type": "Seiz", "time": T0 + 2_000_000, "earliest_onset": T0 + 2_000_000,
         "latest_offset": T0 + 4_000_000, "duration": 2_000_000, "number_of_channels": 2,
         "onset_code": 2, "marker_name_1": "m1", "marker_name_2": "m2", "annotation": "seizure",
         "channels": [{"name": "r256", "onset": T0 + 2_000_000, "offset": T0 + 3_000_000},
                      {"name": "other", "onset": T0 + 2_100_000, "offset": T0 + 4_000_000}]},
        {"type": "CSti", "time": T0 + 2_500_000, "task_type": "naming",
         "stimulus_duration": 100_000, "stimulus_type": "visual", "patient_response": "correct"},
        {"type": "ESti", "time": T0 + 3_000_000, "amplitude": 1.5, "frequency": 50.0,
         "pulse_width": 200, "ampunit_code": 1, "mode_code": 1, "waveform": "biphasic",
         "anode": "r256", "catode": "ref"},
        {"type": "Curs", "time": T0 + 3_500_000, "id_number": 7, "trace_timestamp": T0 + 3_500_000,
         "latency": 10, "value": 3.25, "name": "cursor"},
        {"type": "Epoc", "time": T0 + 4_000_000, "id_number": 8, "timestamp": T0 + 4_000_000,
         "end_timestamp": T0 + 5_000_000, "duration": 1_000_000, "epoch_type": "sleep",
         "text": "N2"},
        {"type": "LNTP", "time": T0 + 4_500_000, "template": np.array([1, -2, 3, -4, 5], np.int64)},
        {"type": "SyLg", "time": T0 + 4_750_000, "text": "pymef SyLg"},
        {"type": "Seiz", "time": T0 + 2_200_000, "earliest_onset": T0 + 2_200_000,
         "latest_offset": T0 + 2_900_000, "duration": 700_000, "number_of_channels": 1,
         "onset_code": 1, "marker_name_1": "a", "marker_name_2": "b", "annotation": "focal",
         "channels": [{"name": "r256", "onset": T0 + 2_200_000, "offset": T0 + 2_900_000}],
         "channel": "r256"},
        {"type": "Epoc", "time": T0 + 5_000_000, "id_number": 9, "timestamp": T0 + 5_000_000,
         "end_timestamp": T0 + 5_500_000, "duration": 500_000, "epoch_type": "wake",
         "text": "W", "channel": "r256"},
        {"type": "Curs", "time": T0 + 5_250_000, "id_number": 10, "trace_timestamp": T0 + 5_250_000,
         "latency": 0, "value": -1.0, "name": "c2", "channel": "r256"},
    ]
    add(Scenario(
        "records",
        "256 Hz, 6 s. Writer annotations: session Note/EDFA/SyLg, channel Note/EDFA. "
        "Then pymef write_mef_records adds Seiz (with channel sub-records), CSti, "
        "ESti, Curs, Epoc, LNTP, SyLg at session level and Seiz, Epoc, Curs at "
        "channel level (re-writing the existing ones first).",
        rec_channels, annotations=annotations, records=records,
    ))
    add(Scenario(
        "records_encrypted",
        "The 'records' scenario encrypted with 'pass1'/'pass2'. mef3io encrypts "
        "its record bodies (level 2) but the pymef rewrite stores them all "
        "unencrypted again.",
        rec_channels, annotations=annotations, records=records,
        password1="pass1", password2="pass2",
    ))
    # -- a units conversion factor per segment (meflib-based writers produce them)
    rng = np.random.default_rng(112)
    fs = 500.0
    add(Scenario(
        "segment_factors",
        "500 Hz, a units conversion factor per segment. 'mix': segment 0 at precision 2 "
        "(factor 0.01, 4 s), segment 1 int32 counts at factor 0.001 (3 s from T0+6 s: a "
        "whole fraction of 0.01). 'amp': segment 0 at precision 1 (0.1, 4 s), segment 1 "
        "at 0.195 (an amplifier's uV/bit: no whole ratio), 2 s from T0+5 s. 'ref': one "
        "segment, 10 s. Segments 1 are written with pymef's write_mef_ts_segment_metadata "
        "/ write_mef_ts_segment_data. mef_tools' get_data scales every segment with the "
        "first one's factor (wrong by the ratio there).",
        [Channel("mix", fs, T0, float_channel_data(2000, fs, rng)),
         Channel("amp", fs, T0, float_channel_data(2000, fs, rng, precision=1), precision=1),
         Channel("ref", fs, T0, float_channel_data(5000, fs, rng))],
        pymef_segments=[
            {"channel": "mix", "counts": rng.integers(-400_000, 400_000, 1500).astype(np.int32),
             "start_uutc": T0 + 6_000_000, "ufact": 0.001},
            {"channel": "amp", "counts": rng.integers(-20_000, 20_000, 1000).astype(np.int32),
             "start_uutc": T0 + 5_000_000, "ufact": 0.195},
        ],
    ))
    return sc


SCENARIOS: Dict[str, Scenario] = _scenarios()


def scenario_names(writer: Optional[str] = None) -> List[str]:
    """Scenario names, optionally only those ``writer`` can build."""
    return [n for n, s in SCENARIOS.items() if writer is None or writer in s.writers]
