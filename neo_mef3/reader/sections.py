"""Continuous sections of a channel: runs of samples with no gap, the unit neo shows.

A channel's RED blocks, in time order, are cut into sections where a new MEF segment
begins or a block starts half a sample period or more away from where the previous
block's samples end (the discontinuity flag alone does not cut: the reference writers
set it on every append). Inside a section sample ``i`` is at ``t_section + i / fs``.
:func:`continuous_sections` finds them in a block table; :func:`sections_from_metadata`
in the segments' metadata alone, when that pins them down (no ``.tidx`` read).
"""

import numpy as np

from ..format.layout import TIDX, TIME_SERIES_INDEX_BYTES, UNIVERSAL_HEADER_BYTES

def continuous_sections(time, n, seg, cum, fs):
    """Continuous sections of a channel's blocks (time order): (starts, counts, firsts).

    A block (with samples) opens a section when it is the first, belongs to another MEF
    segment than the previous block, or starts half a sample period or more away from
    ``section start + samples so far / fs``. Vectorised; :func:`sections_reference` is
    the plain loop it must agree with.
    """
    time = np.asarray(time, np.int64)
    n = np.asarray(n, np.int64)
    keep = np.flatnonzero(n > 0)
    if len(keep) == 0:
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    t, nn, sg, first = time[keep], n[keep], np.asarray(seg)[keep], np.asarray(cum, np.int64)[keep]
    period = 1e6 / fs
    breaks = np.zeros(len(t), bool)
    breaks[0] = True
    breaks[1:] = sg[1:] != sg[:-1]
    for _ in range(64):
        sec_id = np.cumsum(breaks) - 1
        s_idx = np.flatnonzero(breaks)
        resid = np.abs((t - t[s_idx][sec_id]).astype(np.float64) - (first - first[s_idx][sec_id]) * period)
        bad = (resid >= 0.5 * period) & ~breaks
        if not bad.any():
            break
        b = np.flatnonzero(bad)
        # only the first bad block of each section is sure to start one (later ones are
        # measured again from it)
        breaks[b[np.r_[True, sec_id[b][1:] != sec_id[b][:-1]]]] = True
    else:  # a drifting clock: finish with the loop
        return sections_reference(time, n, seg, cum, fs)
    s_idx = np.flatnonzero(breaks)
    counts = np.add.reduceat(nn, s_idx) if len(s_idx) else np.zeros(0, np.int64)
    return t[s_idx].astype(np.int64), counts.astype(np.int64), first[s_idx].astype(np.int64)


def sections_reference(time, n, seg, cum, fs):
    """The plain-loop definition of :func:`continuous_sections`."""
    period = 1e6 / fs
    starts, counts, firsts = [], [], []
    sec_t, sec_n, prev_seg = None, 0, None
    for k in range(len(n)):
        nk = int(n[k])
        if nk <= 0:
            continue
        tk = int(time[k])
        new = sec_t is None or int(seg[k]) != prev_seg
        prev_seg = int(seg[k])
        if not new:
            new = abs((tk - sec_t) - sec_n * period) >= 0.5 * period
        if new:
            if sec_t is not None:
                counts.append(sec_n)
            starts.append(tk)
            firsts.append(int(cum[k]))
            sec_t, sec_n = tk, 0
        sec_n += nk
    if sec_t is not None:
        counts.append(sec_n)
    return np.array(starts, np.int64), np.array(counts, np.int64), np.array(firsts, np.int64)


def sections_from_metadata(rows, fs, sizes_of):
    """The continuous sections of a channel from its segments' metadata alone, or None.

    ``(starts, counts, firsts)`` as :func:`continuous_sections` computes them from the
    block table, without reading any ``.tidx``, when every segment's metadata pins its
    section down: ``number_of_samples`` > 0 samples from ``start_time`` to the
    exclusive ``end_time`` within half a sample period (no gap inside it), the segments
    in time order without overlap, and the ``.tidx`` exactly the size of the
    ``number_of_blocks`` entries the metadata declares (an interrupted append leaves
    more). ``rows``: the channel's :class:`~.rows.SegmentRows` (their ``index_sizes``
    as probed, or None); ``sizes_of(paths)``: the sizes of the ``.tidx`` files not
    probed. None for anything else (the caller then reads the block tables). What the
    metadata states is checked against the block table when the channel's samples are
    first read (``MEF3RawIO``).
    """
    period = 1e6 / fs
    half = 0.5 * period
    starts, counts, firsts = [], [], []
    first = 0
    prev_end = None
    for v, span in zip(rows.values, rows.spans()):  # (a plain loop: numpy calls cost more here)
        n, blocks = v[3], v[4]
        if n <= 0 or blocks <= 0 or span is None:
            return None
        t0, t1 = span
        if abs((t1 - t0) - n * period) >= half or (prev_end is not None and t0 < prev_end):
            return None
        starts.append(t0)
        counts.append(n)
        firsts.append(first)
        first += n
        prev_end = t1
    sizes = rows.index_sizes
    if sizes is None:  # (not probed when the channel was opened)
        sizes = sizes_of([rows.path(j, TIDX) for j in range(len(rows))])
    if any(size != UNIVERSAL_HEADER_BYTES + v[4] * TIME_SERIES_INDEX_BYTES for v, size in zip(rows.values, sizes)):
        return None
    return np.array(starts, np.int64), np.array(counts, np.int64), np.array(firsts, np.int64)


