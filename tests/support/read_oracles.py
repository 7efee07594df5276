"""Read a session with the reference readers, as plain Python / numpy results.

* :func:`read_pymef` -- ``pymef.mef_session.MefSession`` (pymef 1.4.8, wraps meflib,
  the reference C library)
* :func:`read_mef3io` -- ``mef3io.Reader`` (mef3io 2.0.1, independent C++)
* :func:`read_mef_tools` -- ``mef_tools.io.MefReader`` (mef_tools 1.2.3)
* :func:`read_with` -- one of them by name

Each reader is imported when called. What they report, and where they disagree, is
in ``tests/ORACLES.md``.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, List

import numpy as np

from support.plain import error_text, plain
from support.quiet import quiet

READERS = ("pymef", "mef3io", "mef_tools")


def pymef_records(session, channel=None) -> List[dict]:
    """The records pymef reads at session level (``channel`` None) or of a channel."""
    md = session.session_md
    holder = md if channel is None else md["time_series_channels"][channel]
    if "records_info" not in holder:  # no .rdat at this level: pymef raises KeyError
        return []
    recs = session.read_records() if channel is None else session.read_records(channel)
    out = []
    for r in recs:
        r = plain(r)
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
    with quiet():
        s = MefSession(str(path), password)
        try:
            smd = s.session_md["session_specific_metadata"]
            out["start_time"] = plain(smd["earliest_start_time"])
            out["end_time"] = plain(smd["latest_end_time"])
            try:
                out["records"] = pymef_records(s, None)
            except Exception as e:  # noqa: BLE001
                out["errors"]["records"] = error_text(e)
            basic = {b["name"]: plain(b) for b in s.read_ts_channel_basic_info()}
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
        "fs": plain(s2["sampling_frequency"]),
        "ufact": plain(s2["units_conversion_factor"]),
        "units": plain(s2["units_description"]),
        "start_time": plain(csm["earliest_start_time"]),
        "end_time": plain(csm["latest_end_time"]),
        "number_of_samples": plain(s2["number_of_samples"]),
        "number_of_blocks": plain(s2["number_of_blocks"]),
        "recording_time_offset": plain(ch["section_3"]["recording_time_offset"]),
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
            "start_sample": plain(ss2["start_sample"]),
            "number_of_samples": plain(ss2["number_of_samples"]),
            "number_of_blocks": plain(ss2["number_of_blocks"]),
            "start_time": plain(uh["start_time"]),
            "end_time": plain(uh["end_time"]),
            "fs": plain(ss2["sampling_frequency"]),
            "ufact": plain(ss2["units_conversion_factor"]),
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
        errors[f"{name}.toc"] = error_text(e)
    try:
        info["records"] = pymef_records(s, name)
    except Exception as e:  # noqa: BLE001
        info["records"] = None
        errors[f"{name}.records"] = error_text(e)
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
                errors[f"{name}.data"] = error_text(e)
            try:
                d = s.read_ts_channels_sample(name, [0, int(n)]) if n > 0 else np.zeros(0)
                info["samples"] = None if d is None else np.asarray(d, dtype=np.float64)
            except Exception as e:  # noqa: BLE001
                info["samples"] = None
                errors[f"{name}.samples"] = error_text(e)
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
                    out["errors"][key] = error_text(e)
            for name in r.channels:
                ch: Dict[str, Any] = {"info": r.info(name), "segments": r.segments(name),
                                      "toc": r.toc(name)}
                try:
                    ch["records"] = r.records(name)
                except Exception as e:  # noqa: BLE001
                    ch["records"] = None
                    out["errors"][f"{name}.records"] = error_text(e)
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
    with quiet():
        mr = MefReader(str(path), password2=password2)
        try:
            out["channels"] = list(mr.channels)
            out["properties"] = [str(p) for p in mr.properties]
            for ch in out["channels"]:
                out["info"][ch] = plain(mr.get_channel_info(ch))
                try:
                    out["data"][ch] = np.asarray(mr.get_data(ch), dtype=np.float64)
                except Exception as e:  # noqa: BLE001
                    out["data"][ch] = None
                    out["errors"][f"{ch}.data"] = error_text(e)
                try:
                    a = mr.get_annotations(ch)
                    out["channel_annotations"][ch] = None if a is None else plain(a)
                except Exception as e:  # noqa: BLE001
                    out["channel_annotations"][ch] = None
                    out["errors"][f"{ch}.annotations"] = error_text(e)
            try:
                a = mr.get_annotations()
                out["annotations"] = None if a is None else plain(a)
            except Exception as e:  # noqa: BLE001
                out["errors"]["annotations"] = error_text(e)
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
