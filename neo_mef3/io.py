"""neo.io for MEF 3.0: :class:`MEF3IO` reads (through :class:`~neo_mef3.rawio.MEF3RawIO`,
lazy proxies included) and writes neo Blocks.

Writing (:meth:`MEF3IO.write_block`) maps neo onto MEF as follows (``docs/neo.md``):

* every AnalogSignal channel becomes a MEF channel, named after the channel name
  (``array_annotations["channel_names"]``, else the signal's name); channels are matched
  across Segments by name when every Segment has the same names, else by position;
* the samples are stored as int32 counts with a conversion factor chosen so the values
  come back at the signal's own precision (the signal's quantization step when it has
  one, else the coarsest power of ten that reproduces it, else the finest power of ten
  int32 can hold, with a warning); NaN samples become gaps; units are the signal's units;
* times: ``uUTC = rec_datetime + t``, with ``rec_datetime`` from the argument, else the
  Block's, else :data:`DEFAULT_REC_DATETIME` (naive datetimes are taken as UTC);
* each neo Segment is a MEF segment (``new_segment``); a Segment that would overlap an
  earlier one in time (e.g. trials that all start at t=0) is moved to start where the
  previous Segments end, with a warning;
* Events become ``Note`` records and Epochs ``EDFA`` records (with their durations), at
  session level or, when an event carries a ``mef_channel`` array annotation naming a
  written channel, at that channel's level. The record text is the label, prefixed by
  ``"<name>: "`` unless the object is named after a record type (Note, SyLg, EDFA).
* SpikeTrains and IrregularlySampledSignals have no MEF equivalent; they are skipped with
  a warning.
"""

import math
import os
import re
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Optional, Union

import numpy as np

from neo.core import AnalogSignal, Block, Epoch, Event, Segment
from neo.io.baseio import BaseIO
from neo.io.basefromrawio import BaseFromRaw

from .rawio import MEF3RawIO
from .writer import Writer as NativeWriter

__all__ = ["MEF3IO", "DEFAULT_REC_DATETIME", "choose_conversion_factor"]

#: absolute time of t = 0 when neither write_block nor the Block gives a rec_datetime
DEFAULT_REC_DATETIME = datetime(2000, 1, 1, tzinfo=timezone.utc)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RED_MAX = 2**31 - 2  # the largest magnitude a RED sample may hold
_WRITABLE_EVENT_TYPES = ("Note", "SyLg")
_WRITABLE_EPOCH_TYPES = ("EDFA",)


