"""The :class:`Reader`: the public calls, each handed to the part of the package that
knows how (channels: :mod:`.loading`; samples: :mod:`.decode` on :mod:`.grid`; sections:
:mod:`.sections`; descriptions: :mod:`.describe`; records: :mod:`.records`)."""

import contextlib
import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import forksafe
from ..errors import MefError, RangeError, RemoteError
from ..format import crypto
from ..format.headers import TimeSeriesMetadata
from ..format.layout import METADATA_FILE_BYTES
from ..progress import Tracker
from ..session import SegmentFiles
from ..source import ByteSource, open_source
from . import describe, grid, sections, stored, video, windows
from .cache import MetadataCache
from .decode import Decoder, run_all
from .loading import Catalog
from .records import RecordReader
from .skips import Skips
from .spec import ReaderSpec

PathLike = Union[str, "os.PathLike[str]", ByteSource, dict]
Time = Optional[Union[int, float]]
Channels = Optional[Union[str, List[str], Tuple[str, ...]]]


#: a read of several channels decodes them side by side on the threads when each is at
#: most this many samples (about 0.1 s of one core's decoding)
SIDE_BY_SIDE_SAMPLES = 1 << 22


def _count_gaps(tracker, before, n):
    """After a channel's decode: count the slots no block covered, so that a read's
    progress reaches its total (the decoder counts the samples it placed)."""
    if tracker is not None:
        tracker.advance(max(n - (tracker.done - before), 0))


