"""MNE-Python for MEF 3.0: ``read_raw_mef3`` (a lazy ``mne.io.BaseRaw``), ``to_mne`` and
``write_raw_mef3`` (any ``mne.io.Raw`` to MEF 3.0, in ``neo_mef3.mne_export``).

``read_raw_mef3`` follows MNE's reader conventions (as ``read_raw_edf`` does): the Raw
opens from metadata and block indices only, and samples are read through the native
Reader when MNE asks for them (``_read_segment_file``), so a 10 s window costs a 10 s
read and ``preload=True`` decodes on all cores. Where it differs from
``mne.io.read_raw_mef`` (pymef) on purpose:

- samples in gaps are zeros on the true time axis, each gap a ``BAD_ACQ_SKIP``
  annotation (one naming its channels when not all of them lack data), so every later
  sample and annotation keeps its time; ``mne.io.read_raw_mef`` joins the two sides;
- channels of several rates: one rate is read (``sfreq=``, or the rate of most
  channels, with a warning naming the channels left out); MNE's reader refuses them;
- conversion factors are applied per segment (a channel's segments may differ);
- a level-1 password reads the samples; records need level 2, so they are left out with
  a warning rather than failing the whole read.

Volts from the units description ("uV", "mV", "V", "nV"... as MNE's ``cal``); channels
whose units are no voltage are ``misc`` and keep their values. ``meas_date`` is the
start (UTC) of the channels read; records become annotations "Type: text" (the
description ``mne.io.read_raw_mef`` gives them), channel records with ``ch_names``.
"""

import datetime
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import mne
import numpy as np
from mne.io import BaseRaw
from mne.utils import verbose

from . import forksafe
from .errors import MefWarning
from .reader import Reader
from .timeline import GAP_DESCRIPTION, acquisition_order, choose_rate, gaps, grid_for, rate_groups, record_events
from .units import volts_per_unit

__all__ = ["RawMEF3", "read_raw_mef3", "to_mne", "write_raw_mef3"]

_GMT_NO_ENTRY = -86401
# windows of fewer samples (all channels) are read channel after channel; larger ones, a
# channel per thread (each channel's blocks are decoded on the Reader's threads as well)
_PARALLEL_SAMPLES = 1 << 16
# a channel is read in windows of at most this many samples (memory: one piece per thread)
_PIECE_SAMPLES = 1 << 17