def _uutc(dt):
    """Integer microseconds since the Unix epoch of a datetime (naive = UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def _close(r, x, dtype):
    """True where r reproduces x at the precision of `dtype`."""
    if np.dtype(dtype) == np.float32:  # what neo will hand back: float32 values
        return r.astype(np.float32) == x.astype(np.float32)
    return np.abs(r - x) <= 4 * np.spacing(np.abs(x))


def _estimate_step(v):
    """The quantization step of values v (float64, finite), or None."""
    u = np.unique(v if v.size <= 200_000 else v[:: max(1, v.size // 200_000)])
    if u.size < 3:
        return None
    d = np.diff(u)
    d = d[d > 0]
    if d.size == 0:
        return None
    # the smallest difference among the values nearest zero is the least noisy estimate
    near = u[np.argsort(np.abs(u))[: min(u.size, 2000)]]
    dn = np.diff(np.sort(near))
    dn = dn[dn > 0]
    f = float(dn.min() if dn.size else d.min())
    if f <= 0 or not math.isfinite(f):
        return None
    for bound in (1e3, 1e5, 1e7, None):
        sel = u if bound is None else u[np.abs(u) <= bound * f]
        if sel.size == 0:
            continue
        c = np.rint(sel / f)
        if np.abs(c).max() > _RED_MAX:
            return None
        cc = float(np.dot(c, c))
        if cc == 0:
            return None
        f = float(np.dot(sel, c) / cc)
    return f


def choose_conversion_factor(x, dtype=np.float64):
    """(factor, exact) so that ``rint(x / factor) * factor`` gives x back.

    Tries the data's own quantization step, then powers of ten (coarsest first); if none
    reproduces x at the precision of `dtype` within the int32 range, returns the finest
    power of ten that fits with ``exact=False``.
    """
    x = np.asarray(x, dtype=np.float64)
    v = x[np.isfinite(x)]
    if v.size == 0:
        return 1.0, True
    amax = float(np.abs(v).max())
    if amax == 0.0:
        return 1.0, True

    def ok(f):
        if not (f > 0 and math.isfinite(f)) or amax / f > _RED_MAX:
            return False
        c = np.rint(v / f)
        return bool(np.all(_close(c * f, v, dtype)))

    if np.all(v == np.rint(v)) and amax <= _RED_MAX:
        return 1.0, True
    step = _estimate_step(v)
    if step is not None:
        # the shortest decimal form of the step that works (0.0099999997 -> 0.01)
        for f in [float(f"{step:.{k}g}") for k in range(1, 9)] + [step]:
            if ok(f):
                return f, True
    for p in range(-9, 19):
        f = 10.0 ** (-p)
        if amax / f > _RED_MAX:
            break
        if ok(f):
            return f, True
    p = int(math.floor(math.log10(_RED_MAX / amax)))
    return 10.0 ** (-p), False


_BAD_NAME = re.compile(r"[/\\\x00]")


def _clean_name(name, fallback):
    name = _BAD_NAME.sub("_", str(name or "")).strip()
    while name.startswith("."):
        name = "_" + name[1:]
    name = name.replace("..", "__")
    if not name:
        name = fallback
    raw = name.encode("utf-8")[:200]
    return raw.decode("utf-8", errors="ignore") or fallback


def _units_string(q):
    s = q.units.dimensionality.string
    return "" if s == "dimensionless" else s


class MEF3IO(MEF3RawIO, BaseFromRaw):
    """Read and write MEF 3.0 sessions with neo.

    Parameters
    ----------
    dirname : str or path-like
        The ``.mefd`` session directory. It need not exist yet when only writing.
    password : str or None
        Password for reading an encrypted session (level 2 gives records and subject
        identity, level 1 the signals only).
    keep_original_times : bool
        Read times as seconds since the Unix epoch instead of since the session start.
    n_threads : int
        Decoding threads (0 = all cores).
    check_crc : bool
        Verify RED block CRCs while reading.

    Examples
    --------
    >>> import neo_mef3, neo
    >>> block = neo.io.get_io("session.mefd").read_block(lazy=True)
    >>> neo_mef3.MEF3IO("copy.mefd").write_block(block)
    """

    name = "MEF3IO"
    description = "MEF 3.0 (Multiscale Electrophysiology Format) sessions, read and written by neo_mef3"
    extensions = MEF3RawIO.extensions
    mode = "dir"
    is_readable = True
    is_writable = True
    supported_objects = [Block, Segment, AnalogSignal, Event, Epoch]
    readable_objects = [Block, Segment]
    writeable_objects = [Block]
    _prefered_signal_group_mode = "group-by-same-units"

    #: see the module docstring
    default_rec_datetime = DEFAULT_REC_DATETIME
    #: the Writer class write_block uses (None: neo_mef3.writer.Writer)
    writer_class = None

    def __init__(self, dirname: Union[str, "os.PathLike[str]"], password: Optional[str] = None,
                 keep_original_times: bool = False, n_threads: int = 0, check_crc: bool = True) -> None:
        MEF3RawIO.__init__(
            self,
            dirname=dirname,
            password=password,
            keep_original_times=keep_original_times,
            n_threads=n_threads,
            check_crc=check_crc,
        )
        if os.path.exists(self.dirname):
            BaseFromRaw.__init__(self, self.dirname)
        else:  # a session to be written
            BaseIO.__init__(self, self.dirname)

    def _ensure_header(self):
        if not self.is_header_parsed:
            self.parse_header()

    def read_block(self, *args: Any, **kwargs: Any) -> Block:
        self._ensure_header()
        return BaseFromRaw.read_block(self, *args, **kwargs)

    def read_segment(self, *args: Any, **kwargs: Any) -> Segment:
        self._ensure_header()
        return BaseFromRaw.read_segment(self, *args, **kwargs)

    # ------------------------------------------------------------------ writing ----
    def write_block(self, block: Block, overwrite: bool = False, rec_datetime: Optional[datetime] = None,
                    password1: str = "", password2: str = "", block_length: Optional[int] = None) -> Dict[str, Any]:
        """Write a neo Block as a MEF 3.0 session at ``dirname``.

        Parameters
        ----------
        block : neo.Block
            Lazy proxies are loaded segment by segment.
        overwrite : bool
            Replace an existing session (otherwise an existing non-empty session is an
            error).
        rec_datetime : datetime or None
            Absolute time of t = 0; default ``block.rec_datetime``, else
            :data:`DEFAULT_REC_DATETIME`. Naive datetimes are UTC.
        password1, password2 : str
            Encrypt the session (give both, as MEF requires).
        block_length : int or None
            RED block length in samples (None: the writer's default).

        Returns
        -------
        dict
            ``channels`` (MEF name -> factor, units, rate), ``segment_shifts_s`` and
            ``inexact`` (channels quantized coarser than their precision).
        """
        Writer = self.writer_class or NativeWriter
        path = self.dirname
        if os.path.exists(path) and not overwrite:
            if not os.path.isdir(path) or os.listdir(path):
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        origin = rec_datetime if rec_datetime is not None else getattr(block, "rec_datetime", None)
        origin_us = _uutc(origin if origin is not None else self.default_rec_datetime)

        plan = _plan(block, origin_us)
        if not plan["channels"] and not plan["records"]:
            raise ValueError("the Block holds no AnalogSignal, Event or Epoch to write")

        groups = {}
        for name, ch in plan["channels"].items():
            groups.setdefault(ch["units"], []).append(name)
        first = True
        writer_kw = dict(password1=password1 or "", password2=password2 or "", block_length=block_length)
        if not groups:
            groups = {"": []}
        last_units = list(groups)[-1]
        for units, names in groups.items():
            w = Writer(path, overwrite=bool(first and overwrite), units=units or None, **writer_kw)
            first = False
            try:
                for name in names:
                    ch = plan["channels"][name]
                    done_any = False
                    for piece in ch["pieces"]:
                        valid = piece["valid"]
                        if not valid.any():
                            continue
                        w.write_int32(
                            name,
                            piece["counts"],
                            ch["factor"],
                            piece["start_uutc"],
                            ch["fs"],
                            valid=None if valid.all() else valid.astype(np.uint8),
                            new_segment=done_any,
                        )
                        done_any = True
                if units == last_units:
                    by_level = {}
                    for rec in plan["records"]:
                        target = rec.pop("channel", None)
                        if target not in plan["channels"]:
                            target = None
                        by_level.setdefault(target, []).append(rec)
                    for target, recs in by_level.items():
                        recs.sort(key=lambda r: r["time"])
                        w.write_annotations(recs, channel=target)
            finally:
                w.close()
        # the session changed: re-read the header on the next read
        self.header = None
        self.is_header_parsed = False
        return {
            "channels": {
                n: {"units_conversion_factor": c["factor"], "units": c["units"], "sampling_frequency": c["fs"]}
                for n, c in plan["channels"].items()
            },
            "segment_shifts_s": plan["shifts"],
            "inexact": plan["inexact"],
        }


# ---------------------------------------------------------------------------------
def _signal_channel_names(sig, k_sig):
    n = sig.shape[1] if sig.ndim == 2 else 1
    names = None
    ann = getattr(sig, "array_annotations", {}) or {}
    if "channel_names" in ann and len(ann["channel_names"]) == n:
        names = [str(x) for x in ann["channel_names"]]
        if not all(names):
            names = None
    if names is None:
        base = str(sig.name) if sig.name else f"signal{k_sig}"
        names = [base] if n == 1 else [f"{base}_{j}" for j in range(n)]
    return names


def _plan(block, origin_us):
    """Channels (with their pieces), records and segment shifts for write_block."""
    segments = list(block.segments)
    loaded = []
    for seg in segments:
        sigs = [s.load() if hasattr(s, "load") else s for s in seg.analogsignals]
        evs = [e.load() if hasattr(e, "load") else e for e in seg.events]
        eps = [e.load() if hasattr(e, "load") else e for e in seg.epochs]
        skipped = len(seg.spiketrains) + len(getattr(seg, "irregularlysampledsignals", []))
        if skipped:
            warnings.warn(
                "MEF3IO.write_block: SpikeTrains and IrregularlySampledSignals have no MEF 3.0 "
                f"equivalent; {skipped} object(s) skipped"
            )
        loaded.append((sigs, evs, eps))

    # channel names per segment; match by name if every segment has the same names
    per_seg_names = [[nm for k, s in enumerate(sigs) for nm in _signal_channel_names(s, k)] for sigs, _, _ in loaded]
    nonempty = [n for n in per_seg_names if n]
    by_name = all(sorted(n) == sorted(nonempty[0]) and len(set(n)) == len(n) for n in nonempty) if nonempty else True

    channels = {}  # MEF name -> {fs, units, dtype, pieces}
    key_to_name = {}
    used = set()
    shifts = []
    prev_end = None
    records = []
    for s_idx, (sigs, evs, eps) in enumerate(loaded):
        entries = []  # (key, name, fs, units, column data (float64), dtype, start_us)
        for k, sig in enumerate(sigs):
            names = _signal_channel_names(sig, k)
            fs = float(sig.sampling_rate.rescale("Hz").magnitude)
            t0 = float(sig.t_start.rescale("s").magnitude)
            units = _units_string(sig)
            mag = np.asarray(sig.magnitude)
            if mag.ndim == 1:
                mag = mag[:, None]
            for j, nm in enumerate(names):
                key = nm if by_name else (k, j)
                entries.append((key, nm, fs, units, mag[:, j], mag.dtype, origin_us + int(round(t0 * 1e6))))
        # overlap with earlier segments -> shift this segment
        shift = 0
        if entries and prev_end is not None:
            start = min(e[6] for e in entries)
            if start < prev_end:
                shift = prev_end - start
        if shift:
            warnings.warn(
                f"MEF3IO.write_block: Segment {s_idx} overlaps an earlier Segment in time; "
                f"it is written {shift / 1e6:g} s later (MEF channels hold one sample per time)"
            )
        shifts.append(shift / 1e6)
        for key, nm, fs, units, data, dtype, start in entries:
            name = key_to_name.get(key)
            if name is not None and (channels[name]["fs"] != fs or channels[name]["units"] != units):
                name = None  # same position/name, different rate or units: a channel of its own
                key = (key, fs, units)
                name = key_to_name.get(key)
            if name is None:
                base = _clean_name(nm, f"channel{len(channels)}")
                name, i = base, 2
                while name in used:
                    name, i = f"{base}_{i}", i + 1
                used.add(name)
                key_to_name[key] = name
                channels[name] = {"fs": fs, "units": units, "dtype": dtype, "pieces": []}
            start += shift
            channels[name]["pieces"].append({"data": data, "start_uutc": start})
            end = start + int(math.ceil(len(data) * 1e6 / fs))
            prev_end = end if prev_end is None else max(prev_end, end)
        for ev in evs:
            records.extend(_event_records(ev, origin_us + shift, epoch=False))
        for ep in eps:
            records.extend(_event_records(ep, origin_us + shift, epoch=True))

    inexact = {}
    for name, ch in channels.items():
        data = np.concatenate([p["data"] for p in ch["pieces"]]).astype(np.float64)
        dtype = np.float32 if ch["dtype"] == np.float32 else np.float64
        factor, exact = choose_conversion_factor(data, dtype)
        if not exact:
            inexact[name] = factor
            warnings.warn(
                f"MEF3IO.write_block: channel {name!r} does not fit int32 counts at its full precision; "
                f"stored at a resolution of {factor:g} {ch['units']}"
            )
        ch["factor"] = float(factor)
        for p in ch["pieces"]:
            x = np.asarray(p.pop("data"), dtype=np.float64)
            valid = np.isfinite(x)
            counts = np.zeros(len(x), np.int32)
            c = np.rint(x[valid] / factor)
            counts[valid] = np.clip(c, -_RED_MAX, _RED_MAX).astype(np.int32)
            p["counts"] = counts
            p["valid"] = valid
    return {"channels": channels, "records": records, "shifts": shifts, "inexact": inexact}


def _event_records(obj, origin_us, epoch):
    times = np.asarray(obj.times.rescale("s").magnitude, dtype=np.float64)
    labels = np.asarray(obj.labels) if getattr(obj, "labels", None) is not None and len(obj.labels) else None
    name = str(obj.name) if obj.name else ""
    allowed = _WRITABLE_EPOCH_TYPES if epoch else _WRITABLE_EVENT_TYPES
    rtype = name if name in allowed else ("EDFA" if epoch else "Note")
    prefix = "" if (name in allowed or not name) else f"{name}: "
    chans = None
    ann = getattr(obj, "array_annotations", {}) or {}
    if "mef_channel" in ann and len(ann["mef_channel"]) == len(times):
        chans = [str(c) or None for c in ann["mef_channel"]]
    durations = None
    if epoch:
        durations = np.asarray(obj.durations.rescale("s").magnitude, dtype=np.float64)
    out = []
    for i, t in enumerate(times):
        label = "" if labels is None else str(labels[i])
        text = (prefix + label) if label else (name if name not in allowed else "")
        rec = {"type": rtype, "time": origin_us + int(round(t * 1e6)), "text": text}
        if epoch:
            rec["duration"] = int(round(max(float(durations[i]), 0.0) * 1e6))
        if chans is not None and chans[i]:
            rec["channel"] = chans[i]
        out.append(rec)
    return out
