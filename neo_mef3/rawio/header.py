"""neo's header of a session: channels grouped into streams, the segments all streams
share (and each stream's piece of each), the signal rows and units."""

import math

import numpy as np

from neo.rawio.baserawio import (
    _event_channel_dtype,
    _signal_buffer_dtype,
    _signal_channel_dtype,
    _signal_stream_dtype,
    _spike_channel_dtype,
)

from .tables import _starts_match

#: MEF ``units_description`` spellings -> a unit string quantities understands
_UNIT_ALIASES = {
    "uv": "uV",
    "µv": "uV",
    "μv": "uV",
    "microvolt": "uV",
    "microvolts": "uV",
    "micro volts": "uV",
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "v": "V",
    "volt": "V",
    "volts": "V",
    "nv": "nV",
    "nanovolt": "nV",
    "nanovolts": "nV",
}


def normalize_units(units_description):
    """A unit string neo/quantities understand for a MEF ``units_description``.

    Voltage spellings (``µV``, ``microvolts``, ...) become ``uV``/``mV``/``V``; anything
    quantities cannot parse becomes ``""`` (dimensionless; the original text stays in the
    ``units_description`` array annotation).
    """
    u = (units_description or "").strip()
    alias = _UNIT_ALIASES.get(u.lower())
    if alias == "nV":
        return "nV" if _parses("nV") else ""
    if alias is not None:
        return alias
    if not u:
        return ""
    return u if _parses(u) else ""


def _parses(u):
    try:
        import quantities as pq

        pq.Quantity(1.0, u)
        return True
    except Exception:
        return False


def group_streams(names, tables):
    """Channels with the same layout (rate, raw dtype, section sample counts) whose
    sections start within half a sample period of each other: a list of lists of names."""
    streams = []  # list of lists of channel names
    candidates = {}  # layout -> (section starts of its first channel, stream) of each stream of that layout
    for name in names:
        t = tables[name]
        same = candidates.setdefault(t.layout(), [])
        starts = t.starts()
        for first, st in same:
            if _starts_match(first, starts, 0.5 * 1e6 / t.fs):
                st.append(name)
                break
        else:
            streams.append([name])
            same.append((starts, streams[-1]))
    return streams


def stream_labels(streams, tables):
    """Each stream's name: its rate (``"500 Hz"``), numbered when several share it."""
    fs_count, fs_seen, labels = {}, {}, []
    for st in streams:
        fs_count[tables[st[0]].fs] = fs_count.get(tables[st[0]].fs, 0) + 1
    for st in streams:
        fs = tables[st[0]].fs
        label = f"{fs:g} Hz"
        if fs_count[fs] > 1:
            fs_seen[fs] = fs_seen.get(fs, 0) + 1
            label += f" ({fs_seen[fs]})"
        labels.append(label)
    return labels


def build_segments(tables, streams, session_start):
    """Segment cuts shared by all streams, and each stream's piece in each segment.

    Returns ``(cuts, pieces, seg_start, seg_stop)``: ``pieces[si][g]`` is ``(section j,
    a, b)`` (samples [a, b) of section j of stream si) or None; the segments' bounds are
    in us after `session_start` (float, for precision).
    """
    sections = []  # (start, stream, j)
    for si, st in enumerate(streams):
        t = tables[st[0]]
        for j in range(len(t.sec_n)):
            sections.append((int(t.sec_start[j]), si, j))
    sections.sort()
    cuts = []
    last_sample = [None] * len(streams)
    seg_of = [dict() for _ in streams]
    for ts, si, j in sections:
        t = tables[streams[si][0]]
        if not cuts:
            cuts.append(ts)
        elif last_sample[si] is not None and last_sample[si] >= cuts[-1]:
            cuts.append(ts)
        seg_of[si][j] = len(cuts) - 1
        end = ts + (int(t.sec_n[j]) - 1) * 1e6 / t.fs
        last_sample[si] = end if last_sample[si] is None else max(last_sample[si], end)
    nseg = len(cuts)
    # pieces[si][g] = (section j, a, b): samples [a, b) of section j, or None
    pieces = [[None] * nseg for _ in streams]
    for si, st in enumerate(streams):
        t = tables[st[0]]
        nsec = len(t.sec_n)
        for j in range(nsec):
            g0 = seg_of[si][j]
            g_last = seg_of[si][j + 1] - 1 if j + 1 < nsec else nseg - 1
            n = int(t.sec_n[j])
            ts = int(t.sec_start[j])
            a = 0
            for g in range(g0, g_last + 1):
                if g == g_last:
                    b = n
                else:
                    b = int(math.ceil((cuts[g + 1] - ts) * t.fs / 1e6 - 1e-9))
                    b = min(max(b, a), n)
                if b > a:
                    pieces[si][g] = (j, a, b)
                a = b
                if a >= n:
                    break
    ref = session_start
    seg_start, seg_stop = [], []
    for g in range(nseg):
        lo, hi = None, None
        for si, st in enumerate(streams):
            p = pieces[si][g]
            if p is None:
                continue
            t = tables[st[0]]
            j, a, b = p
            s = (int(t.sec_start[j]) - ref) + a * 1e6 / t.fs
            e = (int(t.sec_start[j]) - ref) + b * 1e6 / t.fs
            lo = s if lo is None else min(lo, s)
            hi = e if hi is None else max(hi, e)
        cut = float(cuts[g] - ref)
        seg_start.append(cut if lo is None else min(cut, lo))
        seg_stop.append(hi if hi is not None else cut + 1.0)
    return cuts, pieces, seg_start, seg_stop


def header_arrays(streams, labels, ids, tables, infos, event_channels, nb_segment):
    """neo's ``header`` dict: one block, `nb_segment` segments, the streams and their
    channels (raw dtype, gain, offset 0), the given event channels, no spikes."""
    signal_streams, signal_channels = [], []
    for si, st in enumerate(streams):
        fs = tables[st[0]].fs
        stream_id = ids[si]
        signal_streams.append((labels[si], stream_id, ""))
        for name in st:
            t, info = tables[name], infos[name]
            units = normalize_units(info["units_description"])
            signal_channels.append((name, name, fs, t.dtype, units, t.gain, 0.0, stream_id, ""))
    return {
        "nb_block": 1,
        "nb_segment": [nb_segment],
        "signal_buffers": np.array([], dtype=_signal_buffer_dtype),
        "signal_streams": np.array(signal_streams, dtype=_signal_stream_dtype),
        "signal_channels": np.array(signal_channels, dtype=_signal_channel_dtype),
        "spike_channels": np.array([], dtype=_spike_channel_dtype),
        "event_channels": np.array(event_channels, dtype=_event_channel_dtype),
    }