#: times and counts at or past this, which only damage holds, take the exact loop (no
#: int64 overflow in the numpy pass)
_BULK_LIMIT = 2**56


def layouts_from_metadata(channels, sizes_of):
    """:func:`sections_from_metadata` of many channels (``(rows, fs)`` pairs) at once:
    per channel ``(starts, counts, firsts)`` or None. The probed channels' segments --
    one per channel in the usual clinical session, hundreds in a long one -- are judged
    together in one numpy pass (the same rules); the others, and rows holding values
    no int64 pass handles exactly, one channel at a time."""
    out = [None] * len(channels)
    bulk = []
    for i, (rows, fs) in enumerate(channels):
        # (a rate of 0 or NaN -- never in metadata the scan accepts -- on several segments
        # is left to the loop, which has always judged those)
        if rows.index_sizes is None or not len(rows.values) or (len(rows.values) > 1 and not fs > 0):
            out[i] = sections_from_metadata(rows, fs, sizes_of)
        else:
            bulk.append(i)
    if not bulk:
        return out
    counts = np.array([len(channels[i][0].values) for i in bulk], np.int64)
    try:  # n, blocks, rto, start, end of every row
        v = np.array([r[3:8] for i in bulk for r in channels[i][0].values], np.int64).reshape(-1, 5)
    except OverflowError:
        v = None
    ch = np.repeat(np.arange(len(bulk)), counts)
    small = np.zeros(len(bulk), bool) if v is None else ~np.bincount(
        ch, ((v <= -_BULK_LIMIT) | (v >= _BULK_LIMIT)).any(axis=1), len(bulk)).astype(bool)
    if not small.all():
        for k in np.flatnonzero(~small).tolist():
            out[bulk[k]] = sections_from_metadata(channels[bulk[k]][0], channels[bulk[k]][1], sizes_of)
        keep = small[ch]
        bulk = [i for i, good in zip(bulk, small.tolist()) if good]
        if not bulk:
            return out
        v, counts = v[keep], counts[small]
        ch = np.repeat(np.arange(len(bulk)), counts)
    n, blocks, rto, start, end = np.ascontiguousarray(v.T)  # (contiguous columns: what callers get)
    fs = np.array([channels[i][1] for i in bulk], np.float64)[ch]
    size = np.array([x for i in bulk for x in channels[i][0].index_sizes], np.int64)
    t0 = np.where(start < 0, rto - start, start)
    t1 = np.where(end < 0, rto - end, end)
    period = 1e6 / fs
    ok = ((n > 0) & (blocks > 0) & (np.abs((t1 - t0) - n * period) < 0.5 * period)
          & (size == UNIVERSAL_HEADER_BYTES + blocks * TIME_SERIES_INDEX_BYTES))
    ok[1:] &= (t0[1:] >= t1[:-1]) | (ch[1:] != ch[:-1])  # (a channel's segments in time order, no overlap)
    ends = np.cumsum(counts)
    begins = ends - counts
    good = np.logical_and.reduceat(ok, begins)
    # (a channel's total past int64, only damage holds, takes the loop: it raises there)
    total = np.add.reduceat(n.astype(np.float64), begins)
    for k in np.flatnonzero(good & (total >= 2.0**62)).tolist():
        good[k] = False
        out[bulk[k]] = sections_from_metadata(channels[bulk[k]][0], channels[bulk[k]][1], sizes_of)
    firsts = np.cumsum(n) - n
    firsts -= np.repeat(firsts[begins], counts)
    for k in np.flatnonzero(good).tolist():
        a, b = begins[k], ends[k]
        out[bulk[k]] = (t0[a:b], n[a:b], firsts[a:b])
    return out
