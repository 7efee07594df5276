"""Drop-in replacement for ``mef_tools.io`` (mef_tools 1.2.3): :class:`MefReader`, :class:`MefWriter`.

Lab code written against the legacy stack keeps working with one changed import::

    # from mef_tools.io import MefReader, MefWriter
    from neo_mef3 import MefReader, MefWriter

Both classes keep mef_tools' call shapes, defaults, return types and shapes, printed
messages and failure modes (which exception, or ``None`` plus a message). They are thin
layers over the native :class:`neo_mef3.Reader` and :class:`neo_mef3.Writer`; this module
only reproduces the legacy *semantics* (channel picking, default windows, NaN-gap
splitting, precision inference and quantization, annotation merging) and never touches
the file format itself.

Where mef_tools returns ``None`` and prints a message (a refused append, a bad setter
value, a failed annotation read), the drop-in returns the same value, prints the same
message and also issues a :class:`LegacyWarning`, so new code can catch it.

The differences kept on purpose are listed, each with its measurement or test, in
``docs/legacy.md``.
"""

import os
import shutil
import warnings
from copy import copy, deepcopy
from typing import Any, Dict, List, Optional, Union

import numpy as np

from .errors import PasswordError, WriteConflictError
from .format import fields as metadata_fields
from .format.layout import RED_NAN
from .reader import Reader
from .reader.grid import grid_positions
from .writer import Writer
from .source import is_url

__all__ = ["MefReader", "MefWriter", "LegacyWarning"]

PathLike = Union[str, "os.PathLike[str]"]
#: a channel name, an ``np.int64`` index, or a list/array of those (mef_tools' picking)
Channels = Union[str, np.int64, List[Union[str, np.int64]], np.ndarray]

_INT64_MIN = np.iinfo(np.int64).min
_BEFORE_END = " Given start time is before end time of data already written to the session. Returning None"


class LegacyWarning(UserWarning):
    """mef_tools would have returned ``None`` (or given up) and printed a message.

    The drop-in returns the same value and prints the same message; this warning makes
    the event visible to code that does not read stdout.
    """


def _say(message, warn=False, stacklevel=3):
    """Print `message` as mef_tools does; with `warn` also issue a LegacyWarning."""
    print(message)
    if warn:
        warnings.warn(message.strip(), LegacyWarning, stacklevel=stacklevel)


def _session_dir(session_path):
    """pymef's path rules: a trailing '/', the '.mefd' suffix (returns the path without '/')."""
    path = os.fspath(session_path)
    if not path.endswith("/"):
        path += "/"
    if ".mefd" != path[-6:-1]:
        raise ValueError("Session path must end with .mefd suffix!")
    return path


def _open_reader(path, password, storage_options=None):
    """A native Reader with pymef's password error ('MEF password is invalid')."""
    try:
        return Reader(path, password=password or "", rounding="meflib", storage_options=storage_options)
    except PasswordError:
        raise PasswordError("MEF password is invalid") from None


def _basic_info(reader):
    """pymef ``read_ts_channel_basic_info()``: one dict of length-1 arrays per channel, sorted by name."""
    names = sorted(reader.channels)
    if not names:
        # pymef builds no 'time_series_channels' entry for a session without channels
        raise KeyError("time_series_channels")
    out = []
    for name in names:
        info = reader.info(name)
        ufact = info["units_conversion_factor"]
        if ufact is None:  # segments disagree: meflib's channel level says "no entry" (0.0)
            ufact = 0.0
        out.append(
            {
                "name": name,
                "fsamp": np.array([info["sampling_frequency"]], dtype=np.float64),
                "nsamp": np.array([info["number_of_samples"]], dtype=np.int64),
                "ufact": np.array([ufact], dtype=np.float64),
                "unit": np.array([_channel_text(reader, name, "units_description", info)], dtype="S128"),
                "start_time": np.array([info["start_time"]], dtype=np.int64),
                "end_time": np.array([info["end_time"]], dtype=np.int64),
                "channel_description": np.array([_channel_text(reader, name, "channel_description", info)],
                                                dtype="S2048"),
            }
        )
    return out


def _channel_text(reader, name, field, info):
    """meflib's channel-level text of section 2 `field`: the first segment's when every
    segment holds the same, else empty (meflib zeroes fields its segments disagree on)."""
    values = {seg[field] for seg in reader.segments(name)}
    return info[field].encode("utf-8") if len(values) <= 1 else b""


