"""Oracle harness: build MEF 3.0 fixture sessions with the reference writers and
read them back with the reference readers.

Reference implementations (test oracles, see ``tests/ORACLES.md``):

* ``mef_tools.io.MefWriter`` / ``MefReader`` (mef_tools 1.2.3, built on pymef)
* ``pymef.mef_session.MefSession`` (pymef 1.4.8, wraps meflib, the reference C library)
* ``mef3io.Writer`` / ``mef3io.Reader`` (mef3io 2.0.1, independent C++ implementation)

This module imports only numpy at import time, so the scenario specs and
:func:`load_expected` work without the oracles installed; every function that
needs an oracle imports it when called.

Builders
--------
``build_with_mef_tools(path, channels, password1=None, password2=None, annotations=None, ...)``
``build_with_mef3io(path, channels, password1=None, password2=None, annotations=None)``
``add_records_with_pymef(session_path, records, channel=None, password1=None, password2=None)``
``build_scenario(scenario, path, writer="mef_tools")``

Readers (plain Python / numpy results)
--------------------------------------
``read_pymef(path, password=None)``
``read_mef3io(path, password="")``
``read_mef_tools(path, password2=None)``

Scenarios
---------
``SCENARIOS``: name -> :class:`Scenario`; ``scenario_names(writer)`` lists the
ones a writer can build.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

T0 = 1_600_000_000_000_000  #: default session start, uUTC (2020-09-13 12:26:40 UTC)

WRITERS = ("mef_tools", "mef3io")
READERS = ("pymef", "mef3io", "mef_tools")

#: Record types each writer can produce (see ORACLES.md for details).
#: mef_tools ``write_annotations`` goes through pymef ``_create_np_record`` with a
#: DataFrame of ``time/type/text/duration`` columns, so only the text types work.
#: mef3io ``Writer.write_annotations`` passes only ``type/time/text/duration``;
#: other type codes are accepted but written with an EMPTY body, which pymef
#: then cannot read (UnicodeDecodeError, or a segfault for Seiz/LNTP/unknown).
ANNOTATION_TYPES = {
    "mef_tools": ("Note", "EDFA", "SyLg"),
    "mef3io": ("Note", "EDFA", "SyLg"),
}
#: Record types ``add_records_with_pymef`` (pymef ``write_mef_records``) can write.
PYMEF_RECORD_TYPES = ("Note", "SyLg", "EDFA", "LNTP", "Seiz", "CSti", "ESti", "Curs", "Epoc")


class OracleWriteError(RuntimeError):
    """A reference writer refused or failed a write the spec asked for."""


# ---------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Data helpers
# ---------------------------------------------------------------------------


def pink_noise(n: int, rng: np.random.Generator, alpha: float = 1.0) -> np.ndarray:
    """Unit-variance 1/f**alpha noise (spectral shaping of white noise)."""
    n = int(n)
    if n < 2:
        return rng.standard_normal(n)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    spec /= f ** (alpha / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (x.std() or 1.0)


def ieeg_like(n: int, fs: float, rng: np.random.Generator, amp_uv: float = 40.0,
              rhythm_hz: float = 10.0, rhythm_uv: float = 15.0) -> np.ndarray:
    """iEEG-looking float signal in uV: 1/f noise plus a waxing/waning rhythm."""
    t = np.arange(int(n)) / float(fs)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 2 * np.pi))
    rhythm = rhythm_uv * envelope * np.sin(2 * np.pi * rhythm_hz * t + rng.uniform(0, 2 * np.pi))
    return amp_uv * pink_noise(n, rng) + rhythm


def exact_decimal(x: np.ndarray, precision: int):
    """Quantize ``x`` to ``precision`` decimals so BOTH writers store the same counts.

    mef3io stores ``round(x * 10**p)``; mef_tools stores
    ``int32(10**p * np.round(x, p))`` (a truncating cast), which is one count
    low whenever ``10**p * (k / 10**p)`` lands just below ``k`` in float64.
    Counts where the two would differ are nudged by one until they agree.
    Returns ``(data, counts)``: float64 data (NaN kept) and the int64 counts
    (0 at NaN) both writers store for it.
    """
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    scale = 10 ** int(precision)
    counts = np.where(nan, 0, np.rint(np.where(nan, 0, x) * scale)).astype(np.int64)
    for _ in range(8):
        data = counts / scale
        m3 = np.rint(data * scale)
        mt = np.trunc(scale * np.round(data, int(precision)))
        bad = ((m3 != counts) | (mt != counts)) & ~nan
        if not bad.any():
            break
        counts[bad] += np.where(counts[bad] >= 0, 1, -1)
    else:  # pragma: no cover - never seen
        raise ValueError("could not find writer-exact decimal values")
    data = counts / scale
    data[nan] = np.nan
    return data, counts


def _float_channel_data(n, fs, rng, precision=2, **kw):
    return exact_decimal(ieeg_like(n, fs, rng, **kw), precision)[0]


def _with_gaps(x: np.ndarray, gaps: Sequence[tuple]) -> np.ndarray:
    """Set ``x[a:b] = NaN`` for every ``(a, b)`` in ``gaps`` (sample indices)."""
    x = np.array(x, dtype=np.float64)
    for a, b in gaps:
        x[a:b] = np.nan
    return x


def _after(start_uutc: int, n: int, fs: float, gap_s: float = 0.0) -> int:
    """Start time of a write following ``n`` samples from ``start_uutc``."""
    return int(start_uutc + round(n * 1e6 / fs) + round(gap_s * 1e6))


# ---------------------------------------------------------------------------
# Utilities
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet():
    """Silence the oracles' prints and warnings."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _prepare_path(path, overwrite: bool) -> str:
    path = str(path).rstrip("/")
    if not path.endswith(".mefd"):
        raise ValueError(f"session path must end with .mefd: {path}")
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(path)
        shutil.rmtree(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return path


def _split_by_channel(items: Optional[Sequence[dict]]) -> Dict[Optional[str], List[dict]]:
    out: Dict[Optional[str], List[dict]] = {}
    for it in items or []:
        it = dict(it)
        out.setdefault(it.pop("channel", None), []).append(it)
    return out


def _plain(v: Any) -> Any:
    """numpy scalars / bytes / 1-element arrays -> plain Python (recursively)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, bytes):
        return v.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray):
        if v.size == 1 and v.dtype.kind in "biufSa":
            return _plain(v.reshape(-1)[0])
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def _mef_tools_annotation_frame(items: List[dict]):
    import pandas as pd

    rows = []
    for a in items:
        if a.get("type", "Note") not in ANNOTATION_TYPES["mef_tools"]:
            raise NotImplementedError(
                f"mef_tools write_annotations cannot write {a.get('type')!r}; "
                "use add_records_with_pymef")
        rows.append({"time": int(a["time"]), "type": a.get("type", "Note"),
                     "text": a.get("text", ""),
                     **({"duration": int(a["duration"])} if a.get("duration") is not None else {})})
    df = pd.DataFrame(rows)
    if "duration" in df.columns:
        # mef_tools casts the whole column to int64: a Note row without a
        # duration (NaN) makes it raise IntCastingNaNError. Notes ignore it.
        df["duration"] = df["duration"].fillna(0).astype(np.int64)
    return df


def build_with_mef_tools(path, channels: Sequence[Union[Channel, dict]], password1=None,
                         password2=None, annotations=None, max_nans_written=None,
                         overwrite=True) -> str:
    """Write a session with ``mef_tools.io.MefWriter`` from channel specs.

    Channels are written one after the other, each write with
    ``MefWriter.write_data`` (``precision`` = the channel's precision, 0 for
    integer data). ``Write.reopen`` closes the writer and constructs a new
    ``MefWriter`` on the existing session first. ``max_nans_written`` sets
    ``MefWriter.max_nans_written`` (``None`` keeps mef_tools' default ``'fs'``:
    NaN runs SHORTER than fs samples are stored as 0-valued samples, not as
    gaps). Annotations: ``MefWriter.write_annotations`` (Note/EDFA/SyLg).
    Returns the session path.
    """
    from mef_tools.io import MefWriter

    path = _prepare_path(path, overwrite)
    chans = [as_channel(c) for c in channels]

    def new_writer():
        with _quiet():
            w = MefWriter(path, overwrite=False, password1=password1, password2=password2)
        if max_nans_written is not None:
            w.max_nans_written = max_nans_written
        return w

    def close(w):
        w.session.close()

    w = new_writer()
    try:
        for ch in chans:
            if ch.is_int and ch.ufact != 1.0:
                raise NotImplementedError(
                    "mef_tools stores ufact = 10**-precision only; integer data needs ufact 1.0")
            precision = 0 if ch.is_int else (None if ch.precision is None else int(ch.precision))
            for wr in ch.writes():
                if wr.reopen:
                    close(w)
                    w = new_writer()
                # Captured per channel when the channel is created (and on every
                # metadata reload after a write); a freshly constructed writer
                # has already computed the default for existing channels.
                w.mef_block_len = None if ch.block_len is None else int(ch.block_len)
                w.data_units = ch.units
                with _quiet():
                    ok = w.write_data(wr.float_data(), ch.name, int(wr.start_uutc), ch.fs,
                                      precision=precision, new_segment=bool(wr.new_segment))
                if ok is not True:
                    raise OracleWriteError(
                        f"mef_tools write_data refused {ch.name} at {wr.start_uutc} (returned {ok!r})")
        for chan, items in _split_by_channel(annotations).items():
            with _quiet():
                w.write_annotations(_mef_tools_annotation_frame(items), channel=chan)
    finally:
        close(w)
        del w
        gc.collect()
    return path


def build_with_mef3io(path, channels: Sequence[Union[Channel, dict]], password1=None,
                      password2=None, annotations=None, overwrite=True) -> str:
    """Write a session with ``mef3io.Writer`` from channel specs.

    Each channel gets its own ``Writer`` (``block_length`` is per Writer);
    float data goes through ``Writer.write(precision=...)`` (NaN = gap; the
    channel's precision is passed on EVERY write, because mef3io infers a new
    one for a ``new_segment`` write otherwise), integer data through
    ``Writer.write_int32(ufact=..., valid=...)``. ``Write.reopen`` closes and
    constructs a new Writer. Annotations: ``Writer.write_annotations``
    (Note/EDFA/SyLg). Returns the session path.
    """
    import mef3io

    path = _prepare_path(path, overwrite)
    chans = [as_channel(c) for c in channels]

    def new_writer(ch=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mef3io.Writer(path, overwrite=False, password1=password1 or "",
                                 password2=password2 or "",
                                 units=None if ch is None else ch.units,
                                 block_length=None if ch is None or ch.block_len is None
                                 else int(ch.block_len))

    for ch in chans:
        w = None
        try:
            for wr in ch.writes():
                if w is None or wr.reopen:
                    if w is not None:
                        w.close()
                    w = new_writer(ch)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if ch.is_int:
                        w.write_int32(ch.name, wr.data, float(ch.ufact), int(wr.start_uutc), ch.fs,
                                      valid=None if wr.valid is None else wr.valid.astype(np.uint8),
                                      new_segment=bool(wr.new_segment))
                    else:
                        w.write(ch.name, wr.float_data(), int(wr.start_uutc), ch.fs,
                                precision=-1 if ch.precision is None else int(ch.precision),
                                new_segment=bool(wr.new_segment))
        finally:
            if w is not None:
                w.close()
    groups = _split_by_channel(annotations)
    if groups:
        w = new_writer()
        try:
            for chan, items in groups.items():
                norm = []
                for a in items:
                    t = a.get("type", "Note")
                    if t not in ANNOTATION_TYPES["mef3io"]:
                        raise NotImplementedError(
                            f"mef3io write_annotations writes {t!r} with an empty body; "
                            "use add_records_with_pymef")
                    rec = {"type": t, "time": int(a["time"]), "text": a.get("text", "")}
                    if t == "EDFA":
                        rec["duration"] = int(a.get("duration") or 0)
                    norm.append(rec)
                w.write_annotations(norm, channel=chan)
        finally:
            w.close()
    return path


def _pymef_record_for_rewrite(rec: dict) -> dict:
    """A record dict read back by pymef, made writable again by pymef."""
    rec = {k: v for k, v in rec.items()}
    if rec.get("type") == "LNTP":
        # pymef reads the template with (body bytes - 8) ENTRIES, not bytes:
        # only the first `length` entries are real.
        n = int(rec.get("length", 0))
        rec["template"] = np.asarray(rec.get("template", []), dtype=np.int64)[:n]
        rec.pop("length", None)
    if rec.get("type") == "Seiz" and "channels" in rec:
        rec["channels"] = [dict(c) for c in rec["channels"]]
    return rec


def add_records_with_pymef(session_path, records: Sequence[dict], channel=None,
                           password1=None, password2=None) -> None:
    """Add records to a session (or channel) with pymef ``write_mef_records``.

    pymef can only (re)write a whole ``.rdat``/``.ridx`` pair, so existing
    records at that level are read back with pymef and written again, followed
    by ``records`` (file order = existing, then new). All types of
    ``PYMEF_RECORD_TYPES`` work (fields as in ``MefSession.write_mef_records``;
    LNTP ``template`` is an int64 array). pymef stores record bodies
    UNENCRYPTED (encryption byte 0) even with passwords, and a rewrite turns
    records another writer had encrypted into plaintext ones.
    """
    from pymef.mef_session import MefSession

    records = [dict(r) for r in records]
    for r in records:
        if r.get("type") not in PYMEF_RECORD_TYPES:
            raise ValueError(f"pymef cannot write record type {r.get('type')!r}")
    with _quiet():
        s = MefSession(str(session_path), password2 or password1)
        try:
            existing = _pymef_records(s, channel)
        finally:
            s.close()
    allrec = [_pymef_record_for_rewrite(r) for r in existing] + records
    times = [int(r["time"]) for r in allrec]
    with _quiet():
        s = MefSession(str(session_path), password2 or password1, False)
        s.write_mef_records(password1, password2, min(times), max(times), 0, allrec,
                            channel=channel)


def build_scenario(scenario: Union[str, Scenario], path, writer: str = "mef_tools") -> str:
    """Build a :class:`Scenario` (or a name in ``SCENARIOS``) with ``writer``."""
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    if writer not in sc.writers:
        raise NotImplementedError(f"scenario {sc.name!r} cannot be built with {writer}")
    if writer == "mef_tools":
        path = build_with_mef_tools(path, sc.channels, sc.password1, sc.password2, sc.annotations)
    elif writer == "mef3io":
        path = build_with_mef3io(path, sc.channels, sc.password1, sc.password2, sc.annotations)
    else:
        raise ValueError(f"unknown writer {writer!r}")
    for chan, items in _split_by_channel(sc.records).items():
        add_records_with_pymef(path, items, channel=chan, password1=sc.password1,
                               password2=sc.password2)
    return path


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------


def _pymef_records(session, channel=None) -> List[dict]:
    md = session.session_md
    holder = md if channel is None else md["time_series_channels"][channel]
    if "records_info" not in holder:  # no .rdat at this level: pymef raises KeyError
        return []
    recs = session.read_records() if channel is None else session.read_records(channel)
    out = []
    for r in recs:
        r = _plain(r)
        if r.get("type") == "LNTP" and "template" in r:
            r["template"] = [int(v) for v in np.asarray(r["template"])[: int(r.get("length", 0))]]
        out.append(r)
    return out


def _plausible_rate(fs) -> bool:
    return isinstance(fs, float) and math.isfinite(fs) and 0 < fs < 1e7


def read_pymef(path, password=None, data=True) -> dict:
    """Everything pymef reports about a session, as plain Python / numpy.

    Returns ``{"path", "password", "start_time", "end_time", "channels",
    "records", "errors"}``. ``channels[name]`` holds ``fs``, ``ufact``,
    ``units``, ``start_time``/``end_time`` (channel earliest start / latest end,
    uUTC, end = just past the last sample), ``number_of_samples`` (stored
    samples, gaps not counted), ``number_of_blocks``, ``segments`` (list of
    dicts: ``name``, ``start_sample``, ``number_of_samples``,
    ``number_of_blocks``, ``start_time``, ``end_time``, ``fs``, ``ufact``,
    ``block_start_times``/``block_start_samples``/``block_samples``/
    ``block_flags`` from the ``.tidx`` as pymef maps it — ``start_sample`` is
    stored segment-relative by meflib but channel-wide by mef3io),
    ``toc`` (``MefSession.get_channel_toc``: dict of int64 arrays
    ``discontinuity``/``number_of_samples``/``start_sample``/``start_time``;
    pymef derives ``discontinuity`` from block times, not from the flag),
    ``basic_info`` (``read_ts_channel_basic_info`` entry) and ``records``.
    With ``data=True`` also ``data`` = ``read_ts_channels_uutc(ch,
    [start_time, end_time])`` — RAW COUNTS as float64 (NOT scaled by ufact),
    NaN in gaps, ``round((end-start)*fs/1e6)`` samples — ``data_scaled`` =
    ``data * ufact``, and ``samples`` = ``read_ts_channels_sample(ch, [0,
    number_of_samples])`` (stored samples back to back, gaps skipped).
    Anything that raises is recorded in ``errors`` (key ``"<channel>.<what>"``)
    and the value set to None.
    """
    from pymef.mef_session import MefSession

    out: Dict[str, Any] = {"path": str(path), "password": password, "channels": {},
                           "records": None, "errors": {}}
    with _quiet():
        s = MefSession(str(path), password)
        try:
            smd = s.session_md["session_specific_metadata"]
            out["start_time"] = _plain(smd["earliest_start_time"])
            out["end_time"] = _plain(smd["latest_end_time"])
            try:
                out["records"] = _pymef_records(s, None)
            except Exception as e:  # noqa: BLE001
                out["errors"]["records"] = _err(e)
            basic = {b["name"]: _plain(b) for b in s.read_ts_channel_basic_info()}
            for name in sorted(s.session_md["time_series_channels"]):
                out["channels"][name] = _read_pymef_channel(s, name, basic.get(name), data,
                                                            out["errors"])
        finally:
            s.close()
    return out


def _read_pymef_channel(s, name, basic, data, errors) -> dict:
    ch = s.session_md["time_series_channels"][name]
    s2 = ch["section_2"]
    csm = ch["channel_specific_metadata"]
    info: Dict[str, Any] = {
        "fs": _plain(s2["sampling_frequency"]),
        "ufact": _plain(s2["units_conversion_factor"]),
        "units": _plain(s2["units_description"]),
        "start_time": _plain(csm["earliest_start_time"]),
        "end_time": _plain(csm["latest_end_time"]),
        "number_of_samples": _plain(s2["number_of_samples"]),
        "number_of_blocks": _plain(s2["number_of_blocks"]),
        "recording_time_offset": _plain(ch["section_3"]["recording_time_offset"]),
        "basic_info": basic,
        "segments": [],
    }
    for sname in sorted(ch["segments"]):
        sg = ch["segments"][sname]
        ss2 = sg["section_2"]
        uh = sg["universal_headers"]["metadata"]
        idx = sg["indices"]
        info["segments"].append({
            "name": sname,
            "start_sample": _plain(ss2["start_sample"]),
            "number_of_samples": _plain(ss2["number_of_samples"]),
            "number_of_blocks": _plain(ss2["number_of_blocks"]),
            "start_time": _plain(uh["start_time"]),
            "end_time": _plain(uh["end_time"]),
            "fs": _plain(ss2["sampling_frequency"]),
            "ufact": _plain(ss2["units_conversion_factor"]),
            "block_start_times": np.asarray(idx["start_time"], dtype=np.int64).copy(),
            "block_start_samples": np.asarray(idx["start_sample"], dtype=np.int64).copy(),
            "block_samples": np.asarray(idx["number_of_samples"], dtype=np.int64).copy(),
            "block_flags": np.asarray(idx["RED_block_flags"], dtype=np.int64).copy(),
        })
    try:
        toc = np.asarray(s.get_channel_toc(name), dtype=np.int64)
        info["toc"] = {"discontinuity": toc[0].copy(), "number_of_samples": toc[1].copy(),
                       "start_sample": toc[2].copy(), "start_time": toc[3].copy()}
    except Exception as e:  # noqa: BLE001
        info["toc"] = None
        errors[f"{name}.toc"] = _err(e)
    try:
        info["records"] = _pymef_records(s, name)
    except Exception as e:  # noqa: BLE001
        info["records"] = None
        errors[f"{name}.records"] = _err(e)
    if data:
        fs, t0, t1, n = info["fs"], info["start_time"], info["end_time"], info["number_of_samples"]
        # A level-1 password leaves section 2 encrypted in pymef: fs etc. are
        # ciphertext read as numbers. Do not let that size an allocation.
        if not (_plausible_rate(fs) and isinstance(n, int) and 0 <= n < 10**8
                and (t1 - t0) * fs / 1e6 < 10**8):
            info["data"] = info["data_scaled"] = info["samples"] = None
            errors[f"{name}.data"] = f"implausible metadata (fs={fs!r}, n={n!r}); not read"
        else:
            try:
                d = s.read_ts_channels_uutc(name, [int(t0), int(t1)])
                info["data"] = None if d is None else np.asarray(d, dtype=np.float64)
                info["data_scaled"] = None if d is None else info["data"] * info["ufact"]
            except Exception as e:  # noqa: BLE001
                info["data"] = info["data_scaled"] = None
                errors[f"{name}.data"] = _err(e)
            try:
                d = s.read_ts_channels_sample(name, [0, int(n)]) if n > 0 else np.zeros(0)
                info["samples"] = None if d is None else np.asarray(d, dtype=np.float64)
            except Exception as e:  # noqa: BLE001
                info["samples"] = None
                errors[f"{name}.samples"] = _err(e)
    return info


def read_mef3io(path, password="", data=True) -> dict:
    """Everything mef3io reports about a session.

    Returns ``{"path", "password", "channels", "records", "records_all",
    "warnings", "errors"}``; ``channels[name]`` = ``{"info": Reader.info,
    "segments": Reader.segments, "toc": Reader.toc, "records":
    Reader.records(name)}`` plus, with ``data=True``, ``"read"``
    (``Reader.read(name)``: float64 on the fs grid over [start_time,
    end_time), NaN in gaps, scaled) and ``"read_raw"`` (dict with int32
    ``samples``, uint8 ``valid`` ...). ``records`` = ``Reader.records(None)``
    (session level), ``records_all`` = ``Reader.records(level="all")``.
    ``warnings``: ``[(category name, message)]`` emitted while reading.
    Anything that raises is recorded in ``errors`` and set to None.
    """
    import mef3io

    out: Dict[str, Any] = {"path": str(path), "password": password, "channels": {},
                           "records": None, "records_all": None, "warnings": [], "errors": {}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = mef3io.Reader(str(path), password=password or "")
        try:
            for key, call in (("records", lambda: r.records(None)),
                              ("records_all", lambda: r.records(level="all"))):
                try:
                    out[key] = call()
                except Exception as e:  # noqa: BLE001
                    out["errors"][key] = _err(e)
            for name in r.channels:
                ch: Dict[str, Any] = {"info": r.info(name), "segments": r.segments(name),
                                      "toc": r.toc(name)}
                try:
                    ch["records"] = r.records(name)
                except Exception as e:  # noqa: BLE001
                    ch["records"] = None
                    out["errors"][f"{name}.records"] = _err(e)
                if data:
                    ch["read"] = r.read(name)
                    ch["read_raw"] = r.read_raw(name)
                out["channels"][name] = ch
        finally:
            r.close()
    out["warnings"] = [(w.category.__name__, str(w.message)) for w in caught]
    return out


def read_mef_tools(path, password2=None) -> dict:
    """What ``mef_tools.io.MefReader`` reports.

    Returns ``{"channels": MefReader.channels, "properties":
    MefReader.properties, "info": {ch: get_channel_info(ch)}, "data": {ch:
    get_data(ch)} (float64, SCALED by ufact, NaN in gaps, over the channel's
    own start/end), "annotations": get_annotations(), "channel_annotations":
    {ch: get_annotations(ch)}, "errors"}``. ``get_annotations`` returns None
    (and prints a warning) when pymef fails with TypeError; a session without
    records makes it raise KeyError, recorded in ``errors``.
    """
    from mef_tools.io import MefReader

    out: Dict[str, Any] = {"path": str(path), "password2": password2, "info": {}, "data": {},
                           "annotations": None, "channel_annotations": {}, "errors": {}}
    with _quiet():
        mr = MefReader(str(path), password2=password2)
        try:
            out["channels"] = list(mr.channels)
            out["properties"] = [str(p) for p in mr.properties]
            for ch in out["channels"]:
                out["info"][ch] = _plain(mr.get_channel_info(ch))
                try:
                    out["data"][ch] = np.asarray(mr.get_data(ch), dtype=np.float64)
                except Exception as e:  # noqa: BLE001
                    out["data"][ch] = None
                    out["errors"][f"{ch}.data"] = _err(e)
                try:
                    a = mr.get_annotations(ch)
                    out["channel_annotations"][ch] = None if a is None else _plain(a)
                except Exception as e:  # noqa: BLE001
                    out["channel_annotations"][ch] = None
                    out["errors"][f"{ch}.annotations"] = _err(e)
            try:
                a = mr.get_annotations()
                out["annotations"] = None if a is None else _plain(a)
            except Exception as e:  # noqa: BLE001
                out["errors"]["annotations"] = _err(e)
        finally:
            mr.close()
    return out


READ_FUNCTIONS = {"pymef": read_pymef, "mef3io": read_mef3io, "mef_tools": read_mef_tools}


def read_with(reader: str, path, password=None, data=True) -> dict:
    """Dispatch to ``read_<reader>`` with the password argument it expects."""
    if reader == "pymef":
        return read_pymef(path, password, data=data)
    if reader == "mef3io":
        return read_mef3io(path, password or "", data=data)
    if reader == "mef_tools":
        return read_mef_tools(path, password)
    raise ValueError(f"unknown reader {reader!r}")


# ---------------------------------------------------------------------------
# Comparison helpers
# ---------------------------------------------------------------------------


def record_key(rec: dict) -> tuple:
    """A writer/reader-neutral summary of a record for comparisons."""
    t = rec.get("type")
    body = {k: v for k, v in rec.items()
            if k not in ("type", "time", "level", "channel", "segment",
                         "version_major", "version_minor")}
    if t in ("Note", "SyLg"):
        body = {"text": body.get("text")}
    elif t == "EDFA":
        body = {"text": body.get("text"), "duration": body.get("duration")}
    return (t, int(rec["time"]), json.dumps(_jsonable(body), sort_keys=True))


def records_summary(recs: Optional[Sequence[dict]]) -> Optional[list]:
    """Records as sorted ``(type, time, body-json)`` tuples (order-insensitive)."""
    if recs is None:
        return None
    return sorted(record_key(r) for r in recs)


def _jsonable(v):
    v = _plain(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def same_samples(a, b) -> bool:
    """Equal arrays with NaN in the same places."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def grid_index(t, t0, fs, rule="mef3io"):
    """Where a sample at uUTC ``t`` lands in a read starting at ``t0``.

    mef3io 2.0.1: ``x = (t - t0) * fs / 1e6``, ``ceil(x - 0.5)`` (nearest,
    exact ties toward -inf). pymef 1.4.8: ``x = ((t - t0) / 1e6) * fs``,
    nearest with ties away from zero (so a tie in the first block, which
    starts before t0, goes left while the later blocks go right, leaving a
    one-sample NaN hole; and whether x is an exact tie depends on float
    rounding of that expression). See ORACLES.md.
    """
    dt = np.asarray(t, dtype=np.int64) - np.int64(t0)
    if rule == "mef3io":
        x = dt.astype(np.float64) * fs / 1e6
        return np.ceil(x - 0.5).astype(np.int64)
    if rule == "pymef":
        # meflib's order of operations, ((t - t0) / 1e6) * fs, matters at ties:
        # (4005500 / 1e6) * 1000 = 4005.4999999999995 -> 4005, not 4006.
        x = (dt.astype(np.float64) / 1e6) * fs
        return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
    raise ValueError(rule)


def grid_model_read(block_starts, block_sizes, stored, fs, t0, t1, rule="mef3io"):
    """The documented read model: ``n = floor((t1 - t0) * fs / 1e6 + 0.5)``
    output samples, NaN everywhere, then sample ``k`` of each block (start
    uUTC ``block_starts[b]``, ``block_sizes[b]`` samples, values taken in order
    from ``stored``) is put at ``grid_index(block_start, t0, fs, rule) + k``
    when that is inside ``[0, n)``. Returns float64 (counts, not scaled).
    Reproduces mef3io ``read_raw`` (rule "mef3io") and pymef
    ``read_ts_channels_uutc`` (rule "pymef") on every window tried, except
    pymef's windows entirely outside the channel (None -> truncated length).
    """
    n = max(int(math.floor((t1 - t0) * fs / 1e6 + 0.5)), 0)
    out = np.full(n, np.nan)
    stored = np.asarray(stored, dtype=np.float64)
    k = 0
    for bt, bn in zip(block_starts, block_sizes):
        bn = int(bn)
        i0 = int(grid_index(int(bt), t0, fs, rule))
        lo, hi = max(0, -i0), min(bn, n - i0)
        if hi > lo:
            out[i0 + lo:i0 + hi] = stored[k + lo:k + hi]
        k += bn
    return out


# ---------------------------------------------------------------------------
# Committed fixtures (no oracle needed)
# ---------------------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parent / "data"


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
    d = Path(data_dir) if data_dir is not None else DATA_DIR
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


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


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
        [Channel("c250", 250.0, T0, _float_channel_data(1000, 250.0, rng)),
         Channel("c1000", 1000.0, T0, _float_channel_data(4000, 1000.0, rng)),
         Channel("c2048", 2048.0, T0 + 1237, _float_channel_data(8192, 2048.0, rng))],
    ))

    # -- fractional sampling rate with a gap and a later in-segment append
    rng = np.random.default_rng(102)
    fs = 499.907
    x = _with_gaps(_float_channel_data(4000, fs, rng), [(1500, 2100)])
    add(Scenario(
        "fractional_fs",
        "499.907 Hz, 8 s with a 600-sample NaN gap, block 500, then an in-segment "
        "append 2.5 s after the end; block start times fall off the us grid.",
        [Channel("frac", fs, T0, x, block_len=500,
                 appends=[Write(_float_channel_data(1000, fs, rng), _after(T0, 4000, fs, 2.5))])],
    ))

    # -- several NaN gaps, different per channel (all >= fs samples)
    rng = np.random.default_rng(103)
    add(Scenario(
        "nan_gaps",
        "256 Hz and 512 Hz channels, 10 s, several NaN gaps (each >= fs samples so "
        "both writers store them as gaps), one at the very start of one channel and "
        "one at the very end of the other.",
        [Channel("g256", 256.0, T0,
                 _with_gaps(_float_channel_data(2560, 256.0, rng),
                            [(300, 600), (1000, 1400), (2000, 2256)])),
         Channel("g512", 512.0, T0,
                 _with_gaps(_float_channel_data(5120, 512.0, rng),
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
                 _with_gaps(_float_channel_data(5000, 1000.0, rng),
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
        [Channel("seg", fs, T0, _float_channel_data(2000, fs, rng), block_len=700,
                 appends=[Write(_with_gaps(_float_channel_data(1500, fs, rng), [(600, 1100)]),
                                T0 + 6_000_000, new_segment=True),
                          Write(_float_channel_data(1000, fs, rng), T0 + 12_500_000,
                                new_segment=True)]),
         Channel("ref", fs, T0, _float_channel_data(7000, fs, rng))],
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
        [Channel("a", 1000.0, T0, _float_channel_data(3000, 1000.0, rng), block_len=1000,
                 appends=[Write(_float_channel_data(2000, 1000.0, rng), T0 + 3_000_000),
                          Write(_float_channel_data(2000, 1000.0, rng), T0 + 7_000_000,
                                reopen=True),
                          Write(_float_channel_data(1000, 1000.0, rng), T0 + 9_000_000)]),
         Channel("b", 256.0, T0, _float_channel_data(1024, 256.0, rng), block_len=512,
                 appends=[Write(_float_channel_data(1024, 256.0, rng), T0 + 4_000_000,
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
                 _with_gaps(_float_channel_data(7000, 1000.0, rng), [(2000, 3200)]),
                 block_len=777),
         Channel("b1001", 2048.0, T0, _float_channel_data(6144, 2048.0, rng), block_len=1001),
         Channel("b13", 250.0, T0, _float_channel_data(500, 250.0, rng), block_len=13)],
    ))

    # -- encrypted
    rng = np.random.default_rng(110)
    add(Scenario(
        "encrypted",
        "Encrypted with password1 'pass1' and password2 'pass2': 256 Hz and 512 Hz, "
        "5 s, one gap; session-level Note and EDFA, channel-level Note.",
        [Channel("e256", 256.0, T0, _float_channel_data(1280, 256.0, rng)),
         Channel("e512", 512.0, T0,
                 _with_gaps(_float_channel_data(2560, 512.0, rng), [(1000, 1600)]))],
        password1="pass1", password2="pass2",
        annotations=[
            {"time": T0 + 1_000_000, "type": "Note", "text": "session note"},
            {"time": T0 + 2_000_000, "type": "EDFA", "text": "event", "duration": 500_000},
            {"time": T0 + 3_000_000, "type": "Note", "text": "channel note", "channel": "e256"},
        ],
    ))

    # -- records of every type (pymef) at session and channel level
    rec_channels = [Channel("r256", 256.0, T0, _float_channel_data(1536, 256.0, np.random.default_rng(111)))]
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
    return sc


SCENARIOS: Dict[str, Scenario] = _scenarios()


def scenario_names(writer: Optional[str] = None) -> List[str]:
    """Scenario names, optionally only those ``writer`` can build."""
    return [n for n, s in SCENARIOS.items() if writer is None or writer in s.writers]
