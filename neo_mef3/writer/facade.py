"""The :class:`Writer`: checks a call, plans its blocks, and hands them to the file steps."""

import functools
import os
import shutil
import threading
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np

from .. import fileio, forksafe
from ..errors import MefError, UnknownChannelError
from ..format import crypto, metadata
from ..format import fields as metadata_fields
from ..format.layout import SESSION_EXT, TS_CHANNEL_EXT, encode_text
from ..session import SegmentFiles, segment_numbers, validate_name
from . import annotations as annotation_files
from . import plan, quantize, recovery, segments
from .state import ChannelState, WriteSession

PathLike = Union[str, "os.PathLike[str]"]


def _serialized(method):
    """One public call at a time per Writer (its cached channel state is shared)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Writer:
    """Write a MEF 3.0 session.

    Parameters
    ----------
    path : str or path-like
        The session directory; it must end with ``.mefd`` (its base name, without the
        suffix, is the session name).
    overwrite : bool
        True deletes an existing session first. False (default) reopens an existing
        session for appending: each channel's state is recovered from disk on its first
        write, so appends work across Writer objects and program runs.
    password1, password2 : str
        Both (encrypted session) or neither. Metadata section 2 is encrypted with the
        level-1 key, section 3 and every record body with the level-2 key; RED blocks
        are not encrypted (meflib's default). Reopening an encrypted session needs
        ``password2`` (``password1`` may be given as well and is then checked).
    units : str or None
        Units description stored in metadata section 2 (default ``"uV"``, as mef_tools).
    block_length : int or None
        RED block length in samples; default ``fs`` for fs >= 5000 Hz, else ``10 * fs``,
        and for an in-segment append the segment's largest block.
    n_threads : int
        Encoding threads (0 = all cores). The files are byte-identical for any count.
    durable : bool
        Flush (fsync) between the ordered steps of a write (default). False keeps the
        order but does not flush: safe if the process dies, not on power loss.
    """

    def __init__(self, path: PathLike, overwrite: bool = False, password1: str = "", password2: str = "",
                 units: Optional[str] = None, block_length: Optional[int] = None, n_threads: int = 0,
                 durable: bool = True) -> None:
        path = os.fspath(path)
        stripped = path.rstrip("/\\") or path
        if not stripped.endswith(SESSION_EXT):
            raise ValueError(f"a MEF 3.0 session directory must end with {SESSION_EXT!r}: {path!r}")
        self.path = os.path.abspath(stripped)
        self.session_name = os.path.basename(self.path)[: -len(SESSION_EXT)]
        validate_name(self.session_name, "session name")
        if units is None:
            units = "uV"
        if not isinstance(units, str):
            raise TypeError("units must be a str")
        units = encode_text(units, 128, "units description")
        if block_length is not None:
            if isinstance(block_length, bool) or not isinstance(block_length, (int, np.integer)):
                raise TypeError("block_length must be an int (samples) or None")
            if not 1 <= int(block_length) <= quantize.MAX_BLOCK_SAMPLES:
                raise ValueError(f"block_length must be in 1..{quantize.MAX_BLOCK_SAMPLES}")
            block_length = int(block_length)
        self.block_length = block_length
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 0:
            raise ValueError("n_threads must be an int >= 0 (0 = all cores)")
        self.n_threads = int(n_threads)
        self.durable = bool(durable)
        password1 = password1 or ""
        password2 = password2 or ""
        if not isinstance(password1, str) or not isinstance(password2, str):
            raise TypeError("passwords must be str")

        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"{self.path!r} exists and is not a directory")
        existing = None if overwrite else recovery.existing_fields(self.path, self.session_name)
        session_fields, keys = crypto.writing_keys(password1, password2, existing, self.path)
        if overwrite and os.path.isdir(self.path):
            shutil.rmtree(self.path)
        os.makedirs(self.path, exist_ok=True)
        fileio.remove_stale_temporaries(self.path)
        self._session = WriteSession(self.path, self.session_name, session_fields, keys, self.durable,
                                     self.n_threads, recovery.existing_rto(self.path, keys), units)
        self._channels = {}
        self._meta_all = {}  # set_metadata(channel=None) values, for every channel
        self._meta_channel = {}  # channel name -> set_metadata(channel=name) values
        self._closed = False
        self._lock = threading.RLock()
        forksafe.register(self, Writer._after_fork)

    @property
    def encrypted(self) -> bool:
        return self._session.fields is not None

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @_serialized
    def close(self) -> None:
        """Finish; every write is already complete on disk, so this only releases state."""
        self._closed = True
        self._channels.clear()

    def __repr__(self) -> str:
        return f"<neo_mef3.Writer {self.path!r}{' encrypted' if self.encrypted else ''}>"

    def _after_fork(self):
        """In a forked child: a lock another thread of the parent held stays held; start afresh."""
        self._lock = threading.RLock()

    def _check_open(self):
        if self._closed:
            raise MefError("the Writer is closed", self.path)

    # --- channel state ---------------------------------------------------------------
    def _channel(self, name):
        ch = self._channels.get(name)
        if ch is not None and ch.last is not None and ch.last.sizes != ch.last.fingerprint():
            ch = None  # someone else (another Writer) changed the segment: reload
        if ch is None:
            directory = os.path.join(self.path, name + TS_CHANNEL_EXT)
            ch = ChannelState(name, directory)
            if os.path.isdir(directory):
                fileio.remove_stale_temporaries(directory)
                numbers = segment_numbers(directory, name)  # (as the Reader lists them)
                if len(numbers):
                    ch.last = recovery.recover_segment(SegmentFiles(directory, name, int(numbers[-1])), self._session)
            self._channels[name] = ch
        return ch

    def _channel_names(self):
        return sorted(
            e[: -len(TS_CHANNEL_EXT)]
            for e in os.listdir(self.path)
            if e.endswith(TS_CHANNEL_EXT) and not e.startswith(".") and os.path.isdir(os.path.join(self.path, e))
        )

    # --- samples ---------------------------------------------------------------------
    @_serialized
    def write(self, ch: str, data: Any, start_uutc: Union[int, float], fs: float, precision: int = -1,
              new_segment: bool = False, end_uutc: Optional[Union[int, float]] = None) -> Dict[str, int]:
        """Write float data to channel `ch`; NaN runs become gaps (discontinuities).

        Values are stored as int32 counts ``rint(data * 10**precision)`` with the
        conversion factor ``10**-precision``. ``precision=-1`` infers it (see the module
        docstring) or, when appending in-segment, reuses the segment's. The first write
        to a channel creates segment 0; later writes append to the last segment unless
        ``new_segment=True``.

        Returns ``{"samples_written", "blocks", "gaps_skipped", "segment"}``:
        ``gaps_skipped`` counts the NaN runs (maximal runs of NaN samples, leading and
        trailing ones included) that were not stored; ``segment`` is the number of the
        segment written (or that would have been, when everything was NaN).

        ``end_uutc`` is the stored end of this write (default: the time after the last
        stored sample, ``start + round(n * 1e6 / fs)``); it may be up to 1 us earlier
        than that (mef_tools' truncated ``int(start + n / fs * 1e6)``) or later (the
        recording went on without data), and the next write must start at or after
        it. A write that starts 1 us before the channel's end is accepted as
        continuing it (see the module docstring).

        Raises ValueError (bad name, infinities, a value outside int32 at this
        precision, an ``end_uutc`` before the last stored sample), TypeError
        (non-numeric data) or WriteConflictError (another rate or conversion factor
        than the segment's, or a first stored sample before the channel's end), all
        before anything is written.
        """
        self._check_open()
        validate_name(ch, "channel name")
        fs = quantize.check_fs(fs)
        start_uutc = quantize.check_time(start_uutc)
        x, valid, in_dtype = quantize.float_samples(data)
        precision = quantize.check_precision(precision)
        chan = self._channel(ch)
        if precision == -1:
            if chan.last is not None and not new_segment:
                precision = quantize.segment_precision(chan.last.ufact, chan.last.number, chan.last.files.tmet)
            else:
                precision = quantize.infer_precision(x, in_dtype)
        counts = quantize.quantize(x, valid, precision)
        return self._write_counts(chan, counts, valid, 10.0**-precision, start_uutc, fs, new_segment, end_uutc)

    @_serialized
    def write_int32(self, ch: str, data: Any, ufact: float, start_uutc: Union[int, float], fs: float,
                    valid: Any = None, new_segment: bool = False,
                    end_uutc: Optional[Union[int, float]] = None) -> Dict[str, int]:
        """Write integer counts verbatim (bit-exact) with conversion factor `ufact`.

        `data` may have any integer dtype; floating input raises TypeError, and valid
        values outside int32 or equal to INT32_MIN (RED's NaN marker) raise ValueError.
        `valid` (same length, nonzero = valid) marks gap samples, which are not stored
        (and so are not range-checked). `end_uutc` and the return value are as in
        :meth:`write`.
        """
        self._check_open()
        validate_name(ch, "channel name")
        fs = quantize.check_fs(fs)
        start_uutc = quantize.check_time(start_uutc)
        counts, mask = quantize.integer_samples(data, valid)
        ufact = quantize.check_ufact(ufact)
        chan = self._channel(ch)
        return self._write_counts(chan, counts, mask, ufact, start_uutc, fs, new_segment, end_uutc)

    def _write_counts(self, chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc=None):
        p = plan.plan_write(chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc, self.block_length,
                            self._session.rto)
        if p.blocks is not None:
            last = chan.last
            if p.append:
                segments.append(self._session, last, p.blocks, p.end_time, p.rto)
            else:
                if last is not None and recovery.interrupted(last):
                    # the last segment holds an interrupted append no later append will finish:
                    # complete its headers and metadata first (an append of no blocks)
                    segments.append(self._session, last, plan.NO_BLOCKS, last.end_time, last.rto)
                segments.new_segment(self._session, chan, p.segment, p.blocks, ufact, fs, p.end_time, p.rto,
                                     lambda seg: self._describe(chan, seg))
            chan.last.data_end = p.data_end
        return p.result()

    def _describe(self, chan, seg):
        """Descriptive fields of a new segment: the previous segment's, then set_metadata's
        (``channel=None`` values first, the channel's own on top)."""
        prev = chan.last
        if prev is not None:
            metadata.inherit_description(seg.s2, seg.s3, prev.s2, prev.s3)
        metadata_fields.apply_values(seg.s2, seg.s3, {**self._meta_all, **self._meta_channel.get(chan.name, {})})

    # --- descriptive metadata --------------------------------------------------------
    @_serialized
    def set_metadata(self, fields: Dict[str, Any], channel: Optional[str] = None,
                     update_existing: bool = True) -> int:
        """Set descriptive metadata of a channel (or of every channel, ``channel=None``).

        `fields` maps ``Reader.info`` names to values; None (or an absent key) leaves a
        field unchanged. Section 2: ``channel_description``, ``session_description``,
        ``reference_description`` (str), ``acquisition_channel_number`` (int),
        ``low_frequency_filter_setting``, ``high_frequency_filter_setting``,
        ``notch_filter_frequency_setting``, ``AC_line_frequency`` (Hz). Section 3
        (level-2 encrypted in an encrypted session): ``subject_name_1``,
        ``subject_name_2``, ``subject_id``, ``recording_location`` (str),
        ``GMT_offset`` (int, seconds).

        The values apply to every segment written afterwards (with ``channel=None``:
        of every channel, including channels written later) and, with
        ``update_existing`` (default), are written into the ``.tmet`` of the existing
        segments of the channel (of every channel): each file is rebuilt in memory,
        then written to a temporary file and renamed over the old one; only the given
        fields change. ``update_existing=False`` leaves the segments on disk as they
        are (mef_tools' behaviour: metadata is set when a segment is created).

        Unknown keys, strings too long for their field (UTF-8 bytes: 2047 for the
        descriptions, 127 for subject names and ID, 511 for the location) and numbers
        out of range raise ValueError, wrong types TypeError, and unreadable metadata
        files FormatError/PasswordError -- all before any file is written. Returns the
        number of ``.tmet`` files rewritten.
        """
        self._check_open()
        values = metadata_fields.check_values(fields)
        if channel is None:
            names = self._channel_names()
        else:
            validate_name(channel, "channel name")
            names = [channel] if os.path.isdir(os.path.join(self.path, channel + TS_CHANNEL_EXT)) else []
        images = []
        if update_existing and values:
            for name in names:
                chan = self._channel(name)
                listed = segment_numbers(chan.directory, name) if os.path.isdir(chan.directory) else ()
                for number in (int(n) for n in listed):
                    files = SegmentFiles(chan.directory, name, number)
                    raw, meta = recovery.read_metadata(files.tmet, self._session)
                    images.append((chan, files, metadata.retag_tmet(raw, meta, values, self._session.keys, files.tmet)))
        for chan, files, image in images:
            fileio.replace_file(files.tmet, image, self.durable)
            seg = chan.last
            if seg is not None and seg.number == files.number:
                seg.tmet_raw = image
                metadata_fields.apply_values(seg.s2, seg.s3, values)
                seg.sizes = seg.fingerprint()
        if channel is None:
            self._meta_all.update(values)
            for per_channel in self._meta_channel.values():
                for key in values:
                    per_channel.pop(key, None)
        else:
            self._meta_channel.setdefault(channel, {}).update(values)
        return len(images)

    # --- records ---------------------------------------------------------------------
    @_serialized
    def write_annotations(self, annotations: Iterable[Dict[str, Any]], channel: Optional[str] = None,
                          sort: bool = True) -> int:
        """Replace the records of the session (channel None) or of a channel.

        `annotations` is an iterable of dicts or a pandas DataFrame with columns
        ``time`` (uUTC, required), ``type`` (4 letters, default ``"Note"``), ``text``
        and ``duration`` (us; EDFA and Seiz). Other fields of the record types
        ``format.records`` knows (e.g. Seiz ``channels``) pass through. Records are
        stored in time order (a stable sort), or with ``sort=False`` in the order given
        (valid MEF either way; readers return them in file order). Bodies are level-2
        encrypted in an encrypted session. An empty list removes the level's records.
        Returns the number of records written.
        """
        self._check_open()
        if channel is None:
            directory, base = self.path, self.session_name
        else:
            validate_name(channel, "channel name")
            chan = self._channel(channel)
            if chan.last is None:
                raise UnknownChannelError(
                    f"channel {channel!r} has no data yet; write samples before its annotations", self.path
                )
            directory, base = chan.directory, channel
        recs = annotation_files.normalize(annotations, sort)
        annotation_files.name_seizure_channels(recs, [channel] if channel is not None else self._channel_names())
        return annotation_files.replace_records(self._session, recs, directory, base, channel)