# --- records as pymef returns them -------------------------------------------------------
# (field, kind) in pymef's dtype order; kind: i8/i4 -> numpy ints, f8 -> numpy float, s -> str
_RECORD_FIELDS = {
    "Note": (("text", "s"),),
    "SyLg": (("text", "s"),),
    "EDFA": (("duration", "i8"), ("text", "s")),
    "LNTP": (("length", "i8"), ("template", "a8")),
    "Seiz": (
        ("earliest_onset", "i8"),
        ("latest_offset", "i8"),
        ("duration", "i8"),
        ("number_of_channels", "i4"),
        ("onset_code", "i4"),
        ("marker_name_1", "s"),
        ("marker_name_2", "s"),
        ("annotation", "s"),
    ),
    "CSti": (("task_type", "s"), ("stimulus_duration", "i8"), ("stimulus_type", "s"), ("patient_response", "s")),
    "ESti": (
        ("amplitude", "f8"),
        ("frequency", "f8"),
        ("pulse_width", "i8"),
        ("ampunit_code", "i4"),
        ("mode_code", "i4"),
        ("waveform", "s"),
        ("anode", "s"),
        ("catode", "s"),
    ),
    "Curs": (("id_number", "i8"), ("trace_timestamp", "i8"), ("latency", "i8"), ("value", "f8"), ("name", "s")),
    "Epoc": (
        ("id_number", "i8"),
        ("timestamp", "i8"),
        ("end_timestamp", "i8"),
        ("duration", "i8"),
        ("epoch_type", "s"),
        ("text", "s"),
    ),
}


def _typed(value, kind):
    if kind == "s":
        return "" if value is None else str(value)
    if kind == "f8":
        return np.float64(np.nan if value is None else value)
    if kind == "a8":
        return np.asarray(value if value is not None else [], dtype=np.int64)
    if value is None:
        value = _INT64_MIN if kind == "i8" else -1
    return np.int64(value) if kind == "i8" else np.int32(value)


def _pymef_record(rec):
    """A native record dict as pymef's ``read_records`` builds it (keys, order, numpy types)."""
    rtype = rec.get("type")
    fields = _RECORD_FIELDS.get(rtype)
    if fields is None:
        warnings.warn("Unrecognized record type: " + str(rtype), RuntimeWarning, stacklevel=4)
        return {"type": rtype}
    out = {"type": rtype, "time": _typed(rec.get("time"), "i8")}
    for name, kind in fields:
        out[name] = _typed(rec.get(name), kind)
    if rtype == "Seiz" and rec.get("channels"):
        out["channels"] = [
            {
                "name": str(c.get("name") or ""),
                "onset": _typed(c.get("onset"), "i8"),
                "offset": _typed(c.get("offset"), "i8"),
            }
            for c in rec["channels"]
        ]
    return out


def _records_present(reader, channel=None):
    """pymef maps a level's records only when both its .ridx and .rdat files exist."""
    tree = reader.source.list_session()
    if channel is None:
        files = (tree.ridx, tree.rdat)
    else:
        files = tree.channel_records(channel)
    return all(reader.source.exists(f) for f in files)


def _read_pymef_records(reader, channel=None):
    """pymef ``MefSession.read_records(channel)`` on top of the native Reader."""
    if channel is not None:
        if channel not in reader.channels:
            raise ValueError("No channel %s in this session" % channel)
        if not _records_present(reader, channel):
            raise KeyError("records_info")
        recs = [r for r in reader.records(channel) if r.get("level") == "channel"]
    else:
        if not _records_present(reader):
            raise KeyError("records_info")
        recs = reader.records()
    return [_pymef_record(r) for r in recs]


