"""Writing a neo Block as a MEF 3.0 session, a window at a time (``MEF3IO.write_block``).

The mapping (``docs/neo.md``):

* every AnalogSignal channel becomes a MEF channel, named after the channel name
  (``array_annotations["channel_names"]``, else the signal's name); channels are matched
  across Segments by name when every Segment has the same names, else by position;
* the samples are stored as int32 counts with a conversion factor that keeps the
  values' own precision: a lazy signal whose source gives raw integer counts and a gain
  (neo's rawio ``signal_channels``, offset 0) is stored as those counts with the gain as
  factor (bit-exact); other signals on their quantization step when they have one
  (:func:`choose_conversion_factor`), else by the Writer's precision rule (a new
  segment when a later window needs another factor); NaN samples become gaps; units are
  the signal's units;
* times: ``uUTC = rec_datetime + t``, with ``rec_datetime`` from the argument, else the
  Block's, else :data:`DEFAULT_REC_DATETIME` with a WriteWarning (naive datetimes are
  taken as UTC);
* each neo Segment is a MEF segment (``new_segment``); a Segment that would overlap an
  earlier one in time (e.g. trials that all start at t=0) is moved to start where the
  previous Segments end, with a warning;
* Events become ``Note`` records and Epochs ``EDFA`` records (with their durations), at
  session level or, when an event carries a ``mef_channel`` array annotation naming a
  written channel, at that channel's level. The record text is the label, prefixed by
  ``"<name>: "`` unless the object is named after a record type (Note, SyLg, EDFA);
* SpikeTrains and IrregularlySampledSignals have no MEF equivalent; they are skipped with
  a warning.

Memory: signals are read and written window by window (:data:`WINDOW_BYTES` of samples
per signal, whole RED blocks per channel), never whole; a lazy Block's proxies are
read through their rawio with exact sample indices.
"""

import math
import re
import warnings
from datetime import datetime, timedelta, timezone

import numpy as np

from .errors import PrecisionWarning, WriteWarning
from .progress import Tracker
from .writer import default_block_length
from .writer.interrupts import deferred
from .writer.quantize import fits_factor, quantize, resolution

__all__ = ["write_block", "DEFAULT_REC_DATETIME", "choose_conversion_factor", "WINDOW_BYTES"]

#: absolute time of t = 0 when neither write_block nor the Block gives a rec_datetime
DEFAULT_REC_DATETIME = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: samples of one signal (all its channels) read per window, in float64 bytes
WINDOW_BYTES = 16 << 20

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


def _signal_channel_names(sig, k_sig):
    n = sig.shape[1] if len(sig.shape) == 2 else 1
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


# --- where a signal's samples come from ---------------------------------------------------
class _Source:
    """A window reader over one AnalogSignal (or proxy): ``read(i0, i1)`` gives an
    ``(n, channels)`` array, raw integer counts when ``gains`` is set (one per column,
    offset 0), else values in the signal's units."""

    def __init__(self, sig):
        self.sig = sig
        self.n, self.gains, self._raw = int(sig.shape[0]), None, None
        rawio = getattr(sig, "_rawio", None)
        if rawio is not None and hasattr(rawio, "get_analogsignal_chunk"):
            try:
                self._from_rawio(sig, rawio)
            except (AttributeError, KeyError, IndexError, TypeError, ValueError):
                self._raw = None
        self.dtype = np.float32 if np.dtype(getattr(sig, "dtype", np.float64)) == np.float32 else np.float64

    def _from_rawio(self, sig, rawio):
        chans = rawio.header["signal_channels"][np.asarray(sig._global_channel_indexes)]
        inner = np.arange(sig._nb_total_chann_in_stream)[sig._inner_stream_channels]
        self._raw = (rawio, sig._block_index, sig._seg_index, sig._stream_index, inner, chans)
        if np.dtype(chans["dtype"][0]).kind in "iu" and np.all(chans["offset"] == 0) and np.all(chans["gain"] > 0):
            self.gains = chans["gain"].astype(np.float64)

    def read(self, i0, i1):
        if self._raw is not None:
            rawio, b, s, stream, inner, chans = self._raw
            raw = rawio.get_analogsignal_chunk(block_index=b, seg_index=s, i_start=i0, i_stop=i1,
                                               stream_index=stream, channel_indexes=inner)
            if self.gains is not None:
                return raw
            return rawio.rescale_signal_raw_to_float(raw, dtype="float64", channel_indexes=inner,
                                                     stream_index=stream)
        mag = np.asarray(self.sig.magnitude)
        return (mag[:, None] if mag.ndim == 1 else mag)[i0:i1]


