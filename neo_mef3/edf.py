"""A MEF 3.0 session to EDF+ / BDF+ (through edfio), keeping date, records, units and precision.

Each channel's stored int32 counts become the EDF digital values, with the physical
range chosen so that a digital value is ``count * conversion factor``: nothing is
rounded when the counts fit the format (16 bits EDF, 24 bits BDF). When they do not,
counts are divided by the smallest whole factor that makes them fit, and a warning says
which channels lost resolution and by how much (never silently).

EDF+ is continuous: gaps are zeros, each a ``BAD_ACQ_SKIP`` annotation (MNE's
convention; ``write_raw_mef3`` turns them back into gaps), and the last data record is
completed the same way. Records become annotations: a Note's or EDFA's text as it is,
other records as "Type: text"; channel records carry ``@@channel`` (as MNE's EDF export
names channel annotations). Channels of several rates share the file (EDF+ allows it).
The start is the session start in UTC (MNE reads an EDF start as UTC); subject code and
name go to the patient field, ``X`` when the session holds none.
"""

import datetime
import math
import os
import warnings
from fractions import Fraction

import numpy as np

from . import resolution as _resolution
from .errors import MefWarning, OutputExistsError
from .progress import Tracker
from .reader import Reader
from .timeline import GAP_DESCRIPTION, Grid, acquisition_order, gaps, rate_groups, record_events
from .tools.atomic import atomic_output
from .units import short_symbol, voltage_symbol_for, volts_per_unit

_FORMATS = {".edf": ("Edf", "EdfSignal", 32767, np.int16), ".bdf": ("Bdf", "BdfSignal", 8388607, np.int32)}


def _record_duration(rates):
    """Data record duration (s, a Fraction) holding a whole number of samples of every rate."""
    if all(float(fs).is_integer() for fs in rates):
        return Fraction(1)
    return Fraction(math.lcm(*(Fraction(fs).limit_denominator(99999999).denominator for fs in rates)))


def _counts(reader, name, t0, t1):
    """(int64 counts, units per count) of a channel on [t0, t1), 0 in gaps."""
    raw = reader.read_raw(name, t0, t1, warn=False)
    step = raw["units_conversion_factor"]
    if step is None:  # segments with different factors: their values, at a resolution they hold
        x = reader.read(name, t0, t1, warn=False)
        res = _resolution.infer(x)
        return _resolution.counts(x, res), res.step
    counts = raw["samples"].astype(np.int64)
    counts[raw["valid"] == 0] = 0
    return counts, step or 1.0  # (a factor of 0 is MEF's "no entry": the counts are the values)


def _dimension(units, top):
    """(scale, dimension) for physical values up to `top` units: a larger voltage prefix when
    they would not fit EDF's 8-character fields (-2147483648 uV is written as -2147483.6 mV)."""
    volts = volts_per_unit(units)
    if volts is None or abs(top) < 1e7:
        return 1.0, units
    for target in (1e-6, 1e-3, 1.0, 1e3):
        if target >= volts and abs(top) * volts / target < 1e7:
            return volts / target, voltage_symbol_for(target)
    return volts / 1e3, "kV"


