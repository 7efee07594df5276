"""What a Writer knows: the session it writes (:class:`WriteSession`) and, per channel,
the state of its last segment (:class:`SegmentState`), recovered from disk or built."""

import os

import numpy as np

from ..fileio import CRC_START
from ..format import metadata
from ..format.layout import TIME_SERIES_INDEX, UNIVERSAL_HEADER_BYTES


class WriteSession:
    """What every file step of a Writer needs: where, with which keys, how durably.

    ``fields``/``keys``: the password validation fields and Keys (None: unencrypted);
    ``rto``: the recording time offset the session's times are stored with.
    """

    __slots__ = ("path", "name", "fields", "keys", "durable", "n_threads", "rto", "units")

    def __init__(self, path, name, fields, keys, durable, n_threads, rto, units):
        self.path, self.name, self.fields, self.keys = path, name, fields, keys
        self.durable, self.n_threads, self.rto, self.units = durable, n_threads, rto, units

    def __repr__(self):
        return f"<WriteSession {self.path!r}{' encrypted' if self.fields is not None else ''}>"

    @property
    def threads(self):
        """Encoding threads: ``n_threads``, or every core for 0."""
        return self.n_threads or (os.cpu_count() or 1)


class SegmentState:
    """What the Writer knows about a channel's last segment (recovered from disk or built)."""

    def __init__(self):
        self.files = None
        self.number = 0
        self.fs = None
        self.ufact = None
        self.rto = 0
        self.start_time = None  # uUTC of the first block
        self.end_time = None  # uUTC, the segment's stored end (headers); may differ from data_end
        self.data_end = None  # uUTC, after the last stored sample (start of the next contiguous one)
        self.start_sample = 0  # channel-wide number of the segment's first sample
        self.index = np.zeros(0, TIME_SERIES_INDEX)  # adopted entries
        self.max_difference_bytes = 0
        self.indexed_end = UNIVERSAL_HEADER_BYTES  # byte after the last indexed block
        self.tdat_crc = CRC_START  # body CRC over [1024, indexed_end)
        self.tidx_crc = CRC_START  # body CRC over the adopted entries
        self.tdat_header = None
        self.tidx_header = None
        self.tmet_raw = None  # the .tmet image (encrypted form) as on disk
        self.s2 = None  # decrypted section 2 (numpy record copy)
        self.s3 = None  # decrypted section 3 (numpy record copy), None if not readable
        self.sizes = None  # (tdat, tidx, tmet) sizes/mtimes when last seen
        self.foreign = False  # a folder in another writer's spelling (ch-0.segd): never extended

    @property
    def n_samples(self):
        return int(self.index["number_of_samples"].astype(np.int64).sum())

    @property
    def n_blocks(self):
        return len(self.index)

    def fingerprint(self):
        """Sizes, times and inodes of the segment's files: changed when another Writer wrote."""
        try:
            st = [os.stat(p) for p in (self.files.tdat, self.files.tidx, self.files.tmet)]
        except OSError:
            return None
        return tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in st)

    def fill_section2(self):
        """Section 2's counts and statistics from the segment's index (``format.metadata``)."""
        metadata.fill_section2(self.s2, self.index, self.start_time, self.end_time, self.start_sample,
                      self.max_difference_bytes)


class ChannelState:
    """A channel being written: its directory and last segment (None before the first)."""

    def __init__(self, name, directory):
        self.name = name
        self.directory = directory
        self.last = None

    @property
    def total_samples(self):
        return 0 if self.last is None else self.last.start_sample + self.last.n_samples
