"""``MefReader``: a session read with the API of ``mef_tools.io.MefReader`` (1.2.3),
over the native Reader: mef_tools' channel picking, default windows, window lengths,
NaN filling and warnings, scaling and records."""

import os
import warnings
from typing import Any, Dict, List, Optional, Union

import numpy as np

from ..format.layout import RED_NAN
from ..reader.grid import grid_positions
from ..source import is_url
from .common import Channels, PathLike, _open_reader, _say, _session_dir
from .info import _basic_info
from .records import _read_pymef_records


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
            self.close(wait=False)  # (never wait for threads in a finalizer: see Reader.close)
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
            return [_single(ch_info[property_name]) for ch_info in self.bi]
        ch_info = self.get_channel_info(channel)
        return None if ch_info is None else _single(ch_info[property_name])

    def get_channel_info(self, channel: Optional[str] = None) -> Any:
        """The basic-info dict of one channel, or the list of all (None: unknown channel)."""
        if isinstance(channel, type(None)):
            return self.bi

        for ch_info in self.bi:
            if ch_info["name"] == channel:
                return ch_info
        return None

    def close(self, wait: bool = True) -> None:
        """Release the session (metadata stays available, as in mef_tools)."""
        if getattr(self, "reader", None) is not None:
            self.reader.close(wait=wait)
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


def _single(value):
    """mef_tools' property value: the one element of a length-1 value, else the value."""
    return value[0] if value.__len__() == 1 else value