class MefReader:
    """Read a MEF 3.0 session with the API of ``mef_tools.io.MefReader`` (1.2.3).

    Parameters
    ----------
    session_path : str or path-like
        Path to the ``.mefd`` session directory, or its URL (``s3://``, ``https://``,
        any fsspec URL; not in mef_tools).
    password2 : str, optional
        Password of an encrypted session. Unlike mef_tools, a level-1 password reads the
        signal and the technical metadata correctly (see ``docs/legacy.md``).
    storage_options : dict, optional
        Options of the fsspec file system of a URL (not in mef_tools; docs/remote.md).

    Attributes
    ----------
    bi : list of dict
        pymef's basic channel info: ``name``, ``fsamp``, ``nsamp``, ``ufact``, ``unit``,
        ``start_time``, ``end_time``, ``channel_description`` (each a length-1 array).
    reader : neo_mef3.Reader
        The native reader underneath (not in mef_tools; ``session``, pymef's
        ``MefSession``, does not exist here).
    """

    __version__ = "2.0.0"

    def __init__(self, session_path: PathLike, password2: Optional[str] = None,
                 storage_options: Optional[dict] = None) -> None:
        self.reader = None
        path = _session_dir(session_path)
        if not is_url(path) and not os.path.exists(path):
            raise FileNotFoundError(path + " does not exist!")
        self._path = path[:-1]
        self.reader = _open_reader(self._path, password2, storage_options)
        self.bi = _basic_info(self.reader)
        self._open = True

        for ch_info in self.bi:
            if ch_info["fsamp"].__len__() > 1:
                raise NotImplementedError(
                    "[ERROR]: File contains more sampling frequencies "
                    "for a single channels. This feature is not implemented."
                )

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self):  # not in mef_tools; harmless and convenient
        return self

    def __exit__(self, *exc):
        self.close()

    # --- metadata ------------------------------------------------------------------
    @property
    def channels(self) -> List[str]:
        """Names of all channels, sorted."""
        return [ch_info["name"] for ch_info in self.bi]

    @property
    def properties(self) -> list:
        """Sorted unique property names over all channels (numpy strings, as mef_tools)."""
        properties = []
        for ch_info in self.bi:
            properties += list(ch_info.keys())
        return list(np.unique(properties))

    def get_property(self, property_name: str, channel: Optional[str] = None) -> Any:
        """A property of one channel, or a list over all channels (None: unknown channel)."""
        if isinstance(channel, type(None)):
            props = []
            for ch_info in self.bi:
                if ch_info[property_name].__len__() == 1:
                    props.append(ch_info[property_name][0])
                else:
                    props.append(ch_info[property_name])
            return props

        for ch_info in self.bi:
            if ch_info["name"] == channel:
                if ch_info[property_name].__len__() == 1:
                    return ch_info[property_name][0]
                return ch_info[property_name]
        return None

    def get_channel_info(self, channel: Optional[str] = None) -> Any:
        """The basic-info dict of one channel, or the list of all (None: unknown channel)."""
        if isinstance(channel, type(None)):
            return self.bi

        for ch_info in self.bi:
            if ch_info["name"] == channel:
                return ch_info
        return None

    def close(self) -> None:
        """Release the session (metadata stays available, as in mef_tools)."""
        if getattr(self, "reader", None) is not None:
            self.reader.close()
        self._open = False

    # --- samples ---------------------------------------------------------------------
    def _pick(self, channels):
        channels_to_pick = []

        if isinstance(channels, np.int64):
            if channels < self.channels.__len__():
                channels_to_pick = [self.channels[channels]]
            else:
                raise ValueError(
                    "Number of channels in MEF file: " + str(self.channels.__len__())
                    + ". However index " + str(channels) + " pasted"
                )

        if isinstance(channels, str):
            if channels in self.channels:
                channels_to_pick = [channels]
            else:
                raise ValueError("Channel name is not present in MEF file.")

        if isinstance(channels, (list, np.ndarray)):
            for channel in channels:
                if isinstance(channel, np.int64):
                    if not self.channels[channel] in channels_to_pick:
                        channels_to_pick.append(self.channels[channel])

                if isinstance(channel, str):
                    if (channel not in channels_to_pick) and channel in self.channels:
                        channels_to_pick.append(channel)
        return channels_to_pick

    def get_raw_data(self, channels: Channels, t_stamp1: Optional[int] = None,
                     t_stamp2: Optional[int] = None) -> List[np.ndarray]:
        """Stored counts (float64, NaN in gaps) of [t_stamp1, t_stamp2), one array per picked channel.

        ``channels``: a name, an ``np.int64`` index, or a list/array of those. Defaults:
        the earliest start and the earliest end among the picked channels. Returns a list.
        """
        channels_to_pick = self._pick(channels)
        t_stamp1, t_stamp2 = self._window(channels_to_pick, t_stamp1, t_stamp2)

        return [self._read_uutc(channel, t_stamp1, t_stamp2) for channel in channels_to_pick]

    def get_data(self, channels: Channels, t_stamp1: Optional[int] = None,
                 t_stamp2: Optional[int] = None) -> Union[np.ndarray, List[np.ndarray]]:
        """Samples in physical units (float64, NaN in gaps).

        A list of arrays when ``channels`` is a list, else one array. Each segment's
        samples are scaled by that segment's own conversion factor (mef_tools scales
        all by the channel-level ``ufact``, which meflib sets to 0 when they differ).
        """
        if not isinstance(t_stamp1, type(None)):
            t_stamp1 = int(t_stamp1)
        if not isinstance(t_stamp2, type(None)):
            t_stamp2 = int(t_stamp2)
        data = self.get_raw_data(channels, t_stamp1, t_stamp2)
        t1, _ = self._window(self._pick(channels), t_stamp1, t_stamp2)
        if isinstance(channels, list):
            for idx, ch_name in enumerate(channels):
                # arrays are ours and float64: scale in place (same values as x * ufact)
                arr = data[idx]
                arr *= self._factor(ch_name, t1, len(arr))
        else:
            data = data[0]
            data *= self._factor(channels, t1, len(data))
        return data

    def _factor(self, channel, t1, n):
        """The channel's ``ufact``, or per sample its segment's factor where they differ."""
        factor = self.get_channel_info(channel)["ufact"][0]
        if factor == 0.0 and n and self.reader.info(channel)["units_conversion_factor"] is None:
            return self._segment_factors(channel, t1, n)
        return factor

    def _window(self, picked, t_stamp1, t_stamp2):
        """mef_tools' default window of the picked channels: earliest start, earliest end."""
        if isinstance(t_stamp1, type(None)):
            t_stamp1 = min([self.get_property("start_time", channel) for channel in self.channels if channel in picked])
        if isinstance(t_stamp2, type(None)):
            t_stamp2 = min([self.get_property("end_time", channel) for channel in self.channels if channel in picked])
        return int(t_stamp1), int(t_stamp2)

    def _segment_factors(self, channel, t1, n):
        """Per sample of a read of `n` samples from `t1`: the factor of the segment it
        comes from (a channel whose segments carry different factors; 0 in gaps)."""
        table = self.reader.block_table(channel)
        fs = float(self.get_channel_info(channel)["fsamp"][0])
        pos = grid_positions(table["start_uutc"], t1, fs, "meflib")
        factors = np.zeros(n)
        for p, k, f in zip(pos.tolist(), table["number_of_samples"].tolist(), table["units_conversion_factor"].tolist()):
            if p < n and p + k > 0:
                factors[max(p, 0):min(p + k, n)] = f  # (later blocks win, as the read places them)
        return factors

    def _read_uutc(self, channel, t1, t2):
        """pymef ``read_ts_channels_uutc`` for one channel: same length, NaN and warnings."""
        if not self._open:
            raise TypeError("'NoneType' object is not subscriptable")
        ch_info = self.get_channel_info(channel)
        fs = float(ch_info["fsamp"][0])
        earliest = int(ch_info["start_time"][0])
        latest = int(ch_info["end_time"][0])
        if t1 >= t2:
            raise RuntimeError("Start time later than end time, exiting...")
        if (t1 < earliest and t2 < earliest) or (t1 > latest and t2 > latest):
            warnings.warn("Start and stop times are out of file. Returning None", RuntimeWarning, stacklevel=4)
            size = ((np.diff([t1, t2]) / 1e6)[0] * ch_info["fsamp"][0])
            data = np.empty(int(size))
            data[:] = np.nan
            return data
        if t2 > latest:
            warnings.warn("Stop uutc later than latest end time. Will insert NaNs", RuntimeWarning, stacklevel=4)
        if t1 < earliest:
            warnings.warn("Start uutc earlier than earliest start time. Will insert NaNs", RuntimeWarning, stacklevel=4)

        n = int(((t2 - t1) / 1000000.0) * fs + 0.5)  # meflib's sample count for the window
        raw = self.reader.read_raw(channel, t1, t2, warn=False)
        samples, valid = raw["samples"], raw["valid"]
        if len(samples) < n:  # the two roundings disagree at an exact half sample
            raw = self.reader.read_raw(channel, t1, t2 + int(np.ceil(2e6 / fs)) + 1, warn=False)
            samples, valid = raw["samples"], raw["valid"]
        samples, valid = samples[:n], valid[:n]
        out = samples.astype(np.float64)
        bad = valid == 0
        bad |= samples == RED_NAN  # meflib reads its NaN marker as NaN
        if bad.any():
            out[bad] = np.nan
        return out

    # --- records ---------------------------------------------------------------------
    def get_annotations(self, channel: Optional[str] = None) -> Optional[List[Dict[str, Any]]]:
        """Records of the session (``channel=None``) or of one channel, as pymef dicts.

        Like mef_tools: raises ``KeyError('records_info')`` when the level has no
        records, and returns None (printing a warning) once the reader is closed.
        """
        annot_list = None
        try:
            if not self._open:
                raise TypeError("'NoneType' object is not subscriptable")
            annot_list = _read_pymef_records(self.reader, channel)
        except TypeError:
            _say("WARNING: read of annotations record failed, no annotations returned", warn=True)
        return annot_list


