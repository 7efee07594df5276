"""A session seen on one sampling grid: rate groups, where data are, gaps, records as events.

MNE (``neo_mef3.mne``), EDF export and BIDS sidecars all need the same picture of a
session: which channels share a rate, the grid ``t0 + k / fs`` they are read on (the
Reader's grid: a block lands at its nearest slot), which samples of that grid no block
covers (gaps), and the records as timed events with a duration and a description. Only
the Reader's public API is used, and nothing is decoded: block tables come from the
``.tidx`` files.
"""

import collections

import numpy as np

from .errors import PasswordError

#: MNE's description of samples that were not acquired (gaps)
GAP_DESCRIPTION = "BAD_ACQ_SKIP"
#: record fields that name what a record says, in order (as MNE's read_raw_mef reads them)
_DETAIL_FIELDS = ("text", "annotation", "epoch_type", "name")

Grid = collections.namedtuple("Grid", "t0 fs n")
Grid.__doc__ = """Samples ``k = 0 .. n-1`` at ``t0 + k * 1e6 / fs`` uUTC (the Reader's grid of ``[t0, t1)``)."""

Gap = collections.namedtuple("Gap", "start stop channels")
Gap.__doc__ = """Grid samples ``[start, stop)`` without data on ``channels`` (a tuple; every channel
of the grid when the gap is common to all)."""


def acquisition_order(reader, channels):
    """`channels` in the order of their acquisition channel numbers when those are distinct
    and set (the amplifier's order: LA2 before LA10), else as given (sorted by name)."""
    numbers = [reader.info(name)["acquisition_channel_number"] for name in channels]
    if all(n > 0 for n in numbers) and len(set(numbers)) == len(numbers):
        return [name for _, name in sorted(zip(numbers, channels))]
    return list(channels)


def rate_groups(reader, channels):
    """``{rate: [channel, ...]}`` in the order the channels are given."""
    groups = {}
    for name in channels:
        groups.setdefault(reader.info(name)["sampling_frequency"], []).append(name)
    return groups


def choose_rate(groups, sfreq=None):
    """``(rate, channels, left_out)``: the group at `sfreq`, or the largest group (ties go to
    the higher rate). `left_out` maps each other channel to its rate."""
    if not groups:
        raise ValueError("no channels to read")
    if sfreq is None:
        rate = max(groups, key=lambda fs: (len(groups[fs]), fs))
    else:
        matches = [fs for fs in groups if abs(fs - float(sfreq)) <= 1e-9 * max(fs, 1.0)]
        if not matches:
            rates = ", ".join(f"{fs:g} Hz ({len(v)} channels)" for fs, v in groups.items())
            raise ValueError(f"no channel is sampled at {float(sfreq):g} Hz; the rates are {rates}")
        rate = matches[0]
    left_out = {name: fs for fs, names in groups.items() if fs != rate for name in names}
    return rate, list(groups[rate]), left_out


def grid_for(reader, channels, fs):
    """The grid from the earliest start to the latest end of `channels` (metadata only)."""
    infos = [reader.info(name) for name in channels]
    starts = [i["start_time"] for i in infos if i["start_time"] is not None]
    ends = [i["end_time"] for i in infos if i["end_time"] is not None]
    if not starts:
        raise ValueError(f"channels {', '.join(channels)} hold no start time")
    t0 = min(starts)
    t1 = max(ends) if ends else t0
    return Grid(int(t0), float(fs), max(0, int(np.floor((t1 - t0) * fs / 1e6 + 0.5))))


def grid_positions(times, grid, rounding="nearest"):
    """Grid slot of each block start (the Reader's rule, see ``Reader(rounding=)``)."""
    dt = (np.asarray(times, np.int64) - grid.t0).astype(np.float64)
    if rounding == "meflib":
        x = dt / 1e6 * grid.fs
        return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
    return np.ceil(dt * grid.fs / 1e6 - 0.5).astype(np.int64)


