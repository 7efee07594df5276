"""The native Reader: exact samples from a MEF 3.0 session, decoded on a thread pool.

Times are uUTC (int microseconds since the Unix epoch). Reads are placed on the uniform
sampling grid of the window ``[t0, t1)``: the sample ``k`` of a block starting at time
``tb`` lands at index ``ceil((tb - t0) * fs / 1e6 - 0.5) + k`` (nearest grid slot, an exact
half rounding down), which is where mef3io puts it and, away from exact halves, meflib
(pymef) too. Positions no block covers are gaps (NaN in :meth:`Reader.read`,
``valid == 0`` in :meth:`Reader.read_raw`). Only the blocks overlapping the window are
read from disk and decoded.
"""

import os
import struct
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _red, fileio, forksafe
from .errors import FormatError, MefError, MefWarning, PasswordError, RangeError, UnknownChannelError
from .format import crypto, headers, records as _records
from .format import fields as metadata_fields
from .format.layout import (
    METADATA_FILE_BYTES,
    RED_BLOCK_HEADER_BYTES,
    RED_DISCONTINUITY,
    RED_LEVEL_1_ENCRYPTED,
    RED_LEVEL_2_ENCRYPTED,
    TIME_SERIES_INDEX,
    UNIVERSAL_HEADER,
    UNIVERSAL_HEADER_BYTES,
    UUTC_NO_ENTRY,
    text,
)
from .format.times import effective_rto, to_uutc, to_uutc_array
from .session import SegmentFiles, SessionTree, scan_channel

_ENCRYPTED_FLAGS = RED_LEVEL_1_ENCRYPTED | RED_LEVEL_2_ENCRYPTED
# reads of blocks that do not overlap in time go in pieces of at most this many
# compressed bytes per thread (each read, then decoded), so a long window never holds
# all of its bytes
_BATCH_BYTES = 4 << 20
# the smallest piece the threads share out (a piece costs one pread and a task), and
# how many pieces per thread a long read is cut into (a thread the machine slows down
# then holds back at most a small piece)
_PIECE_MIN_BYTES = 64 << 10
_PIECES_PER_THREAD = 16
_OFF_ENTRIES = UNIVERSAL_HEADER.fields["number_of_entries"][1]
_ENTRY_BYTES = TIME_SERIES_INDEX.itemsize
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _outside(offsets, nbytes, size):
    """Index entries whose block is not inside a data file of `size` bytes (no int64 overflow)."""
    return (offsets < UNIVERSAL_HEADER_BYTES) | (nbytes < RED_BLOCK_HEADER_BYTES) | (offsets > size) | (
        nbytes > size - offsets
    )


def _block_arrays(entries, segment, rto):
    """The block table (dict of arrays, time order) of index entries; `segment` and `rto`
    give each entry's segment position and recording time offset."""
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
    return blocks
_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")


def _grid_positions(times, t0, fs, rounding="nearest"):
    """Grid index of each block's first sample in a window starting at t0.

    "nearest" (default, as mef3io): ``ceil((tb - t0) * fs / 1e6 - 0.5)``, an exact half
    rounds down. "meflib" (as pymef / mef_tools): ``(tb - t0) / 1e6 * fs`` rounded half
    away from zero, for code that must match those readers sample for sample.
    """
    dt = (np.asarray(times) - t0).astype(np.float64)
    if rounding == "meflib":
        x = dt / 1e6 * fs
        return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
    return np.ceil(dt * fs / 1e6 - 0.5).astype(np.int64)


def _covered(starts, counts, n):
    """The runs [a, z) of [0, n) that blocks starting at ``starts`` cover (adjacent
    blocks merged), as a list of pairs."""
    a = np.minimum(np.maximum(starts, 0), n)
    z = np.minimum(np.maximum(starts + counts, 0), n)
    if len(a) > 1 and (a[1:] == z[:-1]).all() and (z > a).all():
        return [(int(a[0]), int(z[-1]))]  # (the usual case: blocks end to end)
    keep = z > a
    a, z = a[keep], z[keep]
    if len(a) > 1:
        order = np.argsort(a, kind="stable")
        a, z = a[order], np.maximum.accumulate(z[order])
        new = np.flatnonzero(a[1:] > z[:-1]) + 1  # a gap before these
        a = a[np.concatenate(([0], new))]
        z = z[np.concatenate((new - 1, [len(z) - 1]))]
    return list(zip(a.tolist(), z.tolist()))


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


