"""``MefWriter``: a session written with the API of ``mef_tools.io.MefWriter`` (1.2.3),
through the native Writer: a new channel, an in-segment append or a new segment, with
mef_tools' precision, quantization and NaN-gap splitting. Its annotations and knobs
(settable properties) are in ``annotations.py`` and ``knobs.py``."""

import os
import shutil
from copy import deepcopy
from typing import Optional

import numpy as np

from ..errors import WriteConflictError
from ..format.layout import RED_NAN
from ..writer import Writer
from .annotations import MefWriterAnnotations
from .common import PathLike, _open_reader, _say, _session_dir
from .info import _basic_info
from .knobs import MefWriterKnobs
from .metadata import _section2_defaults, _section3_defaults, _segment_metadata
from .quantize import find_intervals, infer_precision, to_int32, to_int32_exact

_BEFORE_END = " Given start time is before end time of data already written to the session. Returning None"


class MefWriter(MefWriterAnnotations, MefWriterKnobs):
    """Write a MEF 3.0 session with the API of ``mef_tools.io.MefWriter`` (1.2.3).

    Parameters
    ----------
    session_path : str or path-like
        The ``.mefd`` session directory (created if missing).
    overwrite : bool
        True deletes an existing session first; False appends to it.
    password1, password2 : str, optional
        Level-1 and level-2 passwords. Give both to encrypt a new session; reopening an
        encrypted session needs ``password2``.
    verbose : bool
        Print mef_tools' progress messages.

    Data are quantized exactly as mef_tools does (``np.round(x, p)`` then a truncating
    int32 cast of ``10**p * rounded``), NaN runs of at least ``max_nans_written`` samples
    (default ``'fs'``: one second) split the data into separately written intervals,
    shorter runs are stored as 0, and the int32 counts go through
    :meth:`neo_mef3.Writer.write_int32`.
    """

    __version__ = "2.0.0"

    #: flush (fsync) every step of a write, as :class:`neo_mef3.Writer` does by default.
    #: mef_tools never flushes; the drop-in matches it unless this is set to True.
    durable = False

    #: ``"mef_tools"`` (default): counts exactly as mef_tools computes them, a truncating
    #: cast of ``10**p * np.round(x, p)`` that stores 1-7 % of samples one count toward
    #: zero (0.29 at precision 2 is stored as 28). ``"exact"``: ``rint(x * 10**p)``, the
    #: nearest count, as :meth:`neo_mef3.Writer.write`. See docs/legacy.md.
    quantization = "mef_tools"

    def __init__(self, session_path: PathLike, overwrite: bool = False, password1: Optional[str] = None,
                 password2: Optional[str] = None, verbose: bool = False) -> None:
        self.pwd1 = password1
        self.pwd2 = password2
        self.bi = None
        self.channel_info = {}

        # ------- properties ------
        self._mef_block_len = None
        self._record_offset = 0
        self.verbose = verbose
        # maximal nans in continuous block to be stored in data and not indexed
        self._max_nans_written = "fs"
        # units of data stored
        self._data_units = b"uV"
        self.section3_dict = _section3_defaults()
        self.section2_ts_dict = _section2_defaults(self._data_units)
        self._writer = None
        self._writer_conf = None
        # pymef's MefSession of a new session holds no metadata until its first reload
        self._md_loaded = False

        path = _session_dir(session_path)
        self._path = path[:-1]
        new_session = overwrite is True or not os.path.exists(self._path)
        if new_session and bool(password1) != bool(password2):
            # mef_tools accepts this and writes a session that nothing can read back
            raise ValueError("give both passwords (encrypted session) or neither; MEF has no level-1-only files")
        if overwrite is True:
            if os.path.exists(self._path):
                shutil.rmtree(self._path)
            os.makedirs(self._path)
        else:
            if os.path.exists(self._path):
                _open_reader(self._path, password2).close()  # pymef checks the password first
                self._reload_session_info()
            else:
                os.makedirs(self._path)

    def __del__(self):
        try:
            self._close_writer()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def close(self) -> None:
        """Flush and release the native writer (not in mef_tools, which writes through)."""
        self._close_writer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the native writer -----------------------------------------------------------
    def _units(self):
        units = self.section2_ts_dict.get("units_description", self._data_units)
        return units.decode("utf-8", "replace") if isinstance(units, (bytes, bytearray)) else str(units)

    def _native_writer(self, block_len):
        conf = (int(block_len), self._units(), self.pwd1 or "", self.pwd2 or "")
        if self._writer is not None and self._writer_conf != conf:
            self._close_writer()
        if self._writer is None:
            self._writer = Writer(
                self._path,
                overwrite=False,
                password1=conf[2],
                password2=conf[3],
                units=conf[1],
                block_length=conf[0],
                durable=self.durable,
            )
            self._writer_conf = conf
        return self._writer

    def _close_writer(self):
        w, self._writer = getattr(self, "_writer", None), None
        if w is not None:
            w.close()

    def _read_password(self):
        return self.pwd2 or self.pwd1 or ""

    def _reload_session_info(self):
        """Re-read the channels' basic info from disk (what pymef's reload gives mef_tools)."""
        self._close_writer()
        reader = _open_reader(self._path, self._read_password())
        try:
            self.bi = _basic_info(reader)
            self._md_loaded = True
            self.channel_info = {info["name"]: deepcopy(info) for info in self.bi}
            for ch in self.channel_info.keys():
                self.channel_info[ch]["n_segments"] = reader.info(ch)["n_segments"]
                fs = self.channel_info[ch]["fsamp"][0]
                self.channel_info[ch]["mef_block_len"] = np.int64(self.get_mefblock_len(fs))
        finally:
            reader.close()

    # --- data ------------------------------------------------------------------------
    def write_data(self, data_write: np.ndarray, channel: str, start_uutc: int, sampling_freq: float,
                   end_uutc: Optional[int] = None, precision: Optional[int] = None, new_segment: bool = False,
                   discont_handler: bool = True, reload_metadata: bool = True) -> Optional[bool]:
        """Write float (or integer) data to a channel: a new channel, an in-segment append
        or a new segment. Returns True, or None (with a message and a LegacyWarning) when
        the write is refused.

        Parameters
        ----------
        data_write : np.ndarray
            Samples; NaN marks missing data.
        channel : str
        start_uutc : int
            uUTC time of the first sample.
        sampling_freq : float
        end_uutc : int, optional
            With ``discont_handler=False``, the end of the single written interval
            (default: ``start + len/fs``); otherwise only checked against the start.
        precision : int, optional
            Decimals kept (``ufact = 10**-precision``); inferred for a new channel when
            None, read from the channel when appending.
        new_segment : bool
            Start a new segment for an existing channel.
        discont_handler : bool
            Split the data at NaN runs of at least ``max_nans_written`` samples.
        reload_metadata : bool
            Re-read the session's metadata afterwards (always done for a new segment).
        """
        # infer end_uutc from data
        if end_uutc is None:
            end_uutc = np.int64(start_uutc + (len(data_write) / sampling_freq * 1e6))

        # check times are correct
        if end_uutc < start_uutc:
            _say(f"WARNING: incorrect End uutc time {end_uutc} is before beginning: {start_uutc}", warn=True)
            return None

        start_uutc = int(start_uutc)
        end_uutc = int(end_uutc)

        # check if any data exists -> append or create new segment
        if channel in self.channel_info.keys():
            if start_uutc < self.channel_info[channel]["end_time"][0]:
                _say(_BEFORE_END, warn=True)
                return None
            if sampling_freq != self.channel_info[channel]["fsamp"][0]:
                _say(" Sampling frequency of provided data does not match fs of already written data", warn=True)
                return None
            # precision from the stored conversion factor
            precision = int(-1 * np.log10(self.channel_info[channel]["ufact"][0]))
            data_converted = self._quantize(data_write, precision)
            segment = self.channel_info[channel]["n_segments"]
        else:
            segment = 0
            new_segment = True
            if precision is None:
                print("WARNING: precision is not specified, infering...")
                precision = infer_precision(data_write)
                print(f"INFO: precision set to {precision}")

            ufact = np.round(0.1 ** precision, precision)
            self.channel_info[channel] = {"mef_block_len": self.get_mefblock_len(sampling_freq), "ufact": [ufact]}
            data_converted = self._quantize(data_write, precision)

        # split at long NaN runs (shorter ones were stored as 0 above)
        if discont_handler:
            if self.max_nans_written == "fs":
                max_nans = int(sampling_freq)
            else:
                max_nans = self.max_nans_written
            intervals = find_intervals(~np.isnan(data_write), sampling_freq, start_uutc,
                                        samples_of_nans_allowed=max_nans)
        else:
            intervals = (
                np.array([0], np.int64),
                np.array([len(data_converted)], np.int64),
                np.array([start_uutc], np.int64),
                np.array([end_uutc], np.int64),
            )
        n_intervals = len(intervals[0])

        if self.verbose:
            print(f"INFO: total number of intervals to be written: {n_intervals}")
            print("Running...")
        try:
            if new_segment:
                for i in range(n_intervals):
                    s0, s1, u0, u1 = (v[i] for v in intervals)
                    data_part = data_converted[s0:s1]
                    if i == 0:
                        self._create_segment(data=data_part, channel=channel, start_uutc=u0, end_uutc=u1,
                                             sampling_frequency=sampling_freq, segment=segment)
                    else:
                        self._append_block(data=data_part, channel=channel, start_uutc=u0, end_uutc=u1,
                                           segment=segment, sampling_frequency=sampling_freq)
                reload_metadata = True
            # append to the last segment
            else:
                segment -= 1
                for i in range(n_intervals):
                    s0, s1, u0, u1 = (v[i] for v in intervals)
                    data_part = data_converted[s0:s1]
                    self._append_block(data=data_part, channel=channel, start_uutc=u0, end_uutc=u1,
                                       segment=segment, sampling_frequency=sampling_freq)
        except WriteConflictError:
            # mef_tools, with stale metadata (reload_metadata=False), would have written
            # overlapping blocks; the native Writer refuses them.
            self._close_writer()
            _say(_BEFORE_END, warn=True)
            return None
        self._close_writer()

        if reload_metadata:
            self._reload_session_info()
        if self.verbose:
            print("INFO: data write method finished.")
        return True

    def _quantize(self, data, precision):
        if self.quantization == "mef_tools":
            return to_int32(data, precision=precision)
        if self.quantization == "exact":
            return to_int32_exact(data, precision)
        raise ValueError(f"quantization must be 'mef_tools' or 'exact', not {self.quantization!r}")

    def _create_segment(self, data=None, channel=None, start_uutc=None, end_uutc=None, sampling_frequency=None,
                        segment=0):
        """First interval of a new channel or a new segment."""
        start_uutc = int(start_uutc)
        end_uutc = int(end_uutc)

        if data.dtype != np.int32:
            raise AssertionError("[TYPE ERROR] - MEF file writer accepts only int32 signal datatype!")

        if end_uutc < start_uutc:
            raise ValueError("End uutc timestamp lower than the start_uutc")

        # mef_tools keeps the metadata it writes in these (user-visible) dicts
        self.section2_ts_dict["sampling_frequency"] = sampling_frequency
        self.section3_dict["recording_time_offset"] = self.record_offset
        if segment == 0:
            self.section2_ts_dict["start_sample"] = 0
        else:
            self.section2_ts_dict["start_sample"] = np.int64(self.channel_info[channel]["nsamp"][0])
        self.section2_ts_dict["recording_duration"] = np.int64((end_uutc - start_uutc) / 1e6)
        self.section2_ts_dict["units_conversion_factor"] = self.channel_info[channel]["ufact"][0]

        if self.verbose:
            print(f"INFO: creating new segment data for channel: {channel}, segment: {segment}, "
                  f"fs: {sampling_frequency}, ufac: {self.channel_info[channel]['ufact'][0]}, "
                  f"start: {start_uutc}, stop {end_uutc} ")
        # mef_tools writes the dicts' descriptive fields into each new segment's metadata
        writer = self._native_writer(self.channel_info[channel]["mef_block_len"])
        writer.set_metadata(_segment_metadata(self.section2_ts_dict, self.section3_dict), channel=channel,
                            update_existing=False)
        self._write_counts(channel, data, start_uutc, end_uutc, sampling_frequency, new_segment=segment > 0)

    def _append_block(self, data=None, channel=None, start_uutc=None, end_uutc=None, segment=0,
                      sampling_frequency=None):
        """A further interval, appended to the channel's last segment."""
        if end_uutc < start_uutc:
            raise ValueError("End uutc timestamp lower than the start_uutc")
        if self.verbose:
            print(f"INFO: appending new data for channel: {channel}, segment: {segment}, ufac:"
                  f" {self.channel_info[channel]['ufact'][0]}, start: {start_uutc}, stop {end_uutc} ")

        start_uutc = int(start_uutc)
        end_uutc = int(end_uutc)
        if sampling_frequency is None:
            sampling_frequency = self.channel_info[channel]["fsamp"][0]
        self._write_counts(channel, data, start_uutc, end_uutc, sampling_frequency, new_segment=False)

    def _write_counts(self, channel, data, start_uutc, end_uutc, sampling_frequency, new_segment):
        """One interval's int32 counts through the native Writer, ending at `end_uutc`
        (mef_tools' truncated ``int(start + n / fs * 1e6)``, or the caller's end_uutc)."""
        # A float too large for int32 casts to INT32_MIN, RED's NaN marker: meflib stores
        # it as a sample that reads back NaN; the native Writer stores it as a gap.
        nan_marker = data == RED_NAN
        valid = ~nan_marker if nan_marker.any() else None
        writer = self._native_writer(self.channel_info[channel]["mef_block_len"])
        writer.write_int32(channel, data, float(self.channel_info[channel]["ufact"][0]), start_uutc,
                           float(sampling_frequency), valid=valid, new_segment=new_segment,
                           end_uutc=self._end_time(data, valid, start_uutc, end_uutc, sampling_frequency))

    @staticmethod
    def _end_time(data, valid, start_uutc, end_uutc, fs):
        """The end the native Writer can store: mef_tools' `end_uutc` unless it does not
        lie after the last stored sample (then the data's own end)."""
        stored = np.flatnonzero(valid) if valid is not None else None
        last = (len(data) if stored is None else int(stored[-1]) + 1) if len(data) else 0
        if last == 0:
            return None
        last_sample = start_uutc + int(np.floor((last - 1) * 1e6 / float(fs) + 0.5))
        return int(end_uutc) if int(end_uutc) > last_sample else None