# --- mef_tools' quantization and gap splitting, reproduced exactly ----------------------
def _int32_range_ok(x_min, x_max, alpha):
    """mef_tools ``check_int32_dynamic_range`` (False only when BOTH ends saturate)."""
    min_value = np.iinfo(np.int32).min
    if (x_min * alpha < min_value) & (x_max * alpha > np.iinfo(np.int32).max):
        return False
    return True


def _infer_precision(data):
    """mef_tools ``infer_conversion_factor``: decimals that bring mean |diff| to >= 1000."""
    mean_diff_abs = np.nanmean(np.abs(np.diff(data)))
    precision = 0
    while (mean_diff_abs < 1000) & (mean_diff_abs != 0):
        precision += 1
        mean_diff_abs *= 10

    data_max = np.nanmax(data)
    data_min = np.nanmin(data)
    alpha = 10 ** precision
    while (not _int32_range_ok(data_min, data_max, alpha)) & (precision != 0):
        precision -= 1
        _say(f" WARNING: dynamic range saturated, precision decreased to {precision}", warn=True, stacklevel=4)
        alpha = 10 ** precision
    return precision


def _usable_precision(precision):
    """mef_tools' precision check: anything but an int >= 0 becomes 0, with its message."""
    if (precision < 0) | (not (isinstance(precision, int))):
        _say(
            "WARNING: precision set to incorrect value, it is set to default (0) = conversion without "
            "scaling (scaling=1)",
            warn=True,
            stacklevel=6,  # _say <- here <- _to_int32* <- MefWriter._quantize <- write_data <- caller
        )
        precision = 0
    return precision