class _Sink:
    """One MEF channel being written: the conversion factor of each window (the source's
    gain, else the values' step or the Writer's precision rule) and the factors used.
    Every window goes through ``write_int32``, so any Writer class with the native
    Writer's API stores the same counts."""

    def __init__(self, writer, name, fs, dtype):
        self.w, self.name, self.fs, self.dtype = writer, name, fs, dtype
        self.factor = None
        self.factors = []
        self.lossy = False
        self.clamped = 0

    def counts(self, counts, gain, start, new_segment):
        """Raw integer counts of a source with a gain."""
        counts = np.asarray(counts)
        if counts.size and (int(counts.min()) < -_RED_MAX or int(counts.max()) > _RED_MAX):
            return self.values(counts.astype(np.float64) * gain, start, new_segment)
        return self._write(counts, None, gain, start, new_segment)

    def values(self, x, start, new_segment):
        """Values in the channel's units (NaN: gaps)."""
        x = np.asarray(x, np.float64)
        valid = ~np.isnan(x)
        if not valid.any():
            return None  # (a window of gaps: nothing to store)
        res = resolution(x, self.dtype)
        factor = self.factor
        if factor is None or not fits_factor(x, self.dtype, res, factor):
            f, exact = choose_conversion_factor(x, self.dtype)
            factor = f if exact else 10.0 ** -res.precision
            self.lossy = self.lossy or (not exact and res.lossy)
        q = quantize(x, valid, factor, clamp=True)
        self.clamped += q.clamped
        return self._write(q.counts, valid, factor, start, new_segment)

    def _write(self, counts, valid, factor, start, new_segment):
        new_segment = new_segment or (self.factor is not None and factor != self.factor)
        res = self.w.write_int32(self.name, counts, factor, start, self.fs,
                                 valid=None if valid is None or valid.all() else valid.astype(np.uint8),
                                 new_segment=new_segment)
        self.factor = factor
        if not self.factors or self.factors[-1] != factor:
            self.factors.append(factor)
        return res


# --- the plan: what goes where, from metadata only -------------------------------------------
def _load(obj):
    return obj.load() if hasattr(obj, "load") else obj


def _plan(block, origin_us):
    """Per neo Segment: ``signals`` [(source, [(column, channel name)], fs, start_us, units)],
    records; the channels (name -> fs, units, dtype); the time shifts (s)."""
    loaded = []
    for seg in block.segments:
        skipped = len(seg.spiketrains) + len(getattr(seg, "irregularlysampledsignals", []))
        if skipped:
            warnings.warn(
                "MEF3IO.write_block: SpikeTrains and IrregularlySampledSignals have no MEF 3.0 "
                f"equivalent; {skipped} object(s) skipped", stacklevel=4
            )
        loaded.append((list(seg.analogsignals), [_load(e) for e in seg.events], [_load(e) for e in seg.epochs]))

    per_seg_names = [[nm for k, s in enumerate(sigs) for nm in _signal_channel_names(s, k)] for sigs, _, _ in loaded]
    nonempty = [n for n in per_seg_names if n]
    by_name = all(sorted(n) == sorted(nonempty[0]) and len(set(n)) == len(n) for n in nonempty) if nonempty else True

    channels, key_to_name, used = {}, {}, set()
    segments, shifts, prev_end = [], [], None
    for s_idx, (sigs, evs, eps) in enumerate(loaded):
        entries = []
        for k, sig in enumerate(sigs):
            fs = float(sig.sampling_rate.rescale("Hz").magnitude)
            t0 = float(sig.t_start.rescale("s").magnitude)
            entries.append((k, sig, _signal_channel_names(sig, k), fs, _units_string(sig),
                            origin_us + int(round(t0 * 1e6))))
        shift = 0
        if entries and prev_end is not None:
            start = min(e[5] for e in entries)
            if start < prev_end:
                shift = prev_end - start
        if shift:
            warnings.warn(
                f"MEF3IO.write_block: Segment {s_idx} overlaps an earlier Segment in time; "
                f"it is written {shift / 1e6:g} s later (MEF channels hold one sample per time)", stacklevel=4
            )
        shifts.append(shift / 1e6)
        signals = []
        for k, sig, names, fs, units, start in entries:
            columns = []
            for j, nm in enumerate(names):
                key = nm if by_name else (k, j)
                name = key_to_name.get(key)
                if name is not None and (channels[name]["fs"] != fs or channels[name]["units"] != units):
                    key = (key, fs, units)  # same position/name, another rate or units: a channel of its own
                    name = key_to_name.get(key)
                if name is None:
                    base = _clean_name(nm, f"channel{len(channels)}")
                    name, i = base, 2
                    while name in used:
                        name, i = f"{base}_{i}", i + 1
                    used.add(name)
                    key_to_name[key] = name
                    channels[name] = {"fs": fs, "units": units}
                columns.append((j, name))
            signals.append((_Source(sig), columns, fs, start + shift, units))
            n = int(sig.shape[0])
            end = start + shift + int(math.ceil(n * 1e6 / fs))
            prev_end = end if prev_end is None else max(prev_end, end)
        records = []
        for ev in evs:
            records.extend(_event_records(ev, origin_us + shift, epoch=False))
        for ep in eps:
            records.extend(_event_records(ep, origin_us + shift, epoch=True))
        segments.append({"signals": signals, "records": records})
    return segments, channels, shifts


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


