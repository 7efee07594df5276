"""Build MEF 3.0 sessions with the reference writers, from the specs of
:mod:`support.scenarios`.

* ``mef_tools.io.MefWriter`` (mef_tools 1.2.3, built on pymef/meflib): :func:`build_with_mef_tools`
* ``mef3io.Writer`` (mef3io 2.0.1, an independent C++ implementation): :func:`build_with_mef3io`
* pymef ``write_mef_records`` (every record type): :func:`add_records_with_pymef`
* a whole :class:`~support.scenarios.Scenario`: :func:`build_scenario`

What each writer can and cannot write, and its quirks, is in ``tests/ORACLES.md``.
The oracles are imported when a builder is called, so importing this module needs
only numpy.
"""
from __future__ import annotations

import gc
import os
import shutil
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from support.quiet import quiet
from support.read_oracles import pymef_records
from support.scenarios import SCENARIOS, Channel, Scenario, as_channel

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


def split_by_channel(items: Optional[Sequence[dict]]) -> Dict[Optional[str], List[dict]]:
    """Group record/annotation dicts by their ``channel`` key (None = session level), dropping the key."""
    out: Dict[Optional[str], List[dict]] = {}
    for it in items or []:
        it = dict(it)
        out.setdefault(it.pop("channel", None), []).append(it)
    return out


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
        with quiet():
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
                with quiet():
                    ok = w.write_data(wr.float_data(), ch.name, int(wr.start_uutc), ch.fs,
                                      precision=precision, new_segment=bool(wr.new_segment))
                if ok is not True:
                    raise OracleWriteError(
                        f"mef_tools write_data refused {ch.name} at {wr.start_uutc} (returned {ok!r})")
        for chan, items in split_by_channel(annotations).items():
            with quiet():
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
    groups = split_by_channel(annotations)
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
    with quiet():
        s = MefSession(str(session_path), password2 or password1)
        try:
            existing = pymef_records(s, channel)
        finally:
            s.close()
    allrec = [_pymef_record_for_rewrite(r) for r in existing] + records
    times = [int(r["time"]) for r in allrec]
    with quiet():
        s = MefSession(str(session_path), password2 or password1, False)
        s.write_mef_records(password1, password2, min(times), max(times), 0, allrec,
                            channel=channel)


def add_segments_with_pymef(session_path, segments: Sequence[dict], password1=None, password2=None) -> None:
    """Add a new segment per dict (``channel``, ``counts`` int32, ``start_uutc``,
    ``ufact``; optional ``block_len``, default the rate) with pymef's low-level API:
    ``write_mef_ts_segment_metadata`` (which takes the factor per segment) then
    ``write_mef_ts_segment_data``. The segment takes the next number; its rate, units and
    start sample follow the channel as pymef reads it."""
    from pymef.mef_session import MefSession

    path = str(session_path).rstrip("/")
    for seg in segments:
        name = seg["channel"]
        channel_dir = os.path.join(path, f"{name}.timd")
        number = len([e for e in os.listdir(channel_dir) if e.endswith(".segd")])
        with quiet():
            s = MefSession(path + "/", password2 or password1 or "")
            try:
                info = {bi["name"]: bi for bi in s.read_ts_channel_basic_info()}[name]
            finally:
                s.close()
        fs = float(info["fsamp"][0])
        counts = np.asarray(seg["counts"], np.int32)
        start = int(seg["start_uutc"])
        end = start + int(round(len(counts) * 1e6 / fs))
        units = info["unit"][0]
        section2 = {
            "sampling_frequency": fs,
            "units_conversion_factor": float(seg["ufact"]),
            "units_description": units if isinstance(units, bytes) else str(units).encode(),
            "start_sample": int(info["nsamp"][0]),
            "recording_duration": end - start,
        }
        section3 = {"recording_time_offset": 0, "GMT_offset": 0}
        with quiet():
            s = MefSession(path + "/", password2 or password1 or "", False)
            s.write_mef_ts_segment_metadata(name, number, password1, password2, start, end, section2, section3)
            s.write_mef_ts_segment_data(name, number, password1, password2, int(seg.get("block_len") or fs), counts)
            s.close()


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
    add_segments_with_pymef(path, sc.pymef_segments, sc.password1, sc.password2)
    for chan, items in split_by_channel(sc.records).items():
        add_records_with_pymef(path, items, channel=chan, password1=sc.password1,
                               password2=sc.password2)
    return path