class Reader:
    """Read a MEF 3.0 session.

    Parameters
    ----------
    path : str or path-like
        The ``.mefd`` session directory; a URL of one (``s3://``, ``https://``, ``gs://``,
        ``az://``, any fsspec URL, e.g. ``simplecache::s3://...``); a session packed as
        one uncompressed ``.mefd.tar`` / ``.mefd.zip`` (local or a URL), read in place;
        or a :class:`~neo_mef3.source.ByteSource`, or the ``describe()`` of one.
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
    storage_options : dict
        Options of the fsspec file system of a URL (credentials, endpoint, timeouts;
        nested per protocol for a chained URL), e.g. ``{"anon": True}`` for a public
        S3 bucket. Needs ``pip install 'neo_mef3[remote]'``; see docs/remote.md.
    fs : fsspec.AbstractFileSystem
        A ready file system; `path` is then a path on it.

    A store that fails to serve a file raises a :class:`~neo_mef3.errors.RemoteError`
    (access denied, timeout, dropped connection) naming the file's URL, also with
    ``on_error="skip"``: a failed transfer is not damage.
    cache : None, "auto" or path
        Opt-in warm start (:mod:`neo_mef3.reader.cache`): a snapshot of the session's
        metadata (``"auto"``: in the per-user cache directory; a path: that file) serves
        ``channels`` and ``info()`` without scanning the session while every file and
        directory is unchanged (size and times). Without a valid one the whole session
        is scanned at once and a snapshot written. It holds the files' bytes as on disk,
        nothing decrypted and no password. Local session directories only: ignored for
        URLs and packed sessions (docs/remote.md says why).

    Besides the options, a Reader shows ``path`` (the session's location), ``source``
    (its :class:`~neo_mef3.source.ByteSource`), ``channels``, ``skipped`` and ``spec``
    (a :class:`ReaderSpec` that opens it again elsewhere).
    """

    def __init__(self, path: PathLike, password: str = "", n_threads: int = 0, check_crc: bool = True,
                 on_error: str = "raise", rounding: str = "nearest", storage_options: Optional[dict] = None,
                 fs: Any = None, cache: Optional[Union[str, "os.PathLike[str]"]] = None) -> None:
        if rounding not in ("nearest", "meflib"):
            raise ValueError(f"rounding must be 'nearest' or 'meflib', got {rounding!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.rounding = rounding
        self.on_error = on_error
        self._skips = Skips(on_error == "skip")
        self.skipped: List[Dict[str, str]] = self._skips.items  # what on_error="skip" left out
        self.source = open_source(path, storage_options, fs)
        self.n_threads = int(n_threads) if n_threads else (os.cpu_count() or 1)
        if self.n_threads < 0:
            raise ValueError("n_threads must be >= 0")
        self.cache = cache
        snapshot = metadata_cache = None
        if cache is not None:
            metadata_cache = MetadataCache.for_reader(cache, self.source, self.n_threads)
            snapshot = metadata_cache.load() if metadata_cache is not None else None
            if snapshot is not None:
                self.source.use_tree(snapshot[0])
        tree = self.source.list_session()  # (FormatError: not a session)
        self.path = self.source.location
        self.check_crc = bool(check_crc)
        self._requested_threads = n_threads
        self._keyring = crypto.KeyRing(password)
        self._pool = None
        self._pool_size = 0
        self._old_pools = []
        self._pool_lock = threading.Lock()
        self._closed = False
        self._catalog = Catalog(self.source, self._keyring, self._skips, self.path, self.n_threads, self._executor)
        self._decoder = Decoder(self.n_threads, self.check_crc, self._skips, self._executor)
        self._records = RecordReader(self._catalog)
        self._tree = tree
        forksafe.register(self, Reader._after_fork)
        if snapshot is not None:
            self._catalog.adopt(snapshot[1])
        elif metadata_cache is not None:  # (the whole session scanned now, and kept)
            started = time.time_ns()
            metadata_cache.save(tree, self._catalog.open_all(), started, METADATA_FILE_BYTES)
        if self._skips.enabled:  # find the damage now, and say once what is left out
            self._catalog.skip_damaged()
            self._skips.warn(self.path)
        # validate the password now, not at the first read (against one .tmet header); a
        # damaged channel is reported when it is used, so that the others stay readable
        if not self._catalog.opened():
            self._catalog.check_password()

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self, wait: bool = True) -> None:
        """Release open files and threads; the Reader cannot be used afterwards.

        ``wait=False`` does not wait for the decoding threads to end: for finalizers
        (``__del__``), which the garbage collector may run on a thread that is starting,
        where waiting for other threads deadlocks."""
        self._closed = True
        self._catalog.close()
        for pool in [self._pool] + self._old_pools:
            if pool is not None:
                pool.shutdown(wait=wait)
        self._pool, self._old_pools = None, []

    def __repr__(self) -> str:
        return f"<neo_mef3.Reader {self.path!r} channels={len(self._tree.channels)}>"

    # --- pickling (Dask, multiprocessing, SpikeInterface jobs) --------------------------
    def __reduce__(self):
        """A pickled Reader is the recipe that opens the session again (its ``spec``:
        location, password, options); worker processes reopen it. The password is in the
        pickle's bytes, in memory only: keep such bytes off disk (docs/scale.md)."""
        if self._closed:
            raise MefError("a closed Reader cannot be pickled", self.path)
        return (_reopen, (self.spec,))

    def _after_fork(self):
        """In a forked child: the parent's decode threads are not here; start with no pool
        (the channel catalog, decoder and skip list reset their own locks)."""
        self._pool, self._pool_size, self._old_pools = None, 0, []
        self._pool_lock = threading.Lock()

    def _executor(self, workers=None):
        """The decode pool, made when first needed; a call asking for more threads than it
        has (``read(..., n_threads=k)``) replaces it by a larger one (the old one finishes
        what it was given, and stays open until close(): a thread may still submit to it)."""
        workers = max(self.n_threads if workers is None else int(workers), 1)
        with self._pool_lock:
            if self._pool is not None and self._pool_size < workers:
                self._old_pools.append(self._pool)
                self._pool = None
            if self._pool is None:
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="neo_mef3-decode")
                self._pool_size = workers
            return self._pool

    @property
    def spec(self) -> ReaderSpec:
        """How to open this Reader again (e.g. in another process): see :class:`ReaderSpec`."""
        return ReaderSpec(self.source.describe(), self._keyring.password, self._requested_threads, self.check_crc,
                          self.on_error, self.rounding, self.cache)

    @property
    def blocks_decoded(self) -> int:
        """RED blocks decoded so far (instrumentation)."""
        return self._decoder.blocks_decoded

    # --- channels --------------------------------------------------------------------
    @property
    def channels(self) -> List[str]:
        """Names of the session's time-series channels, sorted (without skipped ones)."""
        return self._catalog.names

    def _channel(self, name):
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        return self._catalog.get(name)

    @property
    def video_channels(self) -> List[str]:
        """Names of the session's video channels (``<name>.vidd``), sorted."""
        return sorted(self._tree.video_dirs)

    def video(self, channel: str) -> Dict[str, Any]:
        """A video channel's segments: per segment its metadata (``frame_rate``,
        ``horizontal_resolution``, ``vertical_resolution``, ``number_of_clips``,
        ``video_format``, ``start_time``, ``end_time``, ...), ``clips`` (int64 arrays
        ``start_time``, ``end_time`` in uUTC, ``start_frame``, ``end_frame``,
        ``file_offset``, ``clip_bytes``, one entry per clip) and ``files`` (the video
        files in its folder). Read when asked for: a damaged video channel raises its
        MefError here (skipped with ``on_error="skip"``) and never affects time series."""
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        out = video.video_channel(self.source, self._tree, channel, self._keyring, self._skips, self.path)
        self._skips.warn(self.path)
        return out

    def preload(self, channels: Optional[List[str]] = None) -> None:
        """Open several channels (default: all) at once, their scans spread over the
        decoding threads. Nothing is raised here: a channel that cannot be opened raises
        when it is used."""
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        self._catalog.preload(self.channels if channels is None else list(channels))

    # --- metadata --------------------------------------------------------------------
    def info(self, channel: str) -> Dict[str, Any]:
        """Channel metadata as a dict (subject fields None without level-2 access)."""
        ch = self._channel(channel)
        if ch.info is None:
            ch.info = describe.info(ch)
        return dict(ch.info)

    def segments(self, channel: str) -> List[Dict[str, Any]]:
        """One dict per segment, from metadata only (nothing decoded): times, sample and
        block counts, conversion factor, units and channel description, directory."""
        return describe.segment_dicts(self._channel(channel))

    def segment_table(self, channel: str) -> Dict[str, np.ndarray]:
        """Per segment, as arrays: ``segment`` (MEF number), ``start_sample``,
        ``number_of_samples``, ``number_of_blocks``, ``units_conversion_factor``, from
        what opening the channel read (cheaper than :meth:`segments`)."""
        return describe.segment_table(self._channel(channel))

    def segment_files(self, channel: str) -> List[SegmentFiles]:
        """The :class:`~neo_mef3.session.SegmentFiles` (paths) of the channel's segments."""
        return [seg.files for seg in self._channel(channel).segments]

    def segment_metadata(self, channel: str) -> List[TimeSeriesMetadata]:
        """The decrypted metadata (:class:`~neo_mef3.format.headers.TimeSeriesMetadata`)
        of the channel's segments; section 3 is None without level-2 access."""
        return [seg.meta for seg in self._channel(channel).segments]

    def toc(self, channel: str) -> List[Dict[str, Any]]:
        """One dict per RED block: start_uutc, start_sample, number_of_samples, extrema, discontinuity."""
        return describe.toc(self._channel(channel))

    def block_table(self, channel: str) -> Dict[str, np.ndarray]:
        """The channel's RED blocks in time order as numpy arrays (a copy).

        Keys: ``start_uutc``, ``number_of_samples``, ``first_sample`` (stored-sample
        number of the block's first sample, as :meth:`read_samples` counts),
        ``segment`` (MEF segment number), ``discontinuity``, ``maximum_sample_value``,
        ``minimum_sample_value``, ``units_conversion_factor`` (the block's segment's),
        ``file_offset`` and ``block_bytes`` (where the block lies in its data file).
        """
        return describe.block_table(self._channel(channel))

    def continuous_sections(self, channel: str,
                            from_metadata: bool = False) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The channel's runs of gapless samples: ``(starts, counts, firsts)`` arrays of
        each section's start (uUTC), sample count and first stored-sample number (see
        :mod:`neo_mef3.reader.sections`). ``from_metadata``: from the segments' metadata
        alone, without reading any block index, or None when the metadata does not pin
        them down."""
        ch = self._channel(channel)
        if from_metadata:
            return sections.sections_from_metadata(ch.rows, ch.fs, self.source.sizes)
        b = ch.blocks()
        return sections.continuous_sections(b["time"], b["n"], b["segment"], b["first"], ch.fs)

    def layouts(self, channels: Optional[List[str]] = None) -> Dict[str, Tuple[List[int], List[float], Any]]:
        """What laying channels out on a time axis needs, from their metadata alone (no
        block index read, nothing decoded), for many channels (default: all) in one pass:
        name -> ``(segments, factors, sections)``, the MEF segment numbers, their units
        conversion factors and ``continuous_sections(name, from_metadata=True)``. What
        :class:`~neo_mef3.rawio.MEF3RawIO` opens a session with; a channel that cannot
        be opened raises as in :meth:`info`."""
        names = self.channels if channels is None else list(channels)
        chans = [self._channel(name) for name in names]
        found = sections.layouts_from_metadata([(ch.rows, ch.fs) for ch in chans], self.source.sizes)
        return {name: (list(ch.rows.numbers), ch.rows.column("ufact"), layout)
                for name, ch, layout in zip(names, chans, found)}

    # --- samples ---------------------------------------------------------------------
    def read_raw(self, channel: Channels, t0: Time = None, t1: Time = None, n_threads: Optional[int] = None,
                 progress: Any = None, cancel: Any = None, warn: bool = True) -> Dict[str, Any]:
        """Stored int32 counts on the sampling grid of [t0, t1) with a validity mask.

        Returns a dict: ``samples`` (int32), ``valid`` (uint8, 0 in gaps),
        ``start_uutc``, ``sampling_frequency``, ``units_conversion_factor`` (None when
        the window spans segments of different factors). ``channel`` may be a list of
        names (or None: all channels) of one rate: ``samples`` and ``valid`` are then
        2-D (one row per channel) and ``units_conversion_factor`` a list. ``n_threads``,
        ``progress``, ``cancel``, ``warn``: as :meth:`read`.
        """
        names, stacked = windows.channel_names(channel, self.channels)
        chans = [self._channel(name) for name in names]
        t0, t1, n = self._window(names, chans, t0, t1, warn)
        samples = np.zeros((len(chans), n), np.int32)
        valid = np.zeros((len(chans), n), np.uint8)
        with self._tracker(n * len(chans), progress, cancel) as tracker:
            found = self._decode_rows(len(chans), n, n_threads, tracker,
                                      lambda k, **kw: self._decoder.decode_window(chans[k], t0, n, samples[k], valid[k],
                                                                                  rounding=self.rounding, **kw))
        factors = []
        for ch, got in zip(chans, found):
            got = got or {seg.ufact for seg in ch.segments[:1]}
            factors.append(got.pop() if len(got) == 1 else None)
        self._skips.warn(self.path)
        return {
            "samples": samples if stacked else samples[0],
            "valid": valid if stacked else valid[0],
            "start_uutc": t0,
            "sampling_frequency": chans[0].fs if chans else None,
            "units_conversion_factor": factors if stacked else factors[0],
        }

    def read(self, channel: Channels, t0: Time = None, t1: Time = None, n_threads: Optional[int] = None,
             progress: Any = None, cancel: Any = None, warn: bool = True) -> np.ndarray:
        """float64 samples on the grid of [t0, t1), scaled to units; NaN in gaps.

        ``N = round((t1 - t0) * fs / 1e6)`` values. Each segment's samples are scaled by
        that segment's conversion factor (0, MEF's "no entry", gives the raw counts).
        ``channel``: a name (a 1-D array), or a list of names or None for all channels,
        which must share a rate (a 2-D array, one row per channel, on one grid; default
        window: the earliest start to the latest end). ``n_threads``: decoding threads
        for this call (default: the Reader's). ``progress`` (True: a tqdm bar, or
        ``callable(done, total)`` in samples) and ``cancel`` (a callable or Event;
        CancelledError) as in :mod:`neo_mef3.progress`. A MefWarning says when a time is
        no plausible uUTC time or the window misses the recording (it would read as
        NaN; ``warn=False`` for code that reads windows of a session-wide grid on
        purpose). Ctrl-C stops a read promptly and leaves the Reader usable.
        """
        names, stacked = windows.channel_names(channel, self.channels)
        chans = [self._channel(name) for name in names]
        t0, t1, n = self._window(names, chans, t0, t1, warn)
        # decoded straight into the output: only the float64 array is of full size (its
        # pages are first touched by the decoding threads; gaps are NaN-filled there)
        out = np.empty((len(chans), n))
        with self._tracker(n * len(chans), progress, cancel) as tracker:
            self._decode_rows(len(chans), n, n_threads, tracker,
                              lambda k, **kw: self._decoder.decode_window(chans[k], t0, n, None, None, f64=out[k],
                                                                          rounding=self.rounding, **kw))
        self._skips.warn(self.path)
        return out if stacked else out[0]

    def read_grid(self, channel: str, t0: int, start: int, stop: int, raw: bool = False
                  ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """Samples ``[start, stop)`` of the sampling grid anchored at uUTC ``t0`` (sample
        ``k`` at ``t0 + k * 1e6 / fs``): what ``read(channel, t0, t1)[start:stop]`` holds
        for any ``t1`` reaching ``stop``, decoded alone.

        For reading one long window in pieces (a Dask chunk, a loader's window) without
        anchoring the grid anew on each piece, which could move a block by one sample.
        float64 in units, NaN in gaps; ``raw=True``: ``(int32 counts, uint8 valid)`` as
        :meth:`read_raw` gives them. One thread: callers run pieces in parallel.
        """
        ch = self._channel(channel)
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop:
            raise RangeError(f"grid samples [{start}, {stop}) of channel {channel!r}: need 0 <= start <= stop",
                             self.path)
        n = stop - start
        grid.check_fits(n, 8, f"grid samples [{start}, {stop}) of channel {channel!r}", self.path)
        b = ch.blocks()
        pos = grid.grid_positions(b["time"], int(t0), ch.fs, self.rounding) - start
        if raw:
            samples, valid = np.zeros(n, np.int32), np.zeros(n, np.uint8)
            self._decoder.decode_at(ch, b, pos, n, samples, valid, n_threads=1)
            out = samples, valid
        else:
            out = np.empty(n)
            self._decoder.decode_at(ch, b, pos, n, None, None, f64=out, n_threads=1)
        self._skips.warn(self.path)
        return out

    def _decode_rows(self, count, n, n_threads, tracker, decode):
        """Run ``decode(k, n_threads=..., tracker=...)`` for k in range(count), the rows of
        a read of at most n samples a row; return what each call returned.

        Short rows are decoded side by side, one per thread, so the threads never wait
        for each other between channels (256 channels of 10 minutes: 256 waits
        otherwise); longer ones one after the other, each cut in pieces for the threads
        (and a Ctrl-C or cancel then waits only for pieces)."""
        threads = self.n_threads if n_threads is None else max(int(n_threads), 1)
        if threads > 1 and count > 1 and n <= SIDE_BY_SIDE_SAMPLES:
            return run_all(self._executor(threads), [functools.partial(decode, k, n_threads=1) for k in range(count)],
                           None if tracker is None else (lambda k: tracker.advance(n)))
        found = []
        for k in range(count):
            before = tracker.done if tracker is not None else 0
            found.append(decode(k, n_threads=n_threads, tracker=tracker))
            _count_gaps(tracker, before, n)
        return found

    def _window(self, names, chans, t0, t1, warn=True):
        """The window of a read (see :mod:`.windows`), warning about unit slips."""
        given = (t0, t1)
        t0, t1, n = windows.common_window(names, chans, t0, t1, self.path)
        if warn:
            windows.warn_slips(given, (t0, t1), names, chans, self.path, stacklevel=3)
        return t0, t1, n

    @staticmethod
    def _tracker(total, progress, cancel):
        """A Tracker when the caller asked for progress or a cancel check, else nothing to do."""
        if progress in (None, False) and cancel is None:
            return contextlib.nullcontext()
        return Tracker(total, "read", unit="samples", progress=progress, cancel=cancel)

    def read_samples(self, channel: str, start: int = 0, stop: Optional[int] = None,
                     return_valid: bool = False, out: Optional[np.ndarray] = None
                     ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """Stored int32 counts by stored-sample number: samples [start, stop) of the
        channel's blocks in time order, gaps removed (what ``number_of_samples`` counts).

        For consumers that index samples rather than times (neo.rawio chunks, spike
        sorters). Only the blocks overlapping the range are decoded. With
        ``on_error="skip"`` a damaged block's samples are not values: pass
        ``return_valid=True`` to get ``(samples, valid)``, otherwise reading across a
        skipped block raises FormatError. ``out``: a contiguous, writeable int32 array
        of ``stop - start`` values the samples are decoded into (and which is returned),
        e.g. a column of a Fortran-ordered (samples, channels) array.
        """
        request = stored.prepare(channel, self._channel(channel), start, stop, out, self.path)
        stored.decode(self._decoder, request)
        self._skips.warn(self.path)
        return stored.result(request, return_valid, self.path)

    def read_samples_many(self, requests: List[Tuple[str, int, Optional[int], Optional[np.ndarray]]],
                          return_valid: bool = False, n_threads: Optional[int] = None) -> List[Any]:
        """Several :meth:`read_samples` calls in one: ``requests`` is a list of
        ``(channel, start, stop, out)`` (``out`` None or as in read_samples); their
        results come back in order. Short ranges are decoded side by side, one per
        thread, without a wait between channels (what a neo chunk of many channels
        reads). Every request is checked before anything is decoded."""
        checked = [stored.prepare(name, self._channel(name), a, z, out, self.path) for name, a, z, out in requests]
        longest = max((r.stop - r.start for r in checked), default=0)
        self._decode_rows(len(checked), longest, n_threads, None,
                          lambda k, n_threads=None, tracker=None: stored.decode(self._decoder, checked[k], n_threads))
        self._skips.warn(self.path)
        return [stored.result(r, return_valid, self.path) for r in checked]

    # --- records ---------------------------------------------------------------------
    def records(self, channel: Optional[str] = None, level: Optional[str] = None) -> List[Dict[str, Any]]:
        """Records (annotations) as dicts: session level (channel None) or a channel's.

        A channel's list holds its channel-level records then its segments' records.
        ``level="all"``: every record of the session in one list -- session records, then
        each channel's own and its segments' (skipped channels left out); ``"session"``,
        ``"channel"``, ``"segment"``: only that level, of the whole session (or of
        `channel`). Each record says where it was found: ``level``, ``channel`` (None for
        the session) and ``segment`` (the MEF number, None above segments).
        Encrypted sessions need the level-2 password (records may identify the subject).
        """
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        if level not in (None, "all", "session", "channel", "segment"):
            raise ValueError(f"level must be None, 'all', 'session', 'channel' or 'segment', got {level!r}")
        if level is None:
            out = self._records.records(channel, self.path)
        else:
            owners = [channel] if channel is not None else [None] + self.channels
            out = [r for owner in owners for r in self._records.records(owner, self.path)
                   if level == "all" or r["level"] == level]
        self._skips.warn(self.path)
        return out


def _reopen(spec):
    """Unpickling a Reader: open the session again (see Reader.__reduce__)."""
    return spec.open()