def covered(reader, channel, grid):
    """``(starts, stops)``: the runs of grid samples that the channel's blocks cover."""
    table = reader.block_table(channel)
    pos = grid_positions(table["start_uutc"], grid, getattr(reader, "rounding", "nearest"))
    a = np.clip(pos, 0, grid.n)
    z = np.clip(pos + table["number_of_samples"], 0, grid.n)
    keep = z > a
    a, z = a[keep], z[keep]
    if len(a) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(a, kind="stable")
    a, z = a[order], np.maximum.accumulate(z[order])
    new = np.flatnonzero(a[1:] > z[:-1]) + 1  # a run of missing samples before these
    return a[np.concatenate(([0], new))], z[np.concatenate((new - 1, [len(z) - 1]))]


def uncovered(starts, stops, n):
    """The complement of sorted, disjoint runs within ``[0, n)``, as ``(starts, stops)``."""
    edges_a = np.concatenate(([0], stops))
    edges_z = np.concatenate((starts, [n]))
    keep = edges_z > edges_a
    return edges_a[keep], edges_z[keep]


def gaps(reader, channels, grid):
    """Gaps of `channels` on `grid`: a list of :data:`Gap`, in time order, each a maximal run
    of samples where the same channels lack data."""
    holes = [uncovered(*covered(reader, name, grid), grid.n) for name in channels]
    bounds = np.unique(np.concatenate([np.concatenate(h) for h in holes] + [np.array([0, grid.n], np.int64)]))
    if len(bounds) < 2:
        return []
    lefts = bounds[:-1]
    missing = np.zeros((len(channels), len(lefts)), bool)
    for i, (ga, gz) in enumerate(holes):
        if len(ga):
            j = np.searchsorted(ga, lefts, side="right") - 1
            missing[i] = (j >= 0) & (lefts < gz[np.maximum(j, 0)])
    out = []
    names = np.array(channels, dtype=object)
    for k in range(len(lefts)):
        if not missing[:, k].any():
            continue
        who = tuple(names[missing[:, k]])
        if out and out[-1].stop == lefts[k] and out[-1].channels == who:
            out[-1] = out[-1]._replace(stop=int(bounds[k + 1]))
        else:
            out.append(Gap(int(lefts[k]), int(bounds[k + 1]), who))
    return out


def describe(record):
    """``(description, detail)`` of a record: "Type: detail" as MNE's read_raw_mef names it."""
    rtype = record.get("type") or "MEF"
    detail = ""
    for key in _DETAIL_FIELDS:
        value = record.get(key)
        if isinstance(value, str) and value.strip("\x00 "):
            detail = value.strip("\x00 ")
            break
    return (f"{rtype}: {detail}" if detail else rtype), detail


def duration_us(record):
    """A record's duration in microseconds: its ``duration`` (EDFA, Seiz, Epoc), else
    ``end_timestamp - timestamp`` or ``latest_offset - earliest_onset``, else 0."""
    d = record.get("duration")
    if d is None:
        if record.get("end_timestamp") is not None and record.get("timestamp") is not None:
            d = record["end_timestamp"] - record["timestamp"]
        elif record.get("latest_offset") is not None and record.get("earliest_onset") is not None:
            d = record["latest_offset"] - record["earliest_onset"]
        else:
            d = 0
    return max(int(d), 0)


def record_events(reader, channels):
    """Records of the session and of `channels` as events, and why they are missing.

    Returns ``(events, locked)``: events are dicts ``time`` (uUTC), ``duration`` (us),
    ``description`` ("Type: text"), ``type``, ``text`` and ``channel`` (None at session
    level), in file order (session first, then each channel's); ``locked`` is None, or the
    reason no record could be read (records of an encrypted session need level 2).
    """
    events = []
    try:
        levels = [(None, reader.records())] + [(name, reader.records(name)) for name in channels]
    except PasswordError as exc:
        return [], str(exc)
    for channel, records in levels:
        for rec in records:
            if rec.get("time") is None:
                continue
            description, detail = describe(rec)
            events.append({
                "time": int(rec["time"]), "duration": duration_us(rec), "description": description,
                "type": rec.get("type"), "text": detail, "channel": channel,
            })
    return events, None