class _Session:
    """The Reader behind a Raw. Copies of the Raw share it (its reads are thread-safe);
    pickling keeps the path but never the password, so an encrypted session is opened
    again by reading it with a password."""

    def __init__(self, reader, password=None):
        self.path = reader.path
        self._reader = reader
        self._password = password
        self._pool = None
        forksafe.register(self, _Session._after_fork)

    def reader(self):
        if self._reader is None:
            self._reader = Reader(self.path, password=self._password or "")
        return self._reader

    def pool(self):
        """Threads that read a channel each (kept: starting them per window costs)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="neo_mef3-mne")
        return self._pool

    def _after_fork(self):
        self._pool = None

    def __deepcopy__(self, memo):
        return self

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._reader = None
        self._password = None
        self._pool = None
        forksafe.register(self, _Session._after_fork)


def _warn(message):
    """A MefWarning attributed to the first caller outside neo_mef3 and MNE."""
    import sys

    depth, frame = 2, sys._getframe(1)
    while frame is not None and (frame.f_globals.get("__name__", "").split(".")[0] in ("neo_mef3", "mne")
                                 or frame.f_code.co_filename.startswith("<decorator-gen")):
        depth += 1
        frame = frame.f_back
    warnings.warn(message, MefWarning, stacklevel=depth)


def _datetime(uutc):
    return datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=int(uutc))


def _pick_names(reader, picks):
    available = reader.channels
    if picks is None:
        return acquisition_order(reader, available)
    if isinstance(picks, (str, int, np.integer)):
        picks = [picks]
    names = []
    for p in picks:
        if isinstance(p, (int, np.integer)):
            names.append(available[int(p)])
        elif p in available:
            names.append(p)
        else:
            raise ValueError(f"no channel {p!r} in {reader.path} (channels: {', '.join(available)})")
    if not names:
        raise ValueError("picks selects no channel")
    return names


def _channel_types(names, scales, ch_types):
    types = ["seeg" if s is not None else "misc" for s in scales]
    if isinstance(ch_types, str):
        return [ch_types] * len(names)
    if ch_types is not None:
        unknown = set(ch_types) - set(names)
        if unknown:
            raise ValueError(f"ch_types names channels that are not read: {', '.join(sorted(unknown))}")
        types = [ch_types.get(n, t) for n, t in zip(names, types)]
    return types


def _filter_settings(infos, fs):
    """(highpass, lowpass, line_freq) from the metadata: the highest high-pass and lowest
    low-pass any channel declares (MNE keeps one of each), None where none is declared."""
    lows = [i["low_frequency_filter_setting"] for i in infos if i["low_frequency_filter_setting"] > 0]
    highs = [i["high_frequency_filter_setting"] for i in infos if 0 < i["high_frequency_filter_setting"] <= fs / 2]
    lines = [i["AC_line_frequency"] for i in infos if i["AC_line_frequency"] > 0]
    highpass = max(lows) if lows else None
    lowpass = min(highs) if highs else None
    if highpass is not None and lowpass is not None and highpass >= lowpass:
        highpass = lowpass = None
    return highpass, lowpass, (lines[0] if lines else None)


def _fill_info(info, first, infos, fs, t0):
    highpass, lowpass, line = _filter_settings(infos, fs)
    with info._unlock():
        info["meas_date"] = _datetime(t0)
        if highpass is not None:
            info["highpass"] = float(highpass)
        if lowpass is not None:
            info["lowpass"] = float(lowpass)
        if line is not None:
            info["line_freq"] = float(line)
        if first["session_description"]:
            info["description"] = first["session_description"]
        gmt = first["GMT_offset"]
        if gmt is not None and gmt != _GMT_NO_ENTRY and abs(gmt) <= 86400:
            info["utc_offset"] = f"{'+' if gmt >= 0 else '-'}{abs(gmt) // 3600:02d}{abs(gmt) % 3600 // 60:02d}"
        subject = {k: first[m] for k, m in (("his_id", "subject_id"), ("first_name", "subject_name_1"),
                                            ("last_name", "subject_name_2")) if first.get(m)}
        if subject:
            info["subject_info"] = subject


class RawMEF3(BaseRaw):
    """A MEF 3.0 session (the channels of one rate) as an MNE Raw; see :func:`read_raw_mef3`."""

    @verbose
    def __init__(self, session, picks=None, sfreq=None, preload=False, ch_types=None, verbose=None):
        reader = session.reader()
        names = _pick_names(reader, picks)
        fs, names, left_out = choose_rate(rate_groups(reader, names), sfreq)
        if left_out and sfreq is None:
            listed = ", ".join(f"{n} ({r:g} Hz)" for n, r in left_out.items())
            _warn(f"{reader.path}: the channels have several rates; reading the {len(names)} at {fs:g} Hz, "
                  f"leaving out {listed} and their records (pass sfreq= to read another rate)")
        grid = grid_for(reader, names, fs)
        if grid.n == 0:
            raise ValueError(f"{reader.path}: channels {', '.join(names)} hold no samples")
        infos = [reader.info(n) for n in names]
        scales = [volts_per_unit(i["units_description"]) for i in infos]
        info = mne.create_info(names, fs, _channel_types(names, scales, ch_types))
        for ch, scale in zip(info["chs"], scales):
            ch["cal"] = 1.0 if scale is None else scale
        _fill_info(info, infos[0], infos, fs, grid.t0)
        extras = {"session": session, "ch_names": names, "grid": grid}
        super().__init__(
            info, preload=preload, last_samps=[grid.n - 1], filenames=[reader.path], raw_extras=[extras],
            orig_format="int", orig_units={n: i["units_description"] for n, i in zip(names, infos)},
            verbose=verbose,
        )
        self.set_annotations(_annotations(reader, names, grid, info["meas_date"]))

    def _read_segment_file(self, data, idx, fi, start, stop, cals, mult):
        """Read grid samples [start, stop) of the channels ``idx`` (physical units times cals)."""
        extras = self._raw_extras[fi]
        names = extras["ch_names"]
        chosen = np.arange(len(names))[idx]
        reader, grid = extras["session"].reader(), extras["grid"]
        rows = data if mult is None else np.empty((len(chosen), stop - start))
        scale = np.ones(len(chosen)) if mult is not None else cals[:, 0]

        def fill(j):
            _read_channel(reader, grid, names[chosen[j]], start, stop, scale[j], rows[j])

        if len(chosen) > 1 and (stop - start) * len(chosen) >= _PARALLEL_SAMPLES:
            list(extras["session"].pool().map(fill, range(len(chosen))))
        else:  # (a short window: handing it to threads would cost more than it saves)
            for j in range(len(chosen)):
                fill(j)
        if mult is not None:
            data[:] = mult @ rows


def _read_channel(reader, grid, name, start, stop, scale, out):
    """Grid samples [start, stop) of a channel into `out`: physical units times `scale`, 0 in
    gaps. Read in pieces, so that a whole-channel read (preload) needs only a piece more
    memory than its output."""
    for a in range(start, stop, _PIECE_SAMPLES):
        z = min(a + _PIECE_SAMPLES, stop)
        x = reader.read(name, grid.t0 + int(round(a * 1e6 / grid.fs)), grid.t0 + int(round(z * 1e6 / grid.fs)),
                        warn=False)
        if len(x) != z - a:  # (rates above 500 kHz: a window's length is rounded)
            x = np.concatenate((x, np.full(max(0, z - a - len(x)), np.nan)))[: z - a]
        piece = out[a - start:z - start]
        np.multiply(x, scale, out=piece)
        del x
        if np.isnan(piece).any():
            np.nan_to_num(piece, copy=False, nan=0.0)


def _annotations(reader, names, grid, meas_date):
    onsets, durations, descriptions, channels = [], [], [], []
    for gap in gaps(reader, names, grid):
        onsets.append(gap.start / grid.fs)
        durations.append((gap.stop - gap.start) / grid.fs)
        descriptions.append(GAP_DESCRIPTION)
        channels.append(() if len(gap.channels) == len(names) else gap.channels)
    events, locked = record_events(reader, names)
    if locked:
        _warn(f"records left out: {locked}")
    for e in events:
        onsets.append((e["time"] - grid.t0) / 1e6)
        durations.append(e["duration"] / 1e6)
        descriptions.append(e["description"])
        channels.append(() if e["channel"] is None else (e["channel"],))
    return mne.Annotations(onsets, durations, descriptions, orig_time=meas_date, ch_names=channels)


@verbose
def read_raw_mef3(path, password=None, picks=None, sfreq=None, preload=False, ch_types=None, verbose=None):
    """Read a MEF 3.0 session as an MNE Raw (lazily unless ``preload``).

    Parameters
    ----------
    path : path-like
        The ``.mefd`` session directory.
    password : str | None
        Level-1 (samples) or level-2 (samples and records) password of an encrypted session.
    picks : list of str | None
        Channels to read (default: all of the chosen rate).
    sfreq : float | None
        The rate whose channels are read; default: the rate most channels have.
    preload : bool | str
        As in MNE: True reads everything now (all cores), a str memory-maps.
    ch_types : str | dict | None
        Channel type for all channels, or a dict name -> type; default ``seeg`` (``misc``
        for channels whose units are no voltage).
    verbose : bool | str | int | None
        MNE's verbosity.

    Returns
    -------
    raw : RawMEF3
    """
    reader = Reader(path, password=password or "")
    return RawMEF3(_Session(reader, password), picks=picks, sfreq=sfreq, preload=preload, ch_types=ch_types,
                   verbose=verbose)


@verbose
def to_mne(reader, picks=None, sfreq=None, preload=False, ch_types=None, verbose=None):
    """An MNE Raw of an open :class:`neo_mef3.Reader` (the Raw reads through it, so keep it open)."""
    return RawMEF3(_Session(reader), picks=picks, sfreq=sfreq, preload=preload, ch_types=ch_types,
                   verbose=verbose)


def write_raw_mef3(raw, path, precision=None, password1="", password2="", overwrite=False, **kwargs):
    """Write an MNE Raw to a MEF 3.0 session; see :func:`neo_mef3.mne_export.write_raw_mef3`."""
    from .mne_export import write_raw_mef3 as write

    return write(raw, path, precision=precision, password1=password1, password2=password2,
                 overwrite=overwrite, **kwargs)
