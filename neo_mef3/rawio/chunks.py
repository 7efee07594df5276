"""neo's signals of a session: each stream's piece of a segment (size, start time) and
its raw chunks, read through the Reader with channels decoded side by side (damaged blocks as zeros
with ``on_error="skip"``). The functions serve :class:`~neo_mef3.rawio.MEF3RawIO`'s
signal hooks (`io`: the parsed MEF3RawIO)."""

import numpy as np

from ..reader.grid import check_fits


#: a chunk's channels are decoded side by side in groups of at most this many samples in
#: all, so the counts and validity arrays held beside the chunk stay small
GROUP_SAMPLES = 1 << 24


def signal_size(io, seg_index, stream_index):
    """Samples of a stream in a segment (0 where it has none)."""
    p = io._pieces[stream_index][seg_index]
    return 0 if p is None else int(p[2] - p[1])


def signal_t_start(io, seg_index, stream_index):
    """Seconds on neo's axis of a stream's first sample in a segment (None: no piece)."""
    p = io._pieces[stream_index][seg_index]
    if p is None:
        return None
    t = io._tables[io._streams[stream_index][0]]
    j, a, _ = p
    return ((int(t.sec_start[j]) - io._time_origin) + a * 1e6 / t.fs) / 1e6


def read_chunk(io, seg_index, i_start, i_stop, stream_index, channel_indexes):
    """Raw samples [i_start, i_stop) of a stream's channels in a segment, one column each."""
    names = io._streams[stream_index]
    size = signal_size(io, seg_index, stream_index)
    i_start = 0 if i_start is None else int(i_start)
    i_stop = size if i_stop is None else int(i_stop)
    if i_start < 0 or i_stop > size or i_start > i_stop:
        raise IndexError(f"samples [{i_start}, {i_stop}) are outside the signal's [0, {size})")
    if channel_indexes is None:
        sel = list(names)
    else:
        sel = list(np.asarray(names, dtype=object)[channel_indexes])
    dtype = io._tables[names[0]].dtype
    check_fits((i_stop - i_start) * len(sel), 13, f"samples [{i_start}, {i_stop}) of {len(sel)} channel(s)",
               io.dirname)  # (a damaged count never becomes an allocation)
    # (each channel decoded straight into its column)
    out = np.zeros((i_stop - i_start, len(sel)), dtype=dtype, order="F")
    if i_stop == i_start or not sel:
        return out
    j, a, _ = io._pieces[stream_index][seg_index]
    tables = [io._tables[name] for name in sel]
    starts = [int(t.sec_first[j]) + a + i_start for t in tables]
    columns = [out[:, c] if dtype == "int32" else None for c in range(len(sel))]
    for c, got in enumerate(channels_samples(io, tables, starts, i_stop - i_start, columns)):
        if got is not columns[c]:
            out[:, c] = got
    return out


def channels_samples(io, tables, starts, n, outs):
    """Stored samples [s, s + n) of each channel (its start in `starts`) as neo raw values
    (dtype of the channel), decoded side by side by the Reader; int32 counts of a
    channel without multipliers go straight into its `outs` entry if given."""
    for t in tables:
        t.verify()  # a table built from metadata: its block table, checked, before any sample
    plain = [t.dtype == "int32" and bool(np.all(t.multipliers == 1)) for t in tables]
    requests = [(t.name, s0, s0 + n, out if p else None) for t, s0, out, p in zip(tables, starts, outs, plain)]
    skip = io.on_error == "skip"
    group = max(1, GROUP_SAMPLES // max(n, 1))  # (channels decoded together: their counts and validity in memory at once)
    got = []
    for g in range(0, len(requests), group):
        got += io._stored.read_many(requests[g : g + group], return_valid=skip)
    values = []
    for t, s0, p, result in zip(tables, starts, plain, got):
        counts = result
        if skip:  # damaged blocks: zeros, their spans noted
            counts, valid = result
            if not valid.all():
                io.bad_blocks.note(t, s0, valid)
        values.append(_as_neo_values(t, counts, s0, s0 + n, p))
    return values


def _as_neo_values(t, counts, s0, s1, plain):
    """Stored counts as the channel's neo raw values: int32 (times the legacy
    multipliers where not 1) or float64 scaled by each segment's factor."""
    if t.dtype == "int32":
        if plain:
            return counts
        scaled = counts.astype(np.int64)
        _scale_by_segment(t, scaled, s0, s1, t.multipliers)
        return scaled.astype(np.int32)
    values = counts.astype(np.float64)
    _scale_by_segment(t, values, s0, s1, t.seg_factors)
    return values


def _scale_by_segment(t, values, s0, s1, factors):
    """Multiply the samples [s0, s1) by their MEF segment's factor (in place), one run
    of consecutive blocks of a segment at a time."""
    k0 = int(np.searchsorted(t.cum, s0, side="right")) - 1
    k1 = int(np.searchsorted(t.cum, s1, side="left"))
    if k1 <= k0:
        return
    f = factors[t.seg[k0:k1]]
    heads = np.concatenate(([0], np.flatnonzero(f[1:] != f[:-1]) + 1, [k1 - k0]))
    for h0, h1 in zip(heads[:-1].tolist(), heads[1:].tolist()):
        if f[h0] != 1:
            a = max(int(t.cum[k0 + h0]), s0) - s0
            b = min(int(t.cum[k0 + h1]), s1) - s0
            values[a:b] *= f[h0]


def find_bad_blocks(io):
    """Read every exposed signal in chunks of 4 Mi samples (skip mode: every damaged
    block is then in ``io.bad_blocks``)."""
    for si, names in enumerate(io._streams):
        for g in range(io.header["nb_segment"][0]):
            size = signal_size(io, g, si)
            for a in range(0, size, 1 << 22):
                read_chunk(io, g, a, min(size, a + (1 << 22)), si, None)