def _to_int32(data, precision):
    """mef_tools ``convert_data_to_int32``: NaN -> 0, ``np.round(x, p)``, then a truncating
    int32 cast of ``10**p * rounded`` (done in the input's own float type)."""
    precision = _usable_precision(precision)
    data = data.copy()
    data[np.isnan(data)] = 0
    deciround = np.round(data, decimals=precision)
    data_int32 = np.empty(shape=deciround.shape, dtype=np.int32)
    data_int32[:] = 10 ** precision * (deciround)
    return data_int32


def _to_int32_exact(data, precision):
    """``rint(x * 10**p)``: the nearest count (the native Writer's rule), NaN -> 0."""
    precision = _usable_precision(precision)
    x = np.array(data, dtype=np.float64)
    x[np.isnan(x)] = 0
    x = np.rint(x * 10.0 ** precision)
    data_int32 = np.empty(shape=x.shape, dtype=np.int32)
    data_int32[:] = x
    return data_int32


def _find_intervals(valid, fs, start_uutc, samples_of_nans_allowed=None):
    """mef_tools ``find_intervals_binary_vector`` without pandas.

    Runs of valid samples separated by fewer than `samples_of_nans_allowed` invalid ones
    are merged. Returns (start_samples, stop_samples, start_uutc, stop_uutc) int64 arrays.
    """
    if samples_of_nans_allowed is None:
        samples_of_nans_allowed = int(fs)
    vector = np.concatenate((np.array([0]), valid, np.array([0])))
    diff_vector = np.diff(vector)
    t0 = np.where(diff_vector == 1)[0]
    t1 = np.where(diff_vector == -1)[0]
    if len(t0) == 0:
        # what pandas raises inside mef_tools when there is no valid sample at all
        raise KeyError("None of [Index([0], dtype='int64')] are in the [index]")
    merge = np.array(t1[:-1] + samples_of_nans_allowed) > np.array(t0[1:])
    starts = t0[np.concatenate(([True], ~merge))].astype(np.int64)
    stops = t1[np.concatenate((~merge, [True]))].astype(np.int64)
    start_uutc = int(start_uutc)
    return (
        starts,
        stops,
        (starts / fs * 1e6 + start_uutc).astype(np.int64),
        (stops / fs * 1e6 + start_uutc).astype(np.int64),
    )


