"""A channel as the Reader holds it: its segments' rows, its Segments and, on demand, its
block table."""

import threading

import numpy as np

from ..errors import MefError
from ..format.layout import TIME_SERIES_INDEX, UNIVERSAL_HEADER_BYTES, UUTC_NO_ENTRY
from ..format.times import effective_rto, to_uutc_array
from .segment import outside_file


def block_arrays(entries, segment, rto):
    """The block table (dict of arrays, time order) of index entries; `segment` and `rto`
    give each entry's segment position and (effective) recording time offset.

    Keys: ``segment``, ``time`` (uUTC), ``n`` (samples), ``offset`` and ``nbytes`` (in
    the data file), ``start_sample``, ``flags``, ``max``, ``min``, and ``first``: each
    block's stored-sample number (samples of the blocks before it in time order: what
    ``Reader.read_samples`` counts), kept here so that no read sums them again.
    """
    blocks = {
        "segment": segment,
        "time": to_uutc_array(entries["start_time"], rto),
        "n": entries["number_of_samples"].astype(np.int64),
        "offset": entries["file_offset"].astype(np.int64),
        "nbytes": entries["block_bytes"].astype(np.int64),
        "start_sample": entries["start_sample"].astype(np.int64),
        "flags": entries["RED_block_flags"].astype(np.uint8),
        "max": entries["maximum_sample_value"].astype(np.int32),
        "min": entries["minimum_sample_value"].astype(np.int32),
    }
    order = np.argsort(blocks["time"], kind="stable")
    if not (order == np.arange(len(order))).all():
        blocks = {key: v[order] for key, v in blocks.items()}
    blocks["first"] = np.cumsum(blocks["n"]) - blocks["n"]
    return blocks


class Channel:
    """A channel: ``rows`` (:class:`~.rows.SegmentRows`, what opening it read),
    ``segments`` (Segment, in number order: made from the rows when first used, by
    ``make_segments(rows)``) and its block table."""

    def __init__(self, name, rows, make_segments, segments=None):
        self.name = name
        self.rows = rows
        self.fs = rows.values[0][0]
        self.info = None  # Reader.info's dict (metadata only: fixed once loaded)
        self._make_segments = make_segments
        self._made_segments = segments
        self._blocks = None
        self.lock = threading.Lock()
        self._made_lock = threading.Lock()

    @property
    def segments(self):
        segs = self._made_segments
        if segs is None:
            with self._made_lock:
                if self._made_segments is None:
                    self._made_segments = self._make_segments(self.rows)
                segs = self._made_segments
        return segs

    def after_fork(self):
        """Fresh locks in a forked child (one for the channel, one its segments share)."""
        self.lock = threading.Lock()
        self._made_lock = threading.Lock()
        seg_lock = threading.Lock()
        for seg in self._made_segments or ():
            seg.lock = seg_lock

    def close(self):
        for seg in self._made_segments or ():
            seg.close()

    def blocks(self):
        """Per-block arrays over all segments, in time order (see :func:`block_arrays`)."""
        with self.lock:
            if self._blocks is None:
                self._blocks = self._blocks_fast()
            if self._blocks is None:
                entries = [seg.index() for seg in self.segments]
                counts = [len(e) for e in entries]
                k = np.repeat(np.arange(len(self.segments), dtype=np.int32), counts)
                self._blocks = block_arrays(np.concatenate(entries), k, self._rto()[k])
            return self._blocks

    def _blocks_fast(self):
        """blocks() for the usual case, the whole channel's index read in one batch and
        checked at once.

        None (blocks() then goes segment by segment through Segment.index, which reads
        again and raises or skips exactly as always) unless every segment's index is
        unread, plain (see Segment.plain_index) and its entries all sane.
        """
        segs = self.segments
        if not segs or any(seg.entries is not None for seg in segs):
            return None
        source = segs[0].source
        raws = source.read_files([seg.files.tidx for seg in segs], "block index")
        sizes = source.sizes([seg.files.tdat for seg in segs])
        counts = []
        for seg, raw, size in zip(segs, raws, sizes):
            n = None if isinstance(raw, MefError) or size is None else seg.plain_index(raw)
            if n is None or seg.meta.number_of_blocks > n:
                return None
            counts.append(n)
        counts = np.array(counts, np.int64)
        body = b"".join([memoryview(raw)[UNIVERSAL_HEADER_BYTES:] for raw in raws])
        e = np.frombuffer(body, TIME_SERIES_INDEX)
        k = np.repeat(np.arange(len(segs), dtype=np.int32), counts)
        size = np.array(sizes, np.int64)[k]
        if (outside_file(e["file_offset"], e["block_bytes"].astype(np.int64), size)
                | (e["start_time"] == UUTC_NO_ENTRY)).any():
            return None
        ends = np.cumsum(counts)
        for seg, a, b in zip(segs, ends - counts, ends):
            seg.entries = e[a:b]
        return block_arrays(e, k, self._rto()[k])

    def _rto(self):
        """Recording time offset per segment (0 for "no entry")."""
        return np.array([effective_rto(rto) for rto in self.rows.column("rto")], np.int64)