class _Segment:
    """One segment: decrypted metadata now, block index and data file on demand."""

    def __init__(self, files, meta, check_crc, on_skip=None, index_size=None, record_flags=None, lock=None):
        self.files = files
        self.meta = meta
        # what a probing channel scan saw when the segment was opened (None: not probed,
        # look when needed): the .tidx size (negative: an errno) and which record files
        # exist (session.HAS_RDAT | HAS_RIDX)
        self.index_size = index_size
        self.record_flags = record_flags
        self.number = files.number
        self._check_crc = check_crc
        self._on_skip = on_skip  # Reader._skip with on_error="skip": bad entries are dropped
        self._index = None
        self._fd = None
        self._lock = lock or threading.Lock()  # (one per channel: it only guards opening the data file)

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
        meta = self.meta
        if field == "start_time":
            return to_uutc(meta.start_stored, meta.rto)
        if field == "end_time":
            return to_uutc(meta.end_stored, meta.rto)
        return to_uutc(meta.uh[field], meta.rto)

    def index(self):
        """TIME_SERIES_INDEX entries (validated against the data file's size)."""
        if self._index is None:
            uh, entries = headers.parse_stable(
                lambda: fileio.read_file(self.files.tidx, "block index"),
                lambda raw: headers.parse_index(raw, self.files.tidx, check_crc=True),
            )
            self.check_same_segment(uh, self.files.tidx)
            size = self.data_size()
            offs = entries["file_offset"].astype(np.int64)
            nbytes = entries["block_bytes"].astype(np.int64)
            # (written so that no sum can overflow int64, whatever a damaged entry holds)
            bad = _outside(offs, nbytes, size)
            untimed = entries["start_time"] == UUTC_NO_ENTRY
            bad |= untimed
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                problem = (
                    f"index entry {i} has no start time" if untimed[i] else
                    f"index entry {i} points at bytes {int(offs[i])}..{int(offs[i]) + int(nbytes[i])}, "
                    f"outside the {size}-byte data file {self.files.tdat}"
                )
                if self._on_skip is None:
                    raise FormatError(problem, self.files.tidx)
                self._on_skip(
                    "blocks", self.files.tidx,
                    f"{int(bad.sum())} index entries dropped (read as gaps); the first: {problem}",
                )
            # more indexed blocks than the metadata declares is what an append interrupted
            # before its metadata update leaves: those blocks were committed, so keep them
            declared = self.meta.number_of_blocks
            if declared > len(entries):
                raise FormatError(
                    f"metadata declares {declared} blocks; the index holds only {len(entries)}", self.files.tmet
                )
            self._index = entries[~bad] if bad.any() else entries
        return self._index

    def index_fast(self):
        """The committed index of the usual, undamaged segment with little Python per file.

        Returns ``(raw, number_of_entries, data_size)`` when the .tidx header is valid (CRCs
        included), declares exactly the entries the file holds, and names this segment;
        None for anything else (missing or damaged files, interrupted appends, mixed-up
        segments...), which :meth:`index` then reads and reports as it always does. The
        entries themselves are checked by the caller (:meth:`_Channel.blocks`).
        """
        files = self.files
        try:
            raw = fileio.read_file(files.tidx, "block index")
            size = os.stat(files.tdat).st_size
            headers.check_universal_header(raw, files.tidx, "tidx")
        except (MefError, OSError):
            return None
        n, rest = divmod(len(raw) - UNIVERSAL_HEADER_BYTES, _ENTRY_BYTES)
        if rest or _I64.unpack_from(raw, _OFF_ENTRIES)[0] != n:
            return None
        stored = _U32.unpack_from(raw, 4)[0]
        if stored != _red.crc32(memoryview(raw)[UNIVERSAL_HEADER_BYTES:]):
            return None
        if headers.segment_mismatch(raw, self.meta.head) is not None:
            return None
        return raw, n, size

    def check_same_segment(self, uh, path):
        """FormatError unless a .tidx/.tdat header (a UNIVERSAL_HEADER record) belongs with
        this segment's metadata: a file copied over from another channel or segment would
        otherwise be read as this segment's."""
        headers.check_same_segment(uh.tobytes(), self.meta.head, path, self.files.tmet)

    def data_size(self):
        try:
            return os.path.getsize(self.files.tdat)
        except OSError:
            raise FormatError("data file is missing", self.files.tdat) from None

    def read_bytes(self, start, stop):
        """Bytes [start, stop) of the data file (thread-safe positional read)."""
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = os.open(self.files.tdat, _O_READ)
                except OSError as exc:
                    raise FormatError(f"cannot open data file ({exc.strerror})", self.files.tdat) from None
                try:
                    fd = self._fd
                    uh = headers.parse_stable(
                        lambda: os.pread(fd, UNIVERSAL_HEADER_BYTES, 0),
                        lambda head: headers.parse_universal_header(head, self.files.tdat, "tdat"),
                    )
                    self.check_same_segment(uh, self.files.tdat)
                except MefError:
                    os.close(self._fd)
                    self._fd = None
                    raise
            fd = self._fd
        data = os.pread(fd, stop - start, start)
        if len(data) != stop - start:
            raise FormatError(f"data file ends before byte {stop} (truncated?)", self.files.tdat)
        return data

    def close(self):
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _Channel:
    """A channel's segments and, on demand, its block table across segments."""

    def __init__(self, name, segments):
        self.name = name
        self.segments = segments
        self._blocks = None
        self._info = None  # Reader.info's dict (metadata only: fixed once loaded)
        self._lock = threading.Lock()

    @property
    def fs(self):
        return self.segments[0].fs

    def blocks(self):
        """Per-block arrays over all segments, in time order."""
        with self._lock:
            if self._blocks is None:
                self._blocks = self._blocks_fast()
            if self._blocks is None:
                entries = [seg.index() for seg in self.segments]
                counts = [len(e) for e in entries]
                k = np.repeat(np.arange(len(self.segments), dtype=np.int32), counts)
                self._blocks = _block_arrays(np.concatenate(entries), k, self._rto()[k])
            return self._blocks

    def _blocks_fast(self):
        """blocks() for the usual case, the whole channel's index checked at once.

        None (blocks() then goes segment by segment through _Segment.index, which reads
        again and raises or skips exactly as always) unless every segment's index is
        unread, valid (see _Segment.index_fast) and its entries all sane.
        """
        segs = self.segments
        if any(seg._index is not None for seg in segs):
            return None
        got = []
        for seg in segs:
            r = seg.index_fast()
            if r is None:
                return None
            got.append(r)
        counts = np.array([r[1] for r in got], np.int64)
        if any(seg.meta.number_of_blocks > r[1] for seg, r in zip(segs, got)):
            return None
        body = b"".join([memoryview(r[0])[UNIVERSAL_HEADER_BYTES:] for r in got])
        e = np.frombuffer(body, TIME_SERIES_INDEX)
        k = np.repeat(np.arange(len(segs), dtype=np.int32), counts)
        size = np.array([r[2] for r in got], np.int64)[k]
        if (_outside(e["file_offset"], e["block_bytes"].astype(np.int64), size) | (e["start_time"] == UUTC_NO_ENTRY)).any():
            return None
        ends = np.cumsum(counts)
        for seg, a, b in zip(segs, ends - counts, ends):
            seg._index = e[a:b]
        return _block_arrays(e, k, self._rto()[k])

    def _rto(self):
        """Recording time offset per segment (0 for "no entry")."""
        return np.array([effective_rto(seg.rto) for seg in self.segments], np.int64)


