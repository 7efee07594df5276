"""What opening a channel keeps of its segments: one row of numbers per segment.

A session of hundreds of channels, or of channels of hundreds of segments, is opened
from one scan table (:class:`~neo_mef3.session.SessionScan`). Making a Segment, its
paths and its metadata object for every segment at open cost more than the scan
itself, and a description of the channel (``Reader.info``, ``segment_table``, the
sections neo needs, which segments have records) needs only a few numbers per segment.
So a channel keeps :class:`SegmentRows`: per segment its number, the values of its
``.tmet`` the Reader uses, its header bytes and what a probing scan saw; the Segment
objects (:mod:`.segment`) are made from them when samples or indices are first read.
"""

import os

import numpy as np

from ..format.headers import TimeSeriesMetadata
from ..format.layout import SEGMENT_EXT, TMET, UH_START_TIME, UNIVERSAL_HEADER_BYTES, UUTC_NO_ENTRY
from ..format.times import span_uutc, to_uutc
from ..session import STANDARD_WIDTH

_SEP = os.sep

#: the fields of a row (``SegmentRows.values[j]``), in this order
FIELDS = ("fs", "ufact", "start_sample", "number_of_samples", "number_of_blocks", "rto", "start_stored",
          "end_stored")


def scan_values(scan):
    """The row values (see FIELDS) of every segment of a SessionScan made with
    ``headers.SCAN_FIELDS``, as one list of tuples (what the scan read: right only for
    the rows the bulk check accepts)."""
    f = scan.fields
    times = np.ascontiguousarray(scan.heads[:, UH_START_TIME : UH_START_TIME + 16]).view("<i8")
    return list(zip(*f[:, :2].view("<f8").T.tolist(), *f[:, 2:6].T.tolist(), *times.T.tolist()))


def meta_values(meta):
    """The row values of a TimeSeriesMetadata."""
    return (meta.fs, meta.ufact, meta.start_sample, meta.number_of_samples, meta.number_of_blocks, meta.rto,
            meta.start_stored, meta.end_stored)