def _native_value(v):
    """numpy scalars -> Python scalars (record fields handed to the native Writer)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return [_native_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _native_value(x) for k, x in v.items()}
    return v


class MefWriter:
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
        self.section3_dict = {
            "recording_time_offset": np.nan,
            "DST_start_time": 0,
            "DST_end_time": 0,
            "GMT_offset": -6 * 3600,
            "subject_name_1": b"none",
            "subject_name_2": b"none",
            "subject_ID": b"None",
            "recording_location": b"P",
        }
        self.section2_ts_dict = {
            "channel_description": b"ts_channel",
            "session_description": b"ts_session",
            "recording_duration": np.nan,
            "reference_description": b"None",
            "acquisition_channel_number": 1,
            "sampling_frequency": np.nan,
            "notch_filter_frequency_setting": 0,
            "low_frequency_filter_setting": 1,
            "high_frequency_filter_setting": 10,
            "AC_line_frequency": 0,
            "units_conversion_factor": 1.0,
            "units_description": copy(self._data_units),
            "maximum_native_sample_value": 0.0,
            "minimum_native_sample_value": 0.0,
            "start_sample": 0,  # Different for segments
            "number_of_blocks": 0,
            "maximum_block_bytes": 0,
            "maximum_block_samples": 0,
            "maximum_difference_bytes": 0,
            "block_interval": 0,
            "number_of_discontinuities": 0,
            "maximum_contiguous_blocks": 0,
            "maximum_contiguous_block_bytes": 0,
            "maximum_contiguous_samples": 0,
            "number_of_samples": 0,
        }
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
                precision = _infer_precision(data_write)
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
            intervals = _find_intervals(~np.isnan(data_write), sampling_freq, start_uutc,
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
            return _to_int32(data, precision=precision)
        if self.quantization == "exact":
            return _to_int32_exact(data, precision)
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
        writer.set_metadata(self._segment_metadata(), channel=channel, update_existing=False)
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

    def _segment_metadata(self):
        """set_metadata fields from section2_ts_dict / section3_dict (mef_tools' values)."""
        out = {}
        for field in metadata_fields.FIELDS:  # (mef_tools' dict keys are the stored field names)
            source = self.section2_ts_dict if field.section == 2 else self.section3_dict
            if field.stored not in source:
                continue
            value = source[field.stored]
            try:
                if field.kind == "text":
                    raw = value if isinstance(value, (bytes, bytearray, np.bytes_)) else str(value).encode("utf-8")
                    # numpy (pymef) cuts a too-long value to the field; keep room for a NUL
                    value = bytes(raw)[: field.size - 1].split(b"\x00")[0].decode("utf-8", "ignore")
                elif field.kind == "float":
                    value = float(value)
                else:
                    value = int(value)
            except (TypeError, ValueError, OverflowError):
                pass  # the native Writer reports it
            out[field.name] = value
        return out

    # --- annotations -----------------------------------------------------------------
    def write_annotations(self, annotations: Any, channel: Optional[str] = None) -> None:
        """Add annotations (a pandas DataFrame with ``time``, ``type``, ``text`` and
        optionally ``duration`` columns) to the session or to a channel.

        The new records go first, then the ones already stored, as in mef_tools. The
        DataFrame's ``time``/``duration`` columns are cast to int64 in place.
        """
        # check int of time column
        if not np.issubdtype(annotations["time"].dtype, np.int64):
            annotations["time"] = annotations["time"].astype(np.int64)

        # check duration for int
        if "duration" in annotations.columns:
            if not np.issubdtype(annotations["duration"].dtype, np.int64):
                annotations["duration"] = annotations["duration"].astype(np.int64)

        start_time = int(annotations["time"].min())
        end_time = int(annotations["time"].max())
        record_list = annotations.to_dict("records")

        # read old annotations
        print(" Reading previously stored annotations...")
        previous_list = self._read_annotation_record(channel=channel)
        if previous_list is not None:
            if not previous_list:
                raise KeyError("time")  # pandas, on an empty frame of previous records
            times = [r["time"] for r in previous_list]
            read_start, read_end = min(times), max(times)
            if read_start < start_time:
                start_time = read_start
            if read_end > end_time:
                end_time = read_end

            record_list.extend(previous_list)

        self._write_annotation_record(start_time, end_time, record_list, channel=channel)
        print(f"Annotations written, total {len(record_list)}, channel: {channel}")
        return

    def _write_annotation_record(self, start_time, end_time, record_list, channel=None):
        """Replace the records of the level with `record_list` (through the native Writer)."""
        records = []
        for rec in record_list:
            if "type" not in rec or rec.get("type") is None:
                raise ValueError("Record does not contain 'type' field")
            fields = _RECORD_FIELDS.get(rec["type"], ())
            out = {"type": rec["type"]}
            if "time" in rec:
                out["time"] = int(rec["time"])
            for name, _kind in fields:
                if name in rec:
                    out[name] = _native_value(rec[name])
            if rec["type"] == "Seiz" and "channels" in rec:
                out["channels"] = _native_value(rec["channels"])
            records.append(out)
        block_len = self._writer_conf[0] if self._writer_conf else 0
        writer = self._writer or self._native_writer(block_len or 1)
        try:
            # mef_tools' order: this call's records first, then the stored ones
            writer.write_annotations(records, channel=channel, sort=False)
        finally:
            self._close_writer()
        self._md_loaded = True

    def _read_annotation_record(self, channel=None):
        """pymef ``read_records`` on the session as last loaded; None (and a message) on failure."""
        annot_list = None
        try:
            if not self._md_loaded:
                raise TypeError("'NoneType' object is not subscriptable")
            self._close_writer()
            reader = _open_reader(self._path, self._read_password())
            try:
                annot_list = _read_pymef_records(reader, channel)
            finally:
                reader.close()
        except TypeError:
            print("WARNING: read of annotations record failed, no annotations returned")
        except KeyError:
            print("WARNING: read of annotations record failed, no annotations returned")
        return annot_list

    # --- knobs -----------------------------------------------------------------------
    def get_mefblock_len(self, fs: float) -> int:
        """Samples per RED block: ``mef_block_len`` if set, else fs (fs >= 5 kHz) or 10*fs."""
        if self.mef_block_len is not None:
            return self.mef_block_len
        if fs >= 5000:
            return int(fs)
        else:
            if fs < 0:
                return int(fs * 100)
            else:
                return int(fs * 10)

    @property
    def max_nans_written(self) -> Union[int, str]:
        """NaN runs shorter than this many samples are stored as 0; longer ones split the
        data ('fs': one second's worth)."""
        return self._max_nans_written

    @max_nans_written.setter
    def max_nans_written(self, max_samples: int) -> None:
        if (max_samples < 0) | (not (isinstance(max_samples, int))):
            _say("incorrect value, please provide positive int", warn=True)
            return
        self._max_nans_written = max_samples

    @property
    def data_units(self) -> bytes:
        """Units label (bytes) stored with new channels."""
        return self._data_units

    @data_units.setter
    def data_units(self, units_str: str) -> None:
        if (len(units_str) < 0) | (not (isinstance(units_str, str))):
            _say("incorrect value, please provide str with less than 20 chars", warn=True)
            return
        self._data_units = str.encode(units_str, "utf-8")
        self.section2_ts_dict["units_description"] = copy(self._data_units)

    @property
    def record_offset(self) -> Any:
        """mef_tools' recording-time offset knob (see docs/legacy.md: kept, not stored)."""
        return self._record_offset

    @record_offset.setter
    def record_offset(self, new_offset: Any) -> None:
        self._record_offset = new_offset

    @property
    def mef_block_len(self) -> Optional[int]:
        """Samples per RED block (None: derived from the sampling frequency)."""
        return self._mef_block_len

    @mef_block_len.setter
    def mef_block_len(self, new_mefblock_len: Optional[int]) -> None:
        self._mef_block_len = new_mefblock_len
