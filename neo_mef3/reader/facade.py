"""The :class:`Reader`: the public calls, each handed to the part of the package that
knows how (channels: :mod:`.loading`; samples: :mod:`.decode` on :mod:`.grid`; sections:
:mod:`.sections`; descriptions: :mod:`.describe`; records: :mod:`.records`)."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import forksafe
from ..errors import FormatError, MefError, PasswordError, RangeError, RemoteError
from ..format import crypto
from ..format.headers import TimeSeriesMetadata
from ..session import SegmentFiles
from ..source import ByteSource, open_source
from . import describe, grid, sections
from .decode import Decoder
from .loading import Catalog
from .records import RecordReader
from .skips import Skips
from .spec import ReaderSpec

PathLike = Union[str, "os.PathLike[str]", ByteSource, dict]
Time = Optional[Union[int, float]]


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

    Besides the options, a Reader shows ``path`` (the session's location), ``source``
    (its :class:`~neo_mef3.source.ByteSource`), ``channels``, ``skipped`` and ``spec``
    (a :class:`ReaderSpec` that opens it again elsewhere).
    """

    def __init__(self, path: PathLike, password: str = "", n_threads: int = 0, check_crc: bool = True,
                 on_error: str = "raise", rounding: str = "nearest", storage_options: Optional[dict] = None,
                 fs: Any = None) -> None:
        if rounding not in ("nearest", "meflib"):
            raise ValueError(f"rounding must be 'nearest' or 'meflib', got {rounding!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.rounding = rounding
        self.on_error = on_error
        self._skips = Skips(on_error == "skip")
        self.skipped: List[Dict[str, str]] = self._skips.items  # what on_error="skip" left out
        self.source = open_source(path, storage_options, fs)
        tree = self.source.list_session()  # (FormatError: not a session)
        self.path = self.source.location
        self.n_threads = int(n_threads) if n_threads else (os.cpu_count() or 1)
        if self.n_threads < 0:
            raise ValueError("n_threads must be >= 0")
        self.check_crc = bool(check_crc)
        self._requested_threads = n_threads
        self._keyring = crypto.KeyRing(password)
        self._pool = None
        self._pool_lock = threading.Lock()
        self._closed = False
        self._catalog = Catalog(self.source, self._keyring, self._skips, self.path)
        self._decoder = Decoder(self.n_threads, self.check_crc, self._skips, self._executor)
        self._records = RecordReader(self._catalog)
        self._tree = tree
        forksafe.register(self, Reader._after_fork)
        if self._skips.enabled:  # find the damage now, and say once what is left out
            self._catalog.skip_damaged()
            self._skips.warn(self.path)
        # validate the password now, not at the first read; a damaged channel is reported
        # when it is used, so that the others stay readable
        for name in self.channels:
            try:
                self._channel(name)
                break
            except (PasswordError, RemoteError):
                raise
            except MefError:
                continue

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release open files and threads; the Reader cannot be used afterwards."""
        self._closed = True
        self._catalog.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

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
        self._pool = None
        self._pool_lock = threading.Lock()

    def _executor(self):
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="neo_mef3-decode")
            return self._pool

    @property
    def spec(self) -> ReaderSpec:
        """How to open this Reader again (e.g. in another process): see :class:`ReaderSpec`."""
        return ReaderSpec(self.source.describe(), self._keyring.password, self._requested_threads, self.check_crc,
                          self.on_error, self.rounding)

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

    def preload(self, channels: Optional[List[str]] = None) -> None:
        """Open several channels (default: all) at once, their scans spread over the
        decoding threads. Nothing is raised here: a channel that cannot be opened raises
        when it is used."""
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        names = self.channels if channels is None else list(channels)
        parallel = self.n_threads > 1
        self._catalog.preload(names, self._executor() if parallel else None, 4 * self.n_threads if parallel else 1)

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
            return sections.sections_from_metadata(ch.segments, ch.fs, self.source.sizes)
        b = ch.blocks()
        first = np.concatenate(([0], np.cumsum(b["n"])[:-1])).astype(np.int64)
        return sections.continuous_sections(b["time"], b["n"], b["segment"], first, ch.fs)

    # --- samples ---------------------------------------------------------------------
    def read_raw(self, channel: str, t0: Time = None, t1: Time = None) -> Dict[str, Any]:
        """Stored int32 counts on the sampling grid of [t0, t1) with a validity mask.

        Returns a dict: ``samples`` (int32), ``valid`` (uint8, 0 in gaps),
        ``start_uutc``, ``sampling_frequency``, ``units_conversion_factor``.
        """
        ch = self._channel(channel)
        t0, t1, n = grid.window(ch, t0, t1, self.path)
        samples = np.zeros(n, np.int32)
        valid = np.zeros(n, np.uint8)
        factors = self._decoder.decode_window(ch, t0, n, samples, valid, rounding=self.rounding) or {
            seg.ufact for seg in ch.segments[:1]}
        self._skips.warn(self.path)
        return {
            "samples": samples,
            "valid": valid,
            "start_uutc": t0,
            "sampling_frequency": ch.fs,
            "units_conversion_factor": factors.pop() if len(factors) == 1 else None,
        }

    def read(self, channel: str, t0: Time = None, t1: Time = None) -> np.ndarray:
        """float64 samples on the grid of [t0, t1), scaled to units; NaN in gaps.

        ``N = round((t1 - t0) * fs / 1e6)`` values. A segment whose conversion factor is
        0 (MEF's "no entry") contributes its raw counts.
        """
        ch = self._channel(channel)
        t0, t1, n = grid.window(ch, t0, t1, self.path)
        # decoded straight into the output: only the float64 array is of full size (its
        # pages are first touched by the decoding threads; gaps are NaN-filled there)
        out = np.empty(n)
        self._decoder.decode_window(ch, t0, n, None, None, f64=out, rounding=self.rounding)
        self._skips.warn(self.path)
        return out

    def read_samples(self, channel: str, start: int = 0, stop: Optional[int] = None,
                     return_valid: bool = False) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
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
        self._decoder.decode_at(ch, b, first[:-1] - start, stop - start, samples, valid)
        self._skips.warn(self.path)
        if return_valid:
            return samples, valid
        if not valid.all():
            raise FormatError(
                f"stored samples [{start}, {stop}) of channel {channel!r} include damaged blocks that "
                "were skipped; read them with return_valid=True",
                self.path,
            )
        return samples

    # --- records ---------------------------------------------------------------------
    def records(self, channel: Optional[str] = None) -> List[Dict[str, Any]]:
        """Records (annotations) as dicts: session level (channel None) or a channel's.

        A channel's list holds its channel-level records then its segments' records.
        Encrypted sessions need the level-2 password (records may identify the subject).
        """
        if self._closed:
            raise MefError("the Reader is closed", self.path)
        out = self._records.records(channel, self.path)
        self._skips.warn(self.path)
        return out


def _reopen(spec):
    """Unpickling a Reader: open the session again (see Reader.__reduce__)."""
    return spec.open()
