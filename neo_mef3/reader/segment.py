"""One segment as the Reader holds it: decrypted metadata now, index and data on demand.

Every byte comes from the Reader's byte source (:mod:`neo_mef3.source`); the judging is
here: an index is validated against its data file's size, the three files of a segment
must belong together, and a file another process is rewriting is read again
(``headers.parse_stable``).
"""

import struct
import threading

import numpy as np

from .._red import crc32
from ..errors import FormatError, MefError
from ..format import headers
from ..format.layout import (
    RED_BLOCK_HEADER_BYTES,
    TDAT,
    TIDX,
    TIME_SERIES_INDEX_BYTES,
    UH_BODY_CRC,
    UH_NUMBER_OF_ENTRIES,
    UNIVERSAL_HEADER_BYTES,
    UUTC_NO_ENTRY,
)
from ..format.times import to_uutc

_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")


def outside_file(offsets, nbytes, size):
    """Index entries whose block is not inside a data file of `size` bytes (no int64 overflow)."""
    return (offsets < UNIVERSAL_HEADER_BYTES) | (nbytes < RED_BLOCK_HEADER_BYTES) | (offsets > size) | (
        nbytes > size - offsets
    )


class Segment:
    """One segment: ``files`` (SegmentFiles), ``meta`` (a TimeSeriesMetadata), ``number``.

    ``index_size`` and ``record_flags``: what a probing channel scan saw when the
    segment was opened (None: not probed, looked at when needed): the ``.tidx`` size
    (negative: an errno) and which record files exist (``session.HAS_RDAT | HAS_RIDX``).
    ``on_skip`` (the Reader's ``Skips.skip`` with ``on_error="skip"``) makes damaged
    index entries dropped instead of raised. ``lock`` (one per channel) only guards
    opening the data file.
    """

    def __init__(self, source, files, meta, on_skip=None, index_size=None, record_flags=None, lock=None):
        self.source = source
        self.files = files
        self.meta = meta
        self.index_size = index_size
        self.record_flags = record_flags
        self.number = files.number
        self._on_skip = on_skip
        self.entries = None  # the validated index, once read
        self._data = None  # the data file's RangeFile, once opened
        self.lock = lock or threading.Lock()

    @property
    def fs(self):
        return self.meta.fs

    @property
    def ufact(self):
        return self.meta.ufact

    @property
    def rto(self):
        return self.meta.rto

    def time(self, field):
        """A universal header time of the metadata as uUTC (None for "no entry")."""
        meta = self.meta
        if field == "start_time":
            return to_uutc(meta.start_stored, meta.rto)
        if field == "end_time":
            return to_uutc(meta.end_stored, meta.rto)
        return to_uutc(meta.uh[field], meta.rto)

    # --- the block index -------------------------------------------------------------
    def index(self):
        """TIME_SERIES_INDEX entries (validated against the data file's size)."""
        if self.entries is None:
            files = self.files
            uh, entries = headers.parse_stable(
                lambda: self.source.read_file(files.tidx, "block index"),
                lambda raw: headers.parse_index(raw, files.tidx, check_crc=True),
            )
            self.check_same_segment(uh.tobytes(), files.tidx)
            size = self.data_size()
            offs = entries["file_offset"].astype(np.int64)
            nbytes = entries["block_bytes"].astype(np.int64)
            # (written so that no sum can overflow int64, whatever a damaged entry holds)
            bad = outside_file(offs, nbytes, size)
            untimed = entries["start_time"] == UUTC_NO_ENTRY
            bad |= untimed
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                problem = (
                    f"index entry {i} has no start time" if untimed[i] else
                    f"index entry {i} points at bytes {int(offs[i])}..{int(offs[i]) + int(nbytes[i])}, "
                    f"outside the {size}-byte data file {files.tdat}"
                )
                if self._on_skip is None:
                    raise FormatError(problem, files.tidx)
                self._on_skip(
                    "blocks", files.tidx,
                    f"{int(bad.sum())} index entries dropped (read as gaps); the first: {problem}",
                )
            # more indexed blocks than the metadata declares is what an append interrupted
            # before its metadata update leaves: those blocks were committed, so keep them
            declared = self.meta.number_of_blocks
            if declared > len(entries):
                raise FormatError(f"metadata declares {declared} blocks; the index holds only {len(entries)}",
                                  files.tmet)
            self.entries = entries[~bad] if bad.any() else entries
        return self.entries

    def plain_index(self, raw):
        """The number of entries of this segment's ``.tidx`` image `raw` when it is the
        usual, undamaged file (valid header and CRCs, exactly the entries it declares,
        naming this segment); None for anything else, which :meth:`index` then reads and
        reports as it always does. The entries themselves are checked by the caller."""
        files = self.files
        try:
            headers.check_universal_header(raw, files.tidx, TIDX)
        except MefError:
            return None
        n, rest = divmod(len(raw) - UNIVERSAL_HEADER_BYTES, TIME_SERIES_INDEX_BYTES)
        if rest or _I64.unpack_from(raw, UH_NUMBER_OF_ENTRIES)[0] != n:
            return None
        if _U32.unpack_from(raw, UH_BODY_CRC)[0] != crc32(memoryview(raw)[UNIVERSAL_HEADER_BYTES:]):
            return None
        if headers.segment_mismatch(raw, self.meta.head) is not None:
            return None
        return n

    def check_same_segment(self, head, path):
        """FormatError unless a .tidx/.tdat header (raw bytes) belongs with this segment."""
        headers.check_same_segment(head, self.meta.head, path, self.files.tmet)

    # --- the data file ---------------------------------------------------------------
    def data_size(self):
        size = self.source.size(self.files.tdat)
        if size is None:
            raise FormatError("data file is missing", self.files.tdat)
        return size

    def read_bytes(self, start, stop, into=None):
        """Bytes [start, stop) of the data file (thread-safe positional read); with
        ``into`` (a writable buffer of at least ``stop - start`` bytes) they are read
        into it and its first ``stop - start`` bytes returned as a memoryview."""
        with self.lock:
            if self._data is None:
                tdat = self.files.tdat
                try:
                    data = self.source.open(tdat)
                except OSError as exc:
                    raise FormatError(f"cannot open data file ({exc.strerror})", tdat) from None
                def checked(head):
                    headers.check_universal_header(head, tdat, TDAT)
                    return head

                try:
                    head = headers.parse_stable(lambda: data.read(0, UNIVERSAL_HEADER_BYTES), checked)
                    self.check_same_segment(head, tdat)
                except MefError:
                    data.close()
                    raise
                self._data = data
            data = self._data
        if into is None:
            out = data.read(start, stop)
            got = len(out)
        else:
            out = memoryview(into)[: stop - start]
            got = data.read_into(start, out)
        if got != stop - start:
            raise FormatError(f"data file ends before byte {stop} (truncated?)", self.files.tdat)
        return out

    def close(self):
        with self.lock:
            if self._data is not None:
                self._data.close()
                self._data = None