class SegmentRows:
    """A channel's segments as rows (segment number order).

    ``numbers``: MEF segment numbers; ``values[j]``: the tuple of FIELDS of segment j;
    ``heads[base + j]``: its ``.tmet`` header (uint8 rows of at least 1024 bytes, the
    scan's table); ``keys``: the Keys of the rows the bulk check accepted; ``image``:
    the first segment's whole image as the scan read it (None: not kept); ``metas``: j
    -> a TimeSeriesMetadata already made (those parsed file by file, and any asked
    for); ``index_sizes`` / ``record_flags``: as a probing scan saw them, and
    ``channel_record_flags`` for the channel's own record files (None: not probed).
    ``channel_dir``, ``name`` and ``widths`` (the digits each segment folder's name
    spells its number with, None when all have MEF's six) make the paths. ``read_file``
    reads a ``.tmet`` again.
    """

    __slots__ = ("name", "channel_dir", "numbers", "values", "heads", "base", "keys", "image", "metas",
                 "index_sizes", "record_flags", "channel_record_flags", "read_file", "widths")

    def __init__(self, name, channel_dir, numbers, values, heads, base, keys, image, index_sizes, record_flags,
                 read_file, channel_record_flags=None, widths=None):
        self.name = name
        self.channel_dir = channel_dir
        self.numbers = numbers
        self.values = values
        self.heads = heads
        self.base = base
        self.keys = keys
        self.image = image
        self.metas = {}
        self.index_sizes = index_sizes
        self.record_flags = record_flags
        self.channel_record_flags = channel_record_flags
        self.read_file = read_file
        self.widths = None if widths is None or all(w == STANDARD_WIDTH for w in widths) else list(widths)

    def __len__(self):
        return len(self.numbers)

    def path(self, j, ext):
        """The path of segment j's ``.<ext>`` file (as ``SegmentFiles`` makes it)."""
        if self.widths is None:
            base = f"{self.name}-{self.numbers[j]:06d}"
        else:
            base = f"{self.name}-{self.numbers[j]:0{self.widths[j]}d}"
        d = self.channel_dir
        if d.endswith(_SEP):
            return f"{d}{base}{SEGMENT_EXT}{_SEP}{base}.{ext}"
        return f"{d}{_SEP}{base}{SEGMENT_EXT}{_SEP}{base}.{ext}"

    def tmet(self, j):
        return self.path(j, TMET)

    def set_meta(self, j, meta):
        """Segment j's metadata as parsed file by file (its values follow it)."""
        self.metas[j] = meta
        self.values[j] = meta_values(meta)

    def meta(self, j):
        """Segment j's TimeSeriesMetadata (made from its row when first asked for: its
        sections are read again from the file if asked for)."""
        meta = self.metas.get(j)
        if meta is None:
            if j == 0 and self.image is not None:
                meta = TimeSeriesMetadata(self.tmet(0), None, self.keys, True, self.image)
            else:
                fs, ufact, start_sample, n, blocks, rto = self.values[j][:6]
                head = self.heads[self.base + j, :UNIVERSAL_HEADER_BYTES].tobytes()
                meta = TimeSeriesMetadata.from_fields(self.tmet(j), head, self.keys, fs, ufact, start_sample, n,
                                                      blocks, rto, self.read_file)
            self.metas[j] = meta
        return meta

    def first_keys(self):
        """The Keys of the first segment's metadata."""
        meta = self.metas.get(0)
        return meta.keys if meta is not None else self.keys

    def first_head(self):
        """The first segment's universal header (1024 bytes)."""
        meta = self.metas.get(0)
        if meta is not None:
            return meta.head
        return self.image[:UNIVERSAL_HEADER_BYTES] if self.image is not None else self.meta(0).head

    def first_image(self):
        """``(image, section3_available)`` of the first segment: its whole decrypted
        ``.tmet`` (read again if it was not kept)."""
        meta = self.metas.get(0)
        if meta is None and self.image is not None:
            return self.image, True
        meta = self.meta(0)
        return (meta.raw if meta.raw is not None else meta.record.tobytes()), meta.section3_available

    def keep(self, kept):
        """Only the rows `kept` (indices, in order) from now on."""
        metas = {new: self.metas[old] for new, old in enumerate(kept) if old in self.metas}
        if kept[:1] != [0]:
            self.image = None
        self.numbers = [self.numbers[j] for j in kept]
        if self.widths is not None:
            self.widths = [self.widths[j] for j in kept]
        self.values = [self.values[j] for j in kept]
        self.heads = self.heads[[self.base + j for j in kept]]
        self.base = 0
        self.metas = metas
        if self.index_sizes is not None:
            self.index_sizes = [self.index_sizes[j] for j in kept]
            self.record_flags = [self.record_flags[j] for j in kept]

    # --- what a description of the channel needs -----------------------------------
    def column(self, field):
        """One FIELDS value of every row, as a list."""
        k = FIELDS.index(field)
        return [v[k] for v in self.values]

    def times(self):
        """Per row ``(start, end)`` in uUTC of its metadata (None for "no entry")."""
        return [(to_uutc(v[6], v[5]), to_uutc(v[7], v[5])) for v in self.values]

    def bounds(self):
        """``(earliest start, latest end)`` in uUTC of the rows (None where no row has one)."""
        if len(self.values) == 1:  # (one segment: the usual clinical channel)
            v = self.values[0]
            rto = 0 if v[5] == UUTC_NO_ENTRY else v[5]
            s, e = v[6], v[7]
            return (None if s == UUTC_NO_ENTRY else s if s >= 0 else rto - s,
                    None if e == UUTC_NO_ENTRY else e if e >= 0 else rto - e)
        starts, ends = [v[6] for v in self.values], [v[7] for v in self.values]
        if min(starts) >= 0 and min(ends) >= 0:  # (no "no entry", no time stored relative: the usual)
            return min(starts), max(ends)
        starts, ends = [], []
        for v in self.values:
            rto = 0 if v[5] == UUTC_NO_ENTRY else v[5]
            t = v[6]
            if t != UUTC_NO_ENTRY:
                starts.append(t if t >= 0 else rto - t)
            t = v[7]
            if t != UUTC_NO_ENTRY:
                ends.append(t if t >= 0 else rto - t)
        return (min(starts) if starts else None), (max(ends) if ends else None)

    def spans(self):
        """Per row ``span_uutc`` of its start and end (None when either is "no entry")."""
        return [span_uutc(v[6], v[7], v[5]) for v in self.values]