class Reader:
    """Read a MEF 3.0 session.

    Parameters
    ----------
    path : str or path-like
        The ``.mefd`` session directory.
    password : str
        Level-1 or level-2 password of an encrypted session ("" for none). Level 2
        unlocks everything; level 1 reads the signal and metadata section 2 while
        subject identity (section 3) and records stay locked.
    n_threads : int
        Decoding threads: 0 = all cores, 1 = serial. Output is identical for any count.
    check_crc : bool
        Verify every RED block's CRC (headers, metadata, indices and records are always
        verified).
    on_error : {"raise", "skip"}
        What damage does. ``"raise"`` (default): using a damaged part raises a MefError
        naming the file; the other channels stay readable. ``"skip"``: damaged channels,
        segments, index entries, RED blocks and record files are left out -- a skipped
        block's samples read as gaps (NaN, ``valid == 0``), never as values -- and a
        :class:`~neo_mef3.errors.MefWarning` lists what was skipped (one warning when the
        Reader opens, one per read that meets a damaged block). ``Reader.skipped`` keeps
        every item as a dict (``what``, ``path``, ``problem``). Wrong or missing
        passwords raise in both modes.
    rounding : {"nearest", "meflib"}
        Where a block whose start falls exactly half a sample between two grid slots
        lands: "nearest" rounds the half down (as mef3io); "meflib" rounds it away from
        zero, as pymef and mef_tools do.
    """

    def __init__(self, path, password="", n_threads=0, check_crc=True, on_error="raise", rounding="nearest"):
        if rounding not in ("nearest", "meflib"):
            raise ValueError(f"rounding must be 'nearest' or 'meflib', got {rounding!r}")
        self.rounding = rounding
        self.blocks_decoded = 0  # RED blocks decoded so far (instrumentation)
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped = []  # what on_error="skip" left out: dicts what/path/problem
        self._skip_pending = []
        self._skipped_channels = {}
        self._skipped_blocks = set()
        self._lock = threading.RLock()
        self._tree = SessionTree(path)
        self.path = self._tree.path
        self._keyring = crypto.KeyRing(password)
        self.n_threads = int(n_threads) if n_threads else (os.cpu_count() or 1)
        if self.n_threads < 0:
            raise ValueError("n_threads must be >= 0")
        self.check_crc = bool(check_crc)
        self._channels = {}
        self._pool = None
        self._pool_lock = threading.Lock()
        self._closed = False
        self._encrypted = None
        forksafe.register(self)
        if on_error == "skip":  # find the damage now, and say once what is left out
            for name in self.channels:
                try:
                    self._channel(name)
                except PasswordError:
                    raise
                except MefError as exc:
                    self._skipped_channels[name] = str(exc)
                    self._skip("channel", self._tree.channel_dirs[name], exc)
            self._warn_skipped()
        # validate the password now, not at the first read; a damaged channel is reported
        # when it is used, so that the others stay readable
        for name in self.channels:
            try:
                self._channel(name)
                break
            except PasswordError:
                raise
            except MefError:
                continue

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release open files and threads; the Reader cannot be used afterwards."""
        self._closed = True
        for ch in self._channels.values():
            for seg in ch.segments:
                seg.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __repr__(self):
        return f"<neo_mef3.Reader {self.path!r} channels={len(self._tree.channels)}>"

    def _after_fork(self):
        """In a forked child: the parent's decode threads are not here, and a lock one of
        them held would never be released; start with no pool and fresh locks."""
        self._pool = None
        self._pool_lock = threading.Lock()
        self._lock = threading.RLock()
        for ch in list(self._channels.values()):
            ch._lock = threading.Lock()
            seg_lock = threading.Lock()
            for seg in ch.segments:
                seg._lock = seg_lock

    # --- discovery -------------------------------------------------------------------
    @property
    def channels(self):
        """Names of the session's time-series channels, sorted (without skipped ones)."""
        return [c for c in self._tree.channels if c not in self._skipped_channels]

    def _skip(self, what, path, problem):
        """Note a damaged part that on_error="skip" leaves out (see _warn_skipped)."""
        entry = {"what": what, "path": str(path), "problem": str(problem)}
        with self._lock:
            self.skipped.append(entry)
            self._skip_pending.append(entry)

    def _warn_skipped(self):
        """One MefWarning listing what was skipped since the last one."""
        with self._lock:
            pending, self._skip_pending = self._skip_pending, []
        if pending:
            listed = "; ".join(
                f"{e['what']}: {e['problem'] if e['path'] in e['problem'] else e['path'] + ': ' + e['problem']}"
                for e in pending[:8]
            )
            more = f"; and {len(pending) - 8} more" if len(pending) > 8 else ""
            warnings.warn(
                f"neo_mef3.Reader (on_error='skip') skipped {len(pending)} damaged part(s) of {self.path}, "
                f"read as gaps (Reader.skipped lists them): {listed}{more}",
                MefWarning,
                stacklevel=3,
            )

    def _keys_for_raw(self, raw, path=None):
        """Keys for a .tmet image: the session's keys are usually known after its first
        file, so they are looked up by the raw validation fields (parse_metadata
        validates the header anyway)."""
        keys = self._keyring.known(raw)
        if keys is None:
            uh = headers.parse_universal_header(raw, path, "tmet")
            keys = self._keyring.for_header(uh, path)
        return keys

    def _channel(self, name):
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        ch = self._channels.get(name)
        if ch is not None:
            return ch
        with self._lock:  # threads sharing the Reader build each channel once
            ch = self._channels.get(name)
            if ch is None:
                ch = self._load_channel(name)
            return ch

    def _load_channels(self, names):
        """Load several channels at once, their directory scans (system calls made
        without the GIL, ``session.scan_channel``) shared out to the decode threads.
        Errors are left for ``_channel`` to raise when the channel is used.
        """
        todo = [n for n in names if n not in self._channels and n in self._tree.channel_dirs
                and n not in self._skipped_channels]
        if len(todo) < 2:
            return
        dirs = self._tree.channel_dirs

        def scan(names):
            out = []
            for name in names:
                try:  # (probing: MEF3RawIO needs every .tidx size and records file at once)
                    out.append(self._scan(dirs[name], name, probe=True))
                except MefError:
                    out.append(None)  # (loading the channel scans again and raises)
            return out

        # all scans before any parsing (a worker waiting for the GIL while this thread
        # parses would wait out a whole switch interval), a few chunks per thread (a
        # channel of one segment scans in ~20 us, less than a task hand-off)
        chunks = np.array_split(np.array(todo, dtype=object), min(len(todo), 4 * self.n_threads))
        if self.n_threads > 1:
            scans = [s for part in self._executor().map(scan, chunks) for s in part]
        else:
            scans = scan(todo)
        found = [(name, s, self._segment_files(name, s)) for name, s in zip(todo, scans) if s is not None]
        try:  # (all channels validated in one bulk pass)
            plains = headers.plain_metadata(
                [s for _, s, _ in found], [[f.tmet for f in files] for _, _, files in found], self._keys_for_raw
            )
        except MefError:
            return  # (raised again when each channel is used)
        for (name, s, files), plain in zip(found, plains):
            with self._lock:
                if name not in self._channels:
                    try:
                        self._build_channel(name, s, files, plain)
                    except MefError:
                        pass  # raised again when the channel is used

    def _segment_files(self, name, scan):
        d = self._tree.channel_dirs[name]
        return [SegmentFiles(d, name, number) for number in scan.numbers.tolist()]

    def _load_channel(self, name):
        if name in self._skipped_channels:
            raise FormatError(f"channel {name!r} was skipped as damaged: {self._skipped_channels[name]}", self.path)
        if name not in self._tree.channel_dirs:
            raise UnknownChannelError(
                f"no channel {name!r} in the session (channels: {', '.join(self.channels) or 'none'})", self.path
            )
        scan = self._scan(self._tree.channel_dirs[name], name, probe=False)
        all_files = self._segment_files(name, scan)
        # unencrypted, intact metadata (nearly every file) is validated in bulk; the
        # rest is parsed file by file (errors, decryption)
        (plain,) = headers.plain_metadata([scan], [[f.tmet for f in all_files]], self._keys_for_raw)
        return self._build_channel(name, scan, all_files, plain)

    @staticmethod
    def _scan(channel_dir, name, probe):
        return scan_channel(channel_dir, name, METADATA_FILE_BYTES, keep=headers.SCAN_KEEP,
                            field_offsets=headers.SCAN_FIELDS, probe=probe, fs_offset=headers.SCAN_FS_OFFSET)

    def _build_channel(self, name, scan, all_files, plain):
        """The channel's segments from its scan and the bulk-validated metadata (``plain``)."""
        skip = self.on_error == "skip"
        segments = []
        lock = threading.Lock()
        for i, files in enumerate(all_files):
            try:
                meta = plain[i]
                if meta is None:  # read again: the exact error, or the image to decrypt
                    meta = headers.parse_stable(
                        lambda: fileio.read_file(files.tmet, "metadata", METADATA_FILE_BYTES),
                        lambda raw: headers.parse_metadata(raw, files.tmet, keys=self._keys_for_raw(raw, files.tmet)),
                    )
                seg = _Segment(files, meta, self.check_crc, self._skip if skip else None,
                               None if scan.index_sizes is None else int(scan.index_sizes[i]),
                               None if scan.record_flags is None else int(scan.record_flags[i]), lock)
                if skip:
                    seg.index()  # a damaged index skips the segment now, not at a read
            except PasswordError:
                raise
            except MefError as exc:
                if not skip:
                    raise
                self._skip("segment", files.directory, exc)
                continue
            if skip and segments and seg.fs != segments[0].fs:
                self._skip("segment", files.directory, f"sampled at {seg.fs} Hz, the channel at {segments[0].fs} Hz")
                continue
            segments.append(seg)
        if not segments:
            what = "readable segments" if skip else "segments"
            raise FormatError(f"channel {name!r} has no {what}", self._tree.channel_dirs[name])
        fs0 = segments[0].fs
        for seg in segments[1:]:
            if seg.fs != fs0:
                raise FormatError(
                    f"segment {seg.number} of channel {name!r} is sampled at {seg.fs} Hz, segment "
                    f"{segments[0].number} at {fs0} Hz; one channel has one rate",
                    seg.files.tmet,
                )
        ch = _Channel(name, segments)
        self._channels[name] = ch
        return ch

    # --- metadata --------------------------------------------------------------------
    def info(self, channel):
        """Channel metadata as a dict (subject fields None without level-2 access)."""
        ch = self._channel(channel)
        if ch._info is None:
            ch._info = self._info(ch)
        return dict(ch._info)

    def _info(self, ch):
        first = ch.segments[0]
        s2 = first.meta.s2
        s3 = first.meta.s3
        metas = [seg.meta for seg in ch.segments]
        factors = {m.ufact for m in metas}
        starts = [t for t in (to_uutc(m.start_stored, m.rto) for m in metas) if t is not None]
        ends = [t for t in (to_uutc(m.end_stored, m.rto) for m in metas) if t is not None]
        return {
            "name": ch.name,
            "sampling_frequency": ch.fs,
            "units_conversion_factor": factors.pop() if len(factors) == 1 else None,
            "units_description": text(s2["units_description"]),
            "start_time": min(starts) if starts else None,
            "end_time": max(ends) if ends else None,
            "number_of_samples": int(sum(m.number_of_samples for m in metas)),
            "recording_time_offset": int(s3["recording_time_offset"]) if s3 is not None else None,
            "n_segments": len(ch.segments),
            "section3_available": s3 is not None,
            **{f.name: metadata_fields.value(f, s2, s3) for f in metadata_fields.SECTION_3},
            **{f.name: metadata_fields.value(f, s2, s3) for f in metadata_fields.SECTION_2},
            "number_of_blocks": int(sum(m.number_of_blocks for m in metas)),
            "session_name": text(first.meta.uh["session_name"]),
            "anonymized_name": text(first.meta.uh["anonymized_name"]),
        }

    def segments(self, channel):
        """One dict per segment, from metadata only (nothing decoded): times, sample and
        block counts, conversion factor, units and channel description, directory."""
        ch = self._channel(channel)
        return [
            {
                "segment": seg.number,
                "start_time": seg.time("start_time"),
                "end_time": seg.time("end_time"),
                "start_sample": seg.meta.start_sample,
                "number_of_samples": seg.meta.number_of_samples,
                "number_of_blocks": seg.meta.number_of_blocks,
                "units_conversion_factor": seg.ufact,
                "units_description": text(seg.meta.s2["units_description"]),
                "channel_description": text(seg.meta.s2["channel_description"]),
                "path": seg.files.directory,
            }
            for seg in ch.segments
        ]

    def toc(self, channel):
        """One dict per RED block: start_uutc, start_sample, number_of_samples, extrema, discontinuity."""
        ch = self._channel(channel)
        b = ch.blocks()
        return [
            {
                "start_uutc": int(b["time"][i]),
                "start_sample": int(b["start_sample"][i]),
                "number_of_samples": int(b["n"][i]),
                "maximum_sample_value": int(b["max"][i]),
                "minimum_sample_value": int(b["min"][i]),
                "discontinuity": bool(b["flags"][i] & RED_DISCONTINUITY),
                "segment": ch.segments[int(b["segment"][i])].number,
            }
            for i in range(len(b["time"]))
        ]

    # --- samples ---------------------------------------------------------------------
    def _window(self, ch, t0, t1):
        if t0 is None or t1 is None:
            b = ch.blocks()
            if t0 is None:
                starts = [t for t in (seg.time("start_time") for seg in ch.segments) if t is not None]
                t0 = min(starts) if starts else (int(b["time"][0]) if len(b["time"]) else 0)
            if t1 is None:
                ends = [t for t in (seg.time("end_time") for seg in ch.segments) if t is not None]
                t1 = max(ends) if ends else t0
                if len(b["time"]):  # blocks of an interrupted append may end after the metadata's end
                    with np.errstate(over="ignore"):  # a damaged rate may push this past any time
                        block_end = float((b["time"] + b["n"] * 1e6 / ch.fs).max())
                    if block_end > t1 + 0.5e6 / ch.fs:
                        t1 = int(np.ceil(min(block_end, 2.0**63)))
        try:
            t0 = int(round(t0)) if isinstance(t0, float) else int(t0)
            t1 = int(round(t1)) if isinstance(t1, float) else int(t1)
        except (TypeError, ValueError):
            raise TypeError("t0 and t1 must be integers (uUTC microseconds) or None") from None
        if t1 < t0:
            raise RangeError(f"inverted time range: t1 ({t1}) is before t0 ({t0})", self.path)
        if not (-(2**62) <= t0 and t1 <= 2**62):  # a damaged time offset can push times past int64
            raise RangeError(f"the window [{t0}, {t1}) lies outside the times MEF can hold (|t| <= 2**62 us)", self.path)
        n = int(np.floor((t1 - t0) * ch.fs / 1e6 + 0.5))
        if n * 13 > _physical_memory():
            raise RangeError(
                f"the window [{t0}, {t1}) is {n} samples at {ch.fs} Hz, more than this machine can hold",
                self.path,
            )
        return t0, t1, n

    def _executor(self):
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="neo_mef3-decode")
            return self._pool

    def _decode_into(self, ch, t0, n, samples, valid, f64=None):
        """Decode every block overlapping the grid [0, n) into samples/valid; return the set
        of the units conversion factors of the segments those blocks are in.

        With ``f64`` (a float64 array of n) the blocks are decoded straight into it
        instead, scaled by their segment's factor, and every position no block covers is
        set to NaN (``samples``/``valid`` unused).
        Blocks that do not overlap in time are read and decoded in pieces (at most
        ``_BATCH_BYTES`` compressed bytes in memory at once, see _decode_pieces), so no
        copy of the whole range is held.
        """
        b = ch.blocks()
        # grid position of each block's first sample; an exact half rounds down (as mef3io)
        pos = _grid_positions(b["time"], t0, ch.fs, self.rounding)
        return self._decode_at(ch, b, pos, n, samples, valid, f64)

    def _decode_at(self, ch, b, pos, n, samples, valid, f64=None):
        """Decode the blocks whose samples land in [0, n) when block i starts at pos[i]."""
        sel = np.flatnonzero((pos < n) & (pos + b["n"] > 0) & (b["n"] > 0))
        if f64 is not None:  # NaN where no block lands (blocks that fail are NaN-ed later)
            lo = np.clip(pos[sel], 0, n)
            reach = np.maximum.accumulate(np.clip(pos[sel] + b["n"][sel], 0, n)) if len(sel) else np.zeros(0, np.int64)
            before = np.concatenate(([0], reach[:-1]))
            for a, z in zip(before[lo > before], lo[lo > before]):
                f64[a:z] = np.nan
            f64[reach[-1] if len(sel) else 0 :] = np.nan
        if len(sel) == 0:
            return set()
        overlap = bool(np.any(pos[sel][1:] < (pos[sel] + b["n"][sel])[:-1]))
        factors = None
        if f64 is not None:  # a segment whose factor is 0 ("no entry") gives raw counts
            factors = np.array([seg.ufact if seg.ufact != 0.0 else 1.0 for seg in ch.segments])[b["segment"]]
        if overlap:  # later blocks overwrite earlier ones: one batch, in order, one thread
            self._decode_batch(ch, b, pos, sel, n, samples, valid, f64, factors, 1)
        else:
            self._decode_pieces(ch, b, pos, sel, n, samples, valid, f64, factors)
        return {ch.segments[k].ufact for k in np.unique(b["segment"][sel]).tolist()}

    def _decode_pieces(self, ch, b, pos, sel, n, samples, valid, f64, factors):
        """Blocks that do not overlap: pieces read and decoded by the threads, no barrier.

        Each piece (at most ``_BATCH_BYTES / n_threads`` compressed bytes, a few per
        thread) is read by the thread that decodes it, so reading overlaps decoding and
        no thread waits for a serial read; at most ``n_threads`` pieces are in memory.
        """
        threads = self.n_threads
        total = int(b["nbytes"][sel].sum())
        if threads <= 1 or len(sel) < 2:
            size = _BATCH_BYTES
        else:
            size = min(max(total // (_PIECES_PER_THREAD * threads), _PIECE_MIN_BYTES), _BATCH_BYTES // threads)
        cut = np.cumsum(b["nbytes"][sel]) // max(size, 1)
        pieces = np.split(sel, np.flatnonzero(np.diff(cut)) + 1)
        if threads <= 1 or len(pieces) == 1:
            for ids in pieces:
                self._decode_batch(ch, b, pos, ids, n, samples, valid, f64, factors, threads)
            return
        futures = [
            self._executor().submit(self._decode_batch, ch, b, pos, ids, n, samples, valid, f64, factors, 1)
            for ids in pieces
        ]
        errors = [f.exception() for f in futures]  # every piece finishes before anything is raised
        for exc in errors:
            if exc is not None:
                raise exc

    def _decode_batch(self, ch, b, pos, sel, n, samples, valid, f64, factors, n_threads):
        """Read and decode the blocks ``sel`` (see _decode_into) with up to n_threads threads."""
        seg_ids = b["segment"][sel]
        if seg_ids[0] == seg_ids[-1] and (len(sel) < 3 or (seg_ids == seg_ids[0]).all()):
            tasks = [(ch.segments[int(seg_ids[0])], sel)]  # (the usual case: one segment)
        else:
            tasks = [(ch.segments[int(k)], sel[seg_ids == k]) for k in np.unique(seg_ids)]
        skip = self.on_error == "skip"
        failed = []  # (segment, block id, problem): blocks on_error="skip" reads as gaps
        jobs = []
        for seg, ids in tasks:
            lo = int(b["offset"][ids].min())
            hi = int((b["offset"][ids] + b["nbytes"][ids]).max())
            try:
                buf = seg.read_bytes(lo, hi)
            except MefError as exc:
                if not skip:
                    raise
                failed += [(seg, int(i), str(exc)) for i in ids]
                continue
            enc = (b["flags"][ids] & _ENCRYPTED_FLAGS) != 0
            if enc.any():
                buf = bytearray(buf)
                bad = crypto.decrypt_block_statistics(buf, b["offset"][ids[enc]] - lo, seg.meta.keys, self.check_crc,
                                                     seg.files.tdat, skip)
                if bad:
                    drop = ids[enc][bad]
                    failed += [(seg, int(i), "CRC_MISMATCH") for i in drop]
                    keep = ~np.isin(ids, drop)
                    ids, enc = ids[keep], enc[keep]
                    if not len(ids):
                        continue
            inside = (pos[ids] >= 0) & (pos[ids] + b["n"][ids] <= n)
            jobs.append((seg, buf, ids, lo, inside, bool(enc.any())))
        # gaps between blocks are invalid, everything a block covers is valid
        for seg, buf, ids, lo, inside, enc in jobs if f64 is None else ():
            for a, z in _covered(pos[ids], b["n"][ids], n):
                valid[a:z] = 1
        work = []
        for seg, buf, ids, lo, inside, enc in jobs:
            direct = ids[inside]
            if len(direct):
                work.append((seg, buf, direct, lo, enc))
        failed += self._run_decode(work, b, pos, samples if f64 is None else f64, n_threads, factors)
        # edge blocks: the decoder clips them to the window itself (clip=True, or the
        # float64 kernel), decoding only up to the last sample needed; nothing of the
        # block's size is allocated, so an index claiming 2**32 samples costs nothing
        for seg, buf, ids, lo, inside, enc in jobs:
            for i in ids[~inside]:
                status = np.zeros(1, np.int8) if skip else None
                out = f64 if f64 is not None else samples
                self._decode(seg, buf, np.array([i]), lo, b, out, pos[i : i + 1], enc, status, factors, clip=True)
                if status is not None and status[0]:
                    failed.append((seg, int(i), _red.STATUS_NAMES.get(int(status[0]), str(int(status[0])))))
        if failed:  # skipped blocks are gaps, whatever else covered their span
            by_file = {}
            for seg, i, problem in failed:
                a = max(int(pos[i]), 0)
                z = min(int(pos[i] + b["n"][i]), n)
                if f64 is not None:
                    f64[a:z] = np.nan
                else:
                    valid[a:z] = 0
                    samples[a:z] = 0
                key = (seg.files.tdat, int(b["offset"][i]))
                with self._lock:  # each block is reported once, however often it is read
                    if key in self._skipped_blocks:
                        continue
                    self._skipped_blocks.add(key)
                by_file.setdefault(seg.files.tdat, []).append(f"block at byte {key[1]}: {problem}")
            for path, problems in by_file.items():
                self._skip("blocks", path, f"{len(problems)} RED block(s) read as gaps ({'; '.join(problems[:4])})")

    def _decode(self, seg, buf, ids, lo, b, out, out_offsets, enc, status=None, factors=None, clip=False):
        """decode_blocks into int32 ``out``, or with ``factors`` decode_blocks_f64 into float64 ``out``
        (``clip``: blocks may reach outside ``out``; the float64 kernel always clips)."""
        with self._lock:
            self.blocks_decoded += len(ids)
        args = (np.frombuffer(buf, np.uint8), b["offset"][ids] - lo, b["nbytes"][ids], b["n"][ids], out, out_offsets)
        kw = dict(check_crc=self.check_crc and not enc, path=seg.files.tdat, allow_encrypted=enc, status=status,
                  file_offset=lo)
        if factors is None:
            _red.decode_blocks(*args, clip=clip, **kw)
        else:
            _red.decode_blocks_f64(*args, factors[ids], **kw)

    def _run_decode(self, work, b, pos, samples, n_threads, factors=None):
        chunks = []
        for seg, buf, ids, lo, enc in work:
            if n_threads <= 1 or len(ids) < 2:
                chunks.append((seg, buf, ids, lo, enc))
            else:
                # a few chunks per thread: a thread the machine slows down holds back less
                for part in np.array_split(ids, min(4 * n_threads, len(ids))):
                    if len(part):
                        chunks.append((seg, buf, part, lo, enc))

        skip = self.on_error == "skip"

        def run(job):
            seg, buf, ids, lo, enc = job
            status = np.zeros(len(ids), np.int8) if skip else None
            self._decode(seg, buf, ids, lo, b, samples, pos[ids], enc, status, factors)
            if status is None or not status.any():
                return []
            return [(seg, int(i), _red.STATUS_NAMES.get(int(c), str(int(c)))) for i, c in zip(ids, status) if c]

        failed = []
        if n_threads <= 1 or len(chunks) <= 1:
            for job in chunks:
                failed += run(job)
        else:
            for f in [self._executor().submit(run, job) for job in chunks]:
                failed += f.result()
        return failed

    def read_raw(self, channel, t0=None, t1=None):
        """Stored int32 counts on the sampling grid of [t0, t1) with a validity mask.

        Returns a dict: ``samples`` (int32), ``valid`` (uint8, 0 in gaps),
        ``start_uutc``, ``sampling_frequency``, ``units_conversion_factor``.
        """
        ch = self._channel(channel)
        t0, t1, n = self._window(ch, t0, t1)
        samples = np.zeros(n, np.int32)
        valid = np.zeros(n, np.uint8)
        factors = self._decode_into(ch, t0, n, samples, valid) or {seg.ufact for seg in ch.segments[:1]}
        self._warn_skipped()
        return {
            "samples": samples,
            "valid": valid,
            "start_uutc": t0,
            "sampling_frequency": ch.fs,
            "units_conversion_factor": factors.pop() if len(factors) == 1 else None,
        }

    def read(self, channel, t0=None, t1=None):
        """float64 samples on the grid of [t0, t1), scaled to units; NaN in gaps.

        ``N = round((t1 - t0) * fs / 1e6)`` values. A segment whose conversion factor is
        0 (MEF's "no entry") contributes its raw counts.
        """
        ch = self._channel(channel)
        t0, t1, n = self._window(ch, t0, t1)
        # decoded straight into the output: only the float64 array is of full size (its
        # pages are first touched by the decoding threads; _decode_into NaN-fills the gaps)
        out = np.empty(n)
        self._decode_into(ch, t0, n, None, None, f64=out)
        self._warn_skipped()
        return out

    def read_samples(self, channel, start=0, stop=None, return_valid=False):
        """Stored int32 counts by stored-sample number: samples [start, stop) of the
        channel's blocks in time order, gaps removed (what ``number_of_samples`` counts).

        For consumers that index samples rather than times (neo.rawio chunks, spike
        sorters). Only the blocks overlapping the range are decoded. With
        ``on_error="skip"`` a damaged block's samples are not values: pass
        ``return_valid=True`` to get ``(samples, valid)``, otherwise reading across a
        skipped block raises FormatError.
        """
        ch = self._channel(channel)
        b = ch.blocks()
        first = np.concatenate(([0], np.cumsum(b["n"])))
        total = int(first[-1])
        stop = total if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= total:
            raise RangeError(f"stored samples [{start}, {stop}) are outside 0..{total} of channel {channel!r}", self.path)
        samples = np.zeros(stop - start, np.int32)
        valid = np.zeros(stop - start, np.uint8)
        self._decode_at(ch, b, first[:-1] - start, stop - start, samples, valid)
        self._warn_skipped()
        if return_valid:
            return samples, valid
        if not valid.all():
            raise FormatError(
                f"stored samples [{start}, {stop}) of channel {channel!r} include damaged blocks that "
                "were skipped; read them with return_valid=True",
                self.path,
            )
        return samples

    def block_table(self, channel):
        """The channel's RED blocks in time order as numpy arrays (a copy).

        Keys: ``start_uutc``, ``number_of_samples``, ``first_sample`` (stored-sample
        number of the block's first sample, as :meth:`read_samples` counts),
        ``segment`` (MEF segment number), ``discontinuity``, ``maximum_sample_value``,
        ``minimum_sample_value``, ``units_conversion_factor`` (the block's segment's).
        """
        ch = self._channel(channel)
        b = ch.blocks()
        numbers = np.array([seg.number for seg in ch.segments], np.int64)
        factors = np.array([seg.ufact for seg in ch.segments], np.float64)
        return {
            "start_uutc": b["time"].copy(),
            "number_of_samples": b["n"].copy(),
            "first_sample": np.concatenate(([0], np.cumsum(b["n"])[:-1])).astype(np.int64),
            "segment": numbers[b["segment"]],
            "discontinuity": (b["flags"] & RED_DISCONTINUITY) != 0,
            "maximum_sample_value": b["max"].copy(),
            "minimum_sample_value": b["min"].copy(),
            "units_conversion_factor": factors[b["segment"]],
        }

    def _sections_from_metadata(self, channel):
        """The continuous sections of a channel from its metadata alone, or None.

        ``(starts, counts, firsts)`` as ``rawio.continuous_sections`` computes them from
        the block table, without reading any ``.tidx``, when every segment's metadata
        pins its section down: ``number_of_samples`` > 0 samples from ``start_time`` to
        the exclusive ``end_time`` within half a sample period (no gap inside it), the
        segments in time order without overlap, and the ``.tidx`` exactly the size of
        the ``number_of_blocks`` entries the metadata declares (an interrupted append
        leaves more). None for anything else (the caller then reads the block tables).
        What the metadata states is checked against the block table when the channel's
        samples are first read (``MEF3RawIO``).
        """
        ch = self._channel(channel)
        period = 1e6 / ch.fs
        half = 0.5 * period
        starts, counts, firsts = [], [], []
        first = 0
        prev_end = None
        for seg in ch.segments:
            m = seg.meta
            n = m.number_of_samples
            if n <= 0 or m.number_of_blocks <= 0:
                return None
            t0, t1, rto = m.start_stored, m.end_stored, m.rto
            if t0 == UUTC_NO_ENTRY or t1 == UUTC_NO_ENTRY:
                return None
            if rto == UUTC_NO_ENTRY:
                rto = 0
            if t0 < 0:  # (to_uutc inline)
                t0 = rto - t0
            if t1 < 0:
                t1 = rto - t1
            if abs((t1 - t0) - n * period) >= half:
                return None
            if prev_end is not None and t0 < prev_end:
                return None
            size = seg.index_size  # (as probed when the channel was opened, or now)
            if size is None:
                try:
                    size = os.stat(seg.files.tidx).st_size
                except OSError:
                    return None
            if size != UNIVERSAL_HEADER_BYTES + m.number_of_blocks * _ENTRY_BYTES:
                return None
            starts.append(t0)
            counts.append(n)
            firsts.append(first)
            first += n
            prev_end = t1
        return np.array(starts, np.int64), np.array(counts, np.int64), np.array(firsts, np.int64)

    # --- records ---------------------------------------------------------------------
    def _session_encrypted(self):
        if self._encrypted is None:
            self._encrypted = False
            for name in self.channels[:1]:
                ch = self._channel(name)
                uh = ch.segments[0].meta.uh
                self._encrypted = crypto.is_encrypted_header(uh["level_1_password_validation_field"])
        return self._encrypted

    def _read_record_file(self, rdat, keys, rto, owner=""):
        try:
            return self._parse_record_file(rdat, keys, rto, owner)
        except PasswordError:
            raise
        except MefError as exc:
            if self.on_error != "skip":
                raise
            self._skip("records", rdat, exc)
            return []

    def _parse_record_file(self, rdat, keys, rto, owner):
        # os.access: half the cost of os.path.exists for an absent file (no exception
        # raised and caught inside), and most segments have no records
        if not os.access(rdat, os.F_OK):
            ridx = rdat[: -len("rdat")] + "ridx"
            if os.access(ridx, os.F_OK):
                raise FormatError("record index exists but its record data file is missing", rdat)
            return []
        raw = fileio.read_file(rdat, "record data")
        return _records.parse_records_file(raw, rdat, keys, self._keyring, owner, rto)

    def records(self, channel=None):
        """Records (annotations) as dicts: session level (channel None) or a channel's.

        A channel's list holds its channel-level records then its segments' records.
        Encrypted sessions need the level-2 password (records may identify the subject).
        """
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        if channel is None:
            names = self.channels
            ref = self._channel(names[0]) if names else None
        else:
            ref = self._channel(channel)
        # without a readable channel, a records file's own header validates the password
        keys = ref.segments[0].meta.keys if ref is not None else None
        rto = ref.segments[0].rto if ref is not None else 0
        if keys is not None and self._session_encrypted() and keys.access_level < crypto.LEVEL_2_ACCESS:
            raise PasswordError("records of an encrypted session need the level-2 password", self.path)
        out = []
        if channel is None:
            for r in self._read_record_file(self._tree.rdat, keys, rto):
                r.update(level="session", channel=None, segment=None)
                out.append(r)
            self._warn_skipped()
            return out
        rdat, _ = self._tree.channel_records(channel)
        owner = text(ref.segments[0].meta.uh["channel_name"]) or channel
        for r in self._read_record_file(rdat, keys, rto, owner):
            r.update(level="channel", channel=channel, segment=None)
            out.append(r)
        access, F_OK = os.access, os.F_OK
        for seg in ref.segments:
            present = seg.record_flags  # (as probed when the channel was opened, or now)
            if present is None:
                present = access(seg.files.rdat, F_OK) or access(seg.files.ridx, F_OK)
            if not present:
                continue  # (what _parse_record_file does first, without two calls per segment)
            for r in self._read_record_file(seg.files.rdat, keys, seg.rto, owner):
                r.update(level="segment", channel=channel, segment=seg.number)
                out.append(r)
        self._warn_skipped()
        return out