def _layout(counts, step, units, limit):
    """How a channel's counts become digital values: (coarsening factor k, digital limit,
    physical step, physical dimension). k = 1 keeps every count; otherwise the counts are
    divided by the smallest whole k that fits the format."""
    peak = int(np.abs(counts).max()) if counts.size else 0
    k = 1
    while True:
        scale, dimension = _dimension(units, limit * step * k)
        edge = _digital_limit(step * k * scale, limit)
        if -(-peak // k) <= edge:
            return k, edge, step * k * scale, dimension
        k = max(k + 1, -(-peak // edge))


def _header_number(value):
    """The number nearest `value` that an EDF header's 8-character field holds (sign included)."""
    for decimals in range(7, -1, -1):
        text = f"{value:.{decimals}f}"
        if len(text) <= 8:
            return float(text)
    return float(f"{value:.0f}")


def _digital_limit(step, limit):
    """The largest L <= limit for which -L * step is exactly an 8-character number, so that
    digital values -L..L read back as ``d * step`` exactly; `limit` when none is."""
    m = 1
    while m <= limit:
        candidate = limit - limit % m
        value = -candidate * abs(step)
        if abs(_header_number(value) - value) <= 1e-12 * abs(value):
            return candidate
        m *= 10
    return limit


def _physical_range(step, limit):
    """(physical min, max) for digital values -limit..limit at `step` units each.

    edfio rounds the minimum down and the maximum up to what 8 characters hold; handed a
    value a hair inside, that rounding lands on the value itself.
    """
    top = -_header_number(-abs(limit * step))
    low, high = (-top, top) if step > 0 else (top, -top)
    return low + abs(low) * 1e-12, high - abs(high) * 1e-12


def _gap_annotations(reader, groups, t0, lengths, edfio):
    """BAD_ACQ_SKIP annotations: one per gap that every channel shares, else one per channel."""
    spans = []  # (start s, stop s, channel or None)
    for fs, names in groups.items():
        grid = Grid(t0, fs, lengths[fs])
        for gap in gaps(reader, names, grid):
            a, z = gap.start / fs, gap.stop / fs
            if len(gap.channels) == len(names):
                spans.append((a, z, tuple(names)))
            else:
                spans.extend((a, z, (ch,)) for ch in gap.channels)
    all_channels = {n for names in groups.values() for n in names}
    merged = []
    for a, z, chs in sorted(spans):
        last = merged[-1] if merged else None
        if last and abs(last[0] - a) < 1e-3 and abs(last[1] - z) < 1e-3:
            merged[-1] = (last[0], last[1], last[2] + chs)
        else:
            merged.append((a, z, chs))
    out = []
    for a, z, chs in merged:
        if set(chs) == all_channels:
            out.append(edfio.EdfAnnotation(a, z - a, GAP_DESCRIPTION))
        else:
            out.extend(edfio.EdfAnnotation(a, z - a, f"{GAP_DESCRIPTION}@@{ch}") for ch in chs)
    return out


def _record_annotations(reader, names, t0, edfio):
    events, locked = record_events(reader, names)
    if locked:
        warnings.warn(f"records left out: {locked}", MefWarning, stacklevel=3)
    out, early = [], 0
    for e in events:
        onset = (e["time"] - t0) / 1e6
        if onset < 0:
            early += 1
            continue
        text = e["text"] if e["type"] in ("Note", "EDFA") and e["text"] else e["description"]
        if e["channel"] is not None:
            text += f"@@{e['channel']}"
        out.append(edfio.EdfAnnotation(onset, e["duration"] / 1e6 if e["duration"] else None, text))
    if early:
        warnings.warn(f"{early} record(s) before the first sample left out (EDF+ onsets cannot be negative)",
                      MefWarning, stacklevel=3)
    return out


def _patient(info, edfio):
    def word(v):
        return "_".join(str(v).split()) if v and str(v).strip().lower() not in ("none", "") else ""

    code = word(info.get("subject_id")) or "X"
    name = "_".join(w for w in (word(info.get("subject_name_2")), word(info.get("subject_name_1"))) if w) or "X"
    return edfio.Patient(code=code, name=name)


def _prefiltering(info):
    parts = []
    for key, label in (("low_frequency_filter_setting", "HP"), ("high_frequency_filter_setting", "LP"),
                       ("notch_filter_frequency_setting", "N")):
        if info[key] and info[key] > 0:
            parts.append(f"{label}:{info[key]:g}Hz")
    return " ".join(parts)


def _labels(names):
    labels, taken = [], set()
    for name in names:
        label, k = name[:16], 1
        while label in taken:
            k += 1
            label = f"{name[:16 - len(str(k)) - 1]}~{k}"
        taken.add(label)
        labels.append(label)
    return labels


def write_edf(source, path, password=None, channels=None, overwrite=False, progress=None, cancel=None):
    """Write a MEF 3.0 session (a path or an open Reader) to EDF+ (``.edf``) or BDF+ (``.bdf``).

    Written under a temporary name next to `path` and renamed when complete
    (``neo_mef3.tools.atomic``); ``progress`` and ``cancel`` as in ``neo_mef3.progress``
    (counted in channels). Returns a dict:
    ``path``, ``start_uutc``, ``channels`` (per channel: ``label``, ``units``, ``step``
    (units per digital value), ``coarsened`` (the factor the counts were divided by, 1 =
    exact)), ``annotations`` and ``text`` (the same in words).
    """
    import edfio

    path = os.path.abspath(os.fspath(path))
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(f"an EDF/BDF file name ends with .edf or .bdf: {path!r}")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError("the output exists; pass --overwrite (overwrite=True) to replace it", path)
    edf_class, signal_class, limit, dtype = _FORMATS[suffix]
    reader = source if isinstance(source, Reader) else Reader(source, password=password or "")
    try:
        names = list(channels) if channels else acquisition_order(reader, reader.channels)
        infos = {n: reader.info(n) for n in names}
        t0 = min(i["start_time"] for i in infos.values())
        t_end = max(i["end_time"] for i in infos.values())
        groups = rate_groups(reader, names)
        record = _record_duration(groups)
        n_records = max(1, math.ceil(Fraction(t_end - t0, 1_000_000) / record))
        t1 = t0 + int(round(n_records * record * 1_000_000))
        lengths = {fs: int(n_records * record * Fraction(fs).limit_denominator(99999999)) for fs in groups}
        signals, summary, lossy = [], {}, []
        with Tracker(len(names), os.path.basename(path), unit="channels", progress=progress,
                     cancel=cancel) as tracker:
            for name, label in zip(names, _labels(names)):
                info = infos[name]
                counts, step = _counts(reader, name, t0, t1)
                k, edge, physical_step, units = _layout(counts, step, short_symbol(info["units_description"]), limit)
                if k > 1:
                    counts = np.floor(counts / k + 0.5).astype(np.int64)
                    lossy.append(f"{name} ({step:g} -> {step * k:g} {short_symbol(info['units_description'])})")
                signals.append(getattr(edfio, signal_class).from_digital(
                    counts.astype(dtype), info["sampling_frequency"], label=label, physical_dimension=units[:8],
                    physical_range=_physical_range(physical_step, edge), digital_range=(-edge, edge),
                    prefiltering=_prefiltering(info)[:80]))
                summary[name] = {"label": label, "units": units, "step": physical_step, "coarsened": k}
                tracker.advance()
        if lossy:
            warnings.warn(f"{suffix[1:].upper()} holds {16 if suffix == '.edf' else 24}-bit values: the counts of "
                          f"{', '.join(lossy)} were coarsened to fit" + (" (write .bdf for 24 bits)"
                          if suffix == ".edf" else ""), MefWarning, stacklevel=2)
        start = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=t0)
        annotations = _gap_annotations(reader, groups, t0, lengths, edfio)
        annotations += _record_annotations(reader, names, t0, edfio)
        first = infos[names[0]]
        edf = getattr(edfio, edf_class)(
            signals, patient=_patient(first, edfio), recording=edfio.Recording(startdate=start.date()),
            starttime=start.time().replace(tzinfo=None), data_record_duration=float(record),
            annotations=sorted(annotations, key=lambda a: a.onset))
        with atomic_output(path, overwrite=overwrite) as partial:
            edf.write(partial)
    finally:
        if reader is not source:
            reader.close()
    lines = [f"{path}: {len(names)} channel{'' if len(names) == 1 else 's'} from {start.isoformat()}, "
             f"{n_records} data records of "
             f"{float(record):g} s, {len(annotations)} annotations"]
    lines += [f"  {n}: {c['step']:.6g} {c['units']} per digital value"
              + (f" (coarsened {c['coarsened']}x to fit)" if c["coarsened"] > 1 else " (the stored counts)")
              for n, c in summary.items()]
    return {"path": path, "start_uutc": t0, "channels": summary, "annotations": len(annotations),
            "text": "\n".join(lines)}
