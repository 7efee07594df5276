"""RED encoding of a write's blocks, a chunk at a time, into a data file body.

The codec (``_red.encode_blocks``, threads in C) encodes at most :data:`CHUNK_SAMPLES`
samples per call, so a long write never holds its whole compressed form; each chunk
goes straight to the file through a :class:`BodyWriter`, which keeps the running body
CRC. :func:`index_entries` then describes the blocks for the ``.tidx``.
"""

import numpy as np

from .. import _red, fileio
from ..format.layout import TIME_SERIES_INDEX
from ..format.times import to_stored_array

#: samples encoded per encode_blocks call (bounds the encoder's scratch memory)
CHUNK_SAMPLES = 1 << 22


class BodyWriter:
    """Writes a file body from ``pos`` on (``fileio.pwrite_all``), keeping its running CRC."""

    __slots__ = ("fd", "pos", "crc")

    def __init__(self, fd, pos, crc):
        self.fd, self.pos, self.crc = fd, pos, crc

    def __call__(self, data):
        fileio.pwrite_all(self.fd, data, self.pos)
        self.pos += len(data)
        self.crc = _red.crc32(data, crc=self.crc)


class EncodedBlocks:
    """Per-block results of :func:`encode`: ``block_bytes``, ``maxima``, ``minima``,
    ``difference_bytes`` and ``stored_times`` (start times as stored)."""

    __slots__ = ("block_bytes", "maxima", "minima", "difference_bytes", "stored_times")

    def __init__(self, n):
        self.block_bytes = np.zeros(n, np.int64)
        self.maxima = np.zeros(n, np.int32)
        self.minima = np.zeros(n, np.int32)
        self.difference_bytes = np.zeros(n, np.uint32)
        self.stored_times = None

    @property
    def max_difference_bytes(self):
        return int(self.difference_bytes.max()) if len(self.difference_bytes) else 0


def encode(counts, starts, nsamp, times, flags, rto, emit, n_threads, on_chunk=None):
    """Encode blocks (``counts[starts[i]:starts[i] + nsamp[i]]`` at uUTC ``times[i]``)
    chunk by chunk, calling ``emit(data)`` then ``on_chunk(samples)`` per chunk (progress;
    it may raise to stop); returns :class:`EncodedBlocks`."""
    nb = len(starts)
    out = EncodedBlocks(nb)
    out.stored_times = to_stored_array(times, rto)
    csum = np.cumsum(nsamp)
    i = 0
    while i < nb:
        base = int(csum[i - 1]) if i else 0
        j = int(np.searchsorted(csum, base + CHUNK_SAMPLES, side="right"))
        j = max(j, i + 1)
        lo = int(starts[i])
        hi = int(starts[j - 1] + nsamp[j - 1])
        data, bb, mx, mn, db = _red.encode_blocks(
            counts[lo:hi], starts[i:j] - lo, nsamp[i:j], out.stored_times[i:j], flags[i:j], n_threads=n_threads
        )
        out.block_bytes[i:j], out.maxima[i:j], out.minima[i:j], out.difference_bytes[i:j] = bb, mx, mn, db
        emit(data)
        if on_chunk is not None:
            on_chunk(int(np.sum(nsamp[i:j])))
        i = j
    return out


def index_entries(first_offset, first_sample, nsamp, encoded, flags):
    """TIME_SERIES_INDEX entries of encoded blocks written from `first_offset` on, the
    first numbered `first_sample` (segment-relative, as meflib numbers them)."""
    e = np.zeros(len(nsamp), TIME_SERIES_INDEX)
    if len(nsamp):
        e["file_offset"] = first_offset + np.concatenate(([0], np.cumsum(encoded.block_bytes)[:-1]))
        e["start_sample"] = first_sample + np.concatenate(([0], np.cumsum(nsamp)[:-1]))
    e["start_time"] = encoded.stored_times
    e["number_of_samples"] = nsamp
    e["block_bytes"] = encoded.block_bytes
    e["maximum_sample_value"] = encoded.maxima
    e["minimum_sample_value"] = encoded.minima
    e["RED_block_flags"] = flags
    return e
