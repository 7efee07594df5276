"""The :class:`Writer`: checks a call, plans its blocks, and hands them to the file steps."""

import datetime
import functools
import os
import sys
import threading
import warnings
from typing import Any, Callable, Dict, Iterable, Optional, Union

import numpy as np

from .. import fileio, forksafe
from ..errors import ClampedSamplesWarning, MefError, PrecisionWarning, UnknownChannelError, WriteWarning
from ..format import crypto, metadata
from ..format import fields as metadata_fields
from ..format.layout import SESSION_EXT, TS_CHANNEL_EXT, encode_text
from ..progress import Tracker
from ..session import segment_folders, validate_name
from ..source import is_url, shown_url
from . import annotations as annotation_files
from . import interrupts, plan, quantize, recovery, repair, segments
from .lock import SessionLock
from .state import ChannelState, WriteSession
from .summary import WriteSummary

PathLike = Union[str, "os.PathLike[str]"]
#: ``progress=``: None/False, True (a bar) or a callable ``(done, total)`` (neo_mef3.progress)
Progress = Union[None, bool, Callable[[int, int], Any]]
#: ``cancel=``: None, a callable returning true to stop, or a threading.Event
Cancel = Union[None, Callable[[], bool], threading.Event]
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _serialized(method):
    """One public call at a time per Writer (its cached channel state is shared); Ctrl-C
    is taken at the call's safe points (:mod:`.interrupts`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock, interrupts.deferred():
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
        Flush (fsync) between the ordered steps of a write (default): when a call
        returns, what it wrote survives a power cut. False keeps the order but does not
        flush: safe if the process dies, not on power loss (docs/writing.md).

    Opening a session repairs what an interrupted write left in each channel's last
    segment (unless another Writer has it open); :attr:`summary` lists the repairs and,
    per channel, the precision, conversion factor and segments of what was written.

    Writing is local: a URL (``s3://...``) raises ValueError. Write the session on a
    local disk, then ``neo-mef3 pack`` it and upload the archive (docs/remote.md).
    """

    def __init__(self, path: PathLike, overwrite: bool = False, password1: str = "", password2: str = "",
                 units: Optional[str] = None, block_length: Optional[int] = None, n_threads: int = 0,
                 durable: bool = True) -> None:
        path = os.fspath(path)
        if is_url(path):
            raise ValueError(f"{shown_url(path)}: the Writer writes local sessions only; write the session "
                             "locally, then pack it and upload the archive (neo-mef3 pack; docs/remote.md)")
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
            fileio.remove_tree(self.path)
        fileio.create_directory(self.path, self.durable)
        self._session = WriteSession(self.path, self.session_name, session_fields, keys, self.durable,
                                     self.n_threads, recovery.existing_rto(self.path, keys), units)
        self._channels = {}
        self._meta_all = {}  # set_metadata(channel=None) values, for every channel
        self._meta_channel = {}  # channel name -> set_metadata(channel=name) values
        self._closed = False
        self._lock = threading.RLock()
        self._summary = WriteSummary(self.path)
        self._session_lock = SessionLock(self.path)
        with interrupts.deferred():
            self._repair_at_open()
        forksafe.register(self, Writer._after_fork)

    def _repair_at_open(self):
        """Heal what interrupted writes left (:mod:`.repair`), unless another Writer has
        the session open: its append in progress would look interrupted."""
        if not self._session_lock.try_exclusive():
            self._session_lock.share()
            self._summary.repair_skipped = "another Writer has the session open"
            return
        try:
            actions, unrepaired = repair.repair(self._session)
        finally:
            self._session_lock.share()
        self._summary.repairs += actions
        for where, problem in unrepaired:
            self._summary.repairs.append((where, problem))

    @property
    def encrypted(self) -> bool:
        return self._session.fields is not None

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @_serialized
    def close(self) -> Dict[str, Any]:
        """Finish; every write is already complete on disk, so this only releases state.
        Returns :attr:`summary`."""
        if not self._closed:
            self._closed = True
            self._channels.clear()
            self._session_lock.release()
        return self._summary.as_dict()

    @property
    def summary(self) -> Dict[str, Any]:
        """What this Writer did (a copy): per channel the precision and conversion factor
        of each segment written to, the segments created and why, samples, blocks, gaps
        and clamped values; the repairs made at open; the warnings given. See
        :meth:`neo_mef3.writer.summary.WriteSummary.as_dict`; ``summary_text()`` prints it."""
        return self._summary.as_dict()

    def summary_text(self) -> str:
        """:attr:`summary` as text."""
        return self._summary.text()

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
                files, foreign = recovery.last_segment_files(directory, name)
                if files is not None:
                    ch.last = recovery.recover_segment(files, self._session)
                    ch.last.foreign = foreign
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
    def write(self, channel: str, data: Any, start_uutc: Union[int, float], fs: float, precision: int = -1,
              new_segment: bool = False, end_uutc: Optional[Union[int, float]] = None,
              progress: Progress = None, cancel: Cancel = None) -> Dict[str, Any]:
        """Write float data to `channel`; NaN runs become gaps (discontinuities).

        Values are stored as int32 counts ``rint(data * 10**precision)`` with the
        conversion factor ``10**-precision``. ``precision=-1`` (default) lets the Writer
        choose (docs/writing.md): a new segment gets the precision the values' own
        resolution calls for; a later write appends to the channel's last segment when
        its values fit that segment's factor without losing that resolution, and
        otherwise starts a new segment at a factor that fits (the result says why).
        A pinned ``precision`` is used as given: values finer than it are rounded (a
        :class:`~neo_mef3.errors.PrecisionWarning` names the error bound) and values
        beyond int32 at it are clamped (counted, with a ClampedSamplesWarning). +-inf is
        stored as the largest count of its sign and counted as clamped. The first write
        to a channel creates segment 0; ``new_segment=True`` starts a new one.

        Returns ``{"samples_written", "blocks", "gaps_skipped", "segment", "precision",
        "units_conversion_factor", "segment_created", "reason", "clamped",
        "clamped_infinite", "lossy"}``: ``gaps_skipped`` counts the NaN runs (maximal runs of NaN
        samples, leading and trailing ones included) that were not stored; ``segment``
        is the number of the segment written (or that would have been, when everything
        was NaN: then nothing is written and a WriteWarning says so); ``reason`` why a
        segment was created; ``lossy`` whether values were stored coarser than their own
        resolution (a PrecisionWarning said so).

        ``end_uutc`` is the stored end of this write (default: the time after the last
        stored sample, ``start + round(n * 1e6 / fs)``); it may be up to 1 us earlier
        than that (mef_tools' truncated ``int(start + n / fs * 1e6)``) or later (the
        recording went on without data), and the next write must start at or after
        it. A write that starts 1 us before the channel's end is accepted as
        continuing it (see the module docstring). Times that are implausible as uUTC
        (before 1980 or after 2100: seconds given?) give a WriteWarning.

        ``progress`` and ``cancel`` follow :mod:`neo_mef3.progress` (samples). A cancel
        (CancelledError) or Ctrl-C (KeyboardInterrupt) stops the write between encoded
        chunks; what it had written is removed, the session is as before the call.

        Raises ValueError (bad name, a value outside int32 at a pinned precision with
        nothing else to do, an ``end_uutc`` before the last stored sample), TypeError
        (non-numeric data) or WriteConflictError (another rate than the channel's, a
        pinned factor other than the segment's, a first stored sample before the
        channel's end), all before anything is written.
        """
        self._check_open()
        validate_name(channel, "channel name")
        fs = quantize.check_fs(fs)
        start_uutc = self._check_time(start_uutc, "start_uutc")
        precision = quantize.check_precision(precision)
        x, valid, in_dtype = quantize.float_samples(data)
        with interrupts.deferred() as stop:
            stop.check()
            chan = self._channel(channel)
            choice = self._choose_factor(chan, x, valid, in_dtype, precision, new_segment)
            counts = quantize.quantize(x, valid, choice.factor, clamp=precision != -1, checkpoint=stop.check)
            if counts.clamped:
                self._warn(f"channel {channel!r}: {counts.clamped} value(s) stored as the nearest storable count "
                           f"({counts.infinite} of them +-inf; conversion factor {choice.factor:g})",
                           ClampedSamplesWarning)
            res = self._write_counts(chan, counts.counts, valid, choice.factor, start_uutc, fs, choice.new_segment,
                                     end_uutc, progress, cancel, stop, choice.reason)
        res.update(clamped=counts.clamped, clamped_infinite=counts.infinite,
                   precision=quantize.decimal_precision(choice.factor), lossy=choice.lossy)
        self._summary.record_write(channel, res)
        return res

    def _choose_factor(self, chan, x, valid, dtype, precision, new_segment):
        """The conversion factor of a write and whether it starts a segment (see :meth:`write`)."""
        last = chan.last
        appending = last is not None and not new_segment and not last.foreign
        if not valid.any():
            factor = last.ufact if appending else 10.0 ** -max(precision, 0)
            return plan.FactorChoice(factor, new_segment, None)
        if precision != -1:
            coarser = False
            if not quantize.exact_at_factor(x, 10.0**-precision, dtype):  # (else nothing is rounded)
                res = quantize.resolution(x, dtype)
                coarser = res.needed > precision and res.amax > 0
            if coarser:
                self._warn(f"channel {chan.name!r}: values finer than precision {precision} are rounded to "
                           f"{10.0**-precision:g} (error up to {0.5 * 10.0**-precision:g})", PrecisionWarning)
            return plan.FactorChoice(10.0**-precision, new_segment, "new_segment=True" if new_segment else None,
                                     coarser)
        res = quantize.resolution(x, dtype)
        if res.lossy:
            self._warn(f"channel {chan.name!r}: values up to {res.amax:g} that change by {res.step:g} per sample "
                       f"need more resolution than int32 counts hold; stored at {10.0**-res.precision:g} (error up "
                       f"to {0.5 * 10.0**-res.precision:g})", PrecisionWarning)
        if appending:
            if quantize.fits_factor(x, dtype, res, last.ufact):
                return plan.FactorChoice(last.ufact, False, None, res.lossy)
            if res.amax / last.ufact > quantize.RED_MAXIMUM_SAMPLE_VALUE:
                why = (f"values up to {res.amax:g} exceed int32 at segment {last.number}'s factor {last.ufact:g}")
            else:
                why = f"values finer than segment {last.number}'s factor {last.ufact:g}"
            return plan.FactorChoice(10.0**-res.precision, True, why, res.lossy)
        if last is None:
            why = "first write"
        elif new_segment:
            why = "new_segment=True"
        else:
            why = f"segment {last.number} is in another writer's folder spelling"
        return plan.FactorChoice(10.0**-res.precision, True, why, res.lossy)

    @_serialized
    def write_int32(self, channel: str, data: Any, ufact: float, start_uutc: Union[int, float], fs: float,
                    valid: Any = None, new_segment: bool = False,
                    end_uutc: Optional[Union[int, float]] = None, progress: Progress = None,
                    cancel: Cancel = None) -> Dict[str, Any]:
        """Write integer counts verbatim (bit-exact) with conversion factor `ufact`.

        `data` may have any integer dtype; floating input raises TypeError, and valid
        values outside int32 or equal to INT32_MIN (RED's NaN marker) raise ValueError.
        `valid` (same length, nonzero = valid) marks gap samples, which are not stored
        (and so are not range-checked). `end_uutc`, `progress`, `cancel` and the return
        value are as in :meth:`write` (``precision`` is None unless `ufact` is a power of
        ten; ``clamped`` is 0).
        """
        self._check_open()
        validate_name(channel, "channel name")
        fs = quantize.check_fs(fs)
        start_uutc = self._check_time(start_uutc, "start_uutc")
        counts, mask = quantize.integer_samples(data, valid)
        ufact = quantize.check_ufact(ufact)
        with interrupts.deferred() as stop:
            stop.check()
            chan = self._channel(channel)
            appending = chan.last is not None and not new_segment and not chan.last.foreign
            why = None if appending else ("first write" if chan.last is None else (
                "new_segment=True" if new_segment else "the last segment is in another writer's folder spelling"))
            res = self._write_counts(chan, counts, mask, ufact, start_uutc, fs, not appending, end_uutc, progress,
                                     cancel, stop, why)
        res.update(clamped=0, clamped_infinite=0, precision=quantize.decimal_precision(ufact), lossy=False)
        self._summary.record_write(channel, res)
        return res

    def _check_time(self, value, what):
        """A uUTC time checked (``quantize.check_time``), with a WriteWarning when it is not
        plausible as microseconds since 1970 (before 1980 or after 2100)."""
        t = quantize.check_time(value)
        if not quantize.PLAUSIBLE_UUTC[0] <= t <= quantize.PLAUSIBLE_UUTC[1]:
            when = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=t)
            hint = ""
            for factor, unit in ((1_000_000, "seconds"), (1_000, "milliseconds")):
                if quantize.PLAUSIBLE_UUTC[0] <= t * factor <= quantize.PLAUSIBLE_UUTC[1]:
                    hint = f"; if it is in {unit}, pass {t} * {factor:_} = {t * factor}"
                    break
            self._warn(f"{what} {t} is {when:%Y-%m-%d %H:%M:%S} UTC: not a plausible recording time in uUTC "
                       f"(microseconds since 1970-01-01){hint}", WriteWarning)
        return t

    def _warn(self, message, category):
        """Warn at the caller's line (the first frame outside the package) and keep the message."""
        self._summary.record_warning(message)
        frame, level = sys._getframe(0), 1
        while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            frame, level = frame.f_back, level + 1
        warnings.warn(message, category, stacklevel=level)

    def _write_counts(self, chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc, progress, cancel,
                      stop, reason):
        if end_uutc is not None:
            end_uutc = self._check_time(end_uutc, "end_uutc")
        p = plan.plan_write(chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc, self.block_length,
                            self._session.rto)
        if p.blocks is None:
            n = len(counts)
            self._warn(f"channel {chan.name!r}: all {n} sample(s) of this write are NaN (gaps); nothing was written",
                       WriteWarning)
            result = p.result()
            result.update(units_conversion_factor=ufact, segment_created=False, reason=None)
            return result
        n_samples = int(np.sum(p.blocks[2]))
        with Tracker(n_samples, f"write {chan.name}", "samples", progress, cancel) as tracker:
            def on_chunk(n):
                stop.check()
                tracker.advance(n)

            def before_commit():
                stop.check()
                tracker.check()

            last = chan.last
            try:
                if p.append:
                    segments.append(self._session, last, p.blocks, p.end_time, p.rto, on_chunk, before_commit)
                else:
                    if last is not None and not last.foreign and recovery.interrupted(last):
                        # the last segment holds an interrupted append no later append will finish:
                        # complete its headers and metadata first (an append of no blocks)
                        segments.append(self._session, last, plan.NO_BLOCKS, last.end_time, last.rto)
                    segments.new_segment(self._session, chan, p.segment, p.blocks, ufact, fs, p.end_time, p.rto,
                                         lambda seg: self._describe(chan, seg), on_chunk)
            except BaseException:
                self._channels.pop(chan.name, None)  # what is on disk is the truth: recover it next time
                raise
        chan.last.data_end = p.data_end
        result = p.result()
        result.update(units_conversion_factor=ufact, segment_created=not p.append,
                      reason=None if p.append else (reason or "new segment"))
        return result

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
                listed = segment_folders(chan.directory, name) if os.path.isdir(chan.directory) else ()
                for files in listed:  # (as spelled on disk: other writers' ch1-0.segd too)
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