# --- writing ----------------------------------------------------------------------------------
def _window(fs, n_columns, block_length):
    """Samples per window: whole blocks, about WINDOW_BYTES of float64 for all columns."""
    block = block_length or default_block_length(fs)
    blocks = max(1, int(WINDOW_BYTES // (8 * max(1, n_columns) * block)))
    return block * blocks


def write_block(writer_class, path, block, overwrite=False, rec_datetime=None, password1="", password2="",
                block_length=None, progress=None, cancel=None, default_rec_datetime=DEFAULT_REC_DATETIME):
    """Write `block` as the session at `path` with `writer_class` (see the module
    docstring and ``MEF3IO.write_block``); returns the summary ``MEF3IO.write_block``
    returns."""
    origin = rec_datetime if rec_datetime is not None else getattr(block, "rec_datetime", None)
    if origin is None:
        warnings.warn(
            "MEF3IO.write_block: the Block has no rec_datetime (neo's EDF reader, for one, leaves it "
            f"empty); its t = 0 is written as {default_rec_datetime:%Y-%m-%d %H:%M UTC}. Pass rec_datetime= "
            "to date the recording", WriteWarning, stacklevel=3)
        origin = default_rec_datetime
    origin_us = _uutc(origin)
    segments, channels, shifts = _plan(block, origin_us)
    records = [r for seg in segments for r in seg["records"]]
    if not channels and not records:
        raise ValueError("the Block holds no AnalogSignal, Event or Epoch to write")

    groups = {}
    for name, ch in channels.items():
        groups.setdefault(ch["units"], []).append(name)
    if not groups:
        groups = {"": []}
    total = sum(src.n * len(cols) for seg in segments for src, cols, _, _, _ in seg["signals"])
    sinks, summaries = {}, {}
    writer_kw = dict(password1=password1 or "", password2=password2 or "", block_length=block_length)
    with deferred() as stop, Tracker(total, "write_block", "samples", progress, cancel) as tracker:
        first = True
        for units, names in groups.items():
            w = writer_class(path, overwrite=bool(first and overwrite), units=units or None, **writer_kw)
            first = False
            try:
                wanted = set(names)
                started = set()
                for seg in segments:
                    new_in_seg = set()
                    for src, cols, fs, start, _ in seg["signals"]:
                        mine = [(j, n) for j, n in cols if n in wanted]
                        if not mine:
                            continue
                        for n in (n for _, n in mine if n not in sinks):
                            sinks[n] = _Sink(w, n, fs, src.dtype)
                        step = _window(fs, len(cols), block_length)
                        for i0 in range(0, src.n, step):
                            stop.check()
                            tracker.check()
                            i1 = min(src.n, i0 + step)
                            data = src.read(i0, i1)
                            t = start + int(math.floor(i0 * 1e6 / fs + 0.5))
                            for j, n in mine:
                                column = np.ascontiguousarray(data[:, j])
                                new_segment = n in started and n not in new_in_seg
                                if src.gains is not None:
                                    res = sinks[n].counts(column, float(src.gains[j]), t, new_segment)
                                else:
                                    res = sinks[n].values(column, t, new_segment)
                                if isinstance(res, dict) and res.get("samples_written"):
                                    started.add(n)
                                    new_in_seg.add(n)
                            tracker.advance((i1 - i0) * len(mine))
                if units == list(groups)[-1]:
                    by_level = {}
                    for rec in records:
                        target = rec.pop("channel", None)
                        if target not in channels:
                            target = None
                        by_level.setdefault(target, []).append(rec)
                    for target, recs in by_level.items():
                        recs.sort(key=lambda r: r["time"])
                        w.write_annotations(recs, channel=target)
            finally:
                out = w.close()
                if isinstance(out, dict):
                    summaries[units] = out
    inexact = {}
    for name, sink in sinks.items():
        if sink.lossy:
            inexact[name] = sink.factors[-1] if sink.factors else None
            warnings.warn(f"MEF3IO.write_block: channel {name!r} does not fit int32 counts at its full precision; "
                          f"stored at a resolution of {inexact[name]:g} {channels[name]['units']}",
                          PrecisionWarning, stacklevel=3)
    return {
        "channels": {
            n: {"units_conversion_factor": sinks[n].factors[0] if n in sinks and sinks[n].factors else None,
                "units_conversion_factors": list(sinks[n].factors) if n in sinks else [],
                "units": c["units"], "sampling_frequency": c["fs"]}
            for n, c in channels.items()
        },
        "segment_shifts_s": shifts,
        "inexact": inexact,
        "writer_summaries": summaries,
    }
