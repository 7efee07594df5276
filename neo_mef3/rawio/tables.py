"""Each channel as MEF3RawIO sees it: its RED blocks in time order, its continuous
sections, its scaling (raw dtype, gain, per-segment multipliers), and its stored samples
read through the Reader."""

import math

import numpy as np

from ..errors import FormatError

_INT32_MAX = 2**31 - 1


class _ChannelTable:
    """One channel's blocks (time order), continuous sections and scaling.

    With ``from_metadata`` (MEF3RawIO's default) a channel whose metadata alone fixes its
    sections (``Reader.continuous_sections(name, from_metadata=True)``) and that has one
    units conversion factor gets its sections and scaling without its block table: the block arrays
    (``time``, ``n``, ``seg``, ``cum``, ...) are then read on first use, at the first
    chunk read (:meth:`verify`), and checked against what the metadata said.
    """

    _BLOCK_FIELDS = ("time", "n", "seg", "disc", "bmax", "bmin", "cum")

    def __init__(self, reader, name, from_metadata=True, info=None, layout=None):
        self.name = name
        self._reader = reader
        if layout is None:
            layout = reader.layouts([name])[name]
        # MEF segment numbers and factors, sections from the metadata (or None)
        self._segment_numbers, factors, layout = layout
        self.fs = float((info or reader.info(name))["sampling_frequency"])
        # MEF factor per MEF segment (0 = "no entry": the Reader then returns raw counts)
        used = [(f if (f != 0.0 and math.isfinite(f)) else 1.0) for f in factors]
        self.seg_factors = np.array(used, np.float64)
        self.mef_factors = factors
        self._verified = True
        if from_metadata and layout is not None and used.count(used[0]) == len(used):
            # every segment holds samples (checked), all with one factor: _scaling's result
            self.sec_start, self.sec_n, self.sec_first = layout
            self.multipliers = np.ones(len(used), np.int64)
            self.dtype = "int32"
            self.gain = float(used[0])
            self._verified = False
            return
        self._load_blocks()
        self._sections()
        self._scaling()

    def _load_blocks(self):
        b = self._reader.block_table(self.name)
        d = self.__dict__
        d["time"] = np.asarray(b["start_uutc"], np.int64)
        d["n"] = n = np.asarray(b["number_of_samples"], np.int64)
        # index of each block's MEF segment in `segments`
        d["seg"] = np.searchsorted(self._segment_numbers, b["segment"]).astype(np.int64)
        d["disc"] = np.asarray(b["discontinuity"], bool)
        d["bmax"] = np.asarray(b["maximum_sample_value"], np.int64)
        d["bmin"] = np.asarray(b["minimum_sample_value"], np.int64)
        d["cum"] = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)

    def __getattr__(self, key):  # the block arrays of a table built from metadata, on first use
        if key in _ChannelTable._BLOCK_FIELDS and "_reader" in self.__dict__:
            self.verify()
            return self.__dict__[key]
        raise AttributeError(key)

    def verify(self):
        """Read the block table of a table built from metadata; FormatError (naming the
        segment's ``.tidx``) when its sections are not what the metadata said."""
        if self._verified:
            return
        self._load_blocks()
        starts, counts, firsts = self._reader.continuous_sections(self.name)
        same = (
            len(counts) == len(self.sec_n)
            and bool(np.all(counts == self.sec_n))
            and bool(np.all(firsts == self.sec_first))
            and bool(np.all(np.abs(starts - self.sec_start) < 0.5 * 1e6 / self.fs))
        )
        if not same:
            k = 0
            m = min(len(counts), len(self.sec_n))
            bad = np.flatnonzero((counts[:m] != self.sec_n[:m]) | (starts[:m] != self.sec_start[:m]))
            k = int(bad[0]) if len(bad) else m - 1 if m else 0
            tidx = self._reader.segment_files(self.name)[min(k, len(self._segment_numbers) - 1)].tidx
            raise FormatError(
                f"the block index of channel {self.name!r} disagrees with its metadata (start time, end time "
                "or sample count of a segment): the segment is not one continuous run of samples as its "
                "metadata states",
                tidx,
            )
        self._verified = True

    def _sections(self):
        """Sections: runs of blocks of one MEF segment that are continuous in time.

        A block starts a new section when it belongs to another MEF segment than the
        previous block, or starts half a sample period or more away from where the
        previous samples end. The discontinuity flag alone does not: meflib and mef3io
        set it on the first block of every append, contiguous or not.
        """
        starts, counts, first_sample = self._reader.continuous_sections(self.name)
        self.sec_start = starts  # uUTC of each section's first sample
        self.sec_n = counts  # samples per section
        self.sec_first = first_sample  # stored-sample index of its first sample

    def _scaling(self):
        """Raw dtype, gain and per-MEF-segment multipliers for the neo raw values."""
        f = self.seg_factors
        used = np.unique(self.seg[self.n > 0]) if len(self.n) else np.arange(len(f))
        fu = f[used] if len(used) else f[:1]
        self.multipliers = np.ones(len(f), np.int64)
        if len(np.unique(fu)) <= 1:
            self.dtype = "int32"
            self.gain = float(fu[0]) if len(fu) else 1.0
            return
        # several factors: int32 on the finest one if every other is a whole multiple of it
        g = fu[np.argmin(np.abs(fu))]
        ratio = f / g
        whole = np.all(np.abs(ratio[used] - np.rint(ratio[used])) <= 1e-9 * np.abs(ratio[used]))
        if whole and g != 0:
            mult = np.rint(ratio).astype(np.int64)
            bound = np.maximum(np.abs(self.bmax), np.abs(self.bmin))
            fits = True
            if len(bound):
                fits = bool(np.all(bound * np.abs(mult[self.seg]) <= _INT32_MAX))
            if fits:
                self.dtype = "int32"
                self.gain = float(g)
                self.multipliers = mult
                return
        self.dtype = "float64"
        self.gain = 1.0

    def layout(self):
        """What a stream shares exactly: rate, raw dtype and the sample count of every
        section (hashable; the section starts are compared within a tolerance)."""
        key = self.__dict__.get("layout_key")
        if key is None:
            key = self.__dict__["layout_key"] = (self.fs, self.dtype, tuple(self.sec_n.tolist()))
        return key

    def starts(self):
        """The sections' start times as a list of ints."""
        starts = self.__dict__.get("start_list")
        if starts is None:
            starts = self.__dict__["start_list"] = self.sec_start.tolist()
        return starts


def _starts_match(a, b, tol_us):
    """Whether two channels of one layout (``_ChannelTable.layout``) start their sections
    within `tol_us` of each other (``a``, ``b``: the starts, as lists)."""
    if len(a) == 1:
        return abs(a[0] - b[0]) < tol_us
    if a == b:  # (the usual: channels recorded together)
        return tol_us > 0 or not a
    return all(abs(x - y) < tol_us for x, y in zip(a, b))


class _StoredSamples:
    """Channels' stored samples [s0, s1) (time order, gaps removed) via the Reader."""

    def __init__(self, reader):
        self.reader = reader

    @property
    def blocks_decoded(self):  # instrumentation: tests check that chunk reads stay local
        return self.reader.blocks_decoded

    def read_many(self, requests, return_valid=False):
        """``Reader.read_samples_many``: (channel, s0, s1, out) requests decoded side by side."""
        return self.reader.read_samples_many(requests, return_valid=return_valid)
