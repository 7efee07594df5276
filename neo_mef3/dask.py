"""Lazy Dask and xarray arrays over MEF 3.0 sessions, for dask.distributed.

``pip install "neo_mef3[dask]"`` (dask[array], distributed, xarray); ``import neo_mef3``
never imports this module.

>>> from neo_mef3.dask import to_dask, to_xarray
>>> x = to_dask("session.mefd")                    # (channels, samples) float64, NaN in gaps
>>> x[:, :60_000].mean(axis=1).compute()
>>> da = to_xarray("session.mefd")                 # the same array with time coordinates

Every row equals ``Reader.read(channel, start, end)`` (``read_raw`` for ``dtype="int32"``)
over the array's window exactly: blocks are placed on the window's sampling grid by the
Reader's rule (``ceil((tb - start) * fs / 1e6 - 0.5)``, or ``Reader(rounding="meflib")``'s):
each task is one ``Reader.read_grid`` call on the window's grid, the path ``Reader.read``
takes, decoding straight into the chunk. By default,
chunks along time are cut between RED blocks (see :func:`signal_groups`), so a task
decodes whole blocks and no block twice.

Tasks carry a :class:`SessionSource`, the recipe to open the session: a worker opens it
once and keeps it in a small per-process cache (fork-safe). A password travels in memory
with the tasks, never in a key, a repr or a file; :class:`EnvPassword` (or any picklable
callable) lets each worker read it where it runs instead. See docs/scale.md.
"""

import inspect
import operator
import os
import pickle
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field

import dask.array as da
import numpy as np
from dask.base import tokenize

from neo_mef3 import Reader, forksafe
from neo_mef3.reader import ReaderSpec
from neo_mef3.reader.grid import grid_positions  # (the Reader's placement rule; re-exported)
from neo_mef3.errors import MefError, MixedRatesError, PasswordError
from neo_mef3.format.layout import TS_CHANNEL_EXT
from neo_mef3.session import segment_dirnames

__all__ = [
    "to_dask",
    "to_dask_groups",
    "to_xarray",
    "signal_groups",
    "SignalGroup",
    "SessionSource",
    "EnvPassword",
    "DEFAULT_CHUNK_SAMPLES",
    "clear_reader_cache",
]

#: the default chunk length aimed at, in samples per channel (rounded to whole blocks):
#: about 100 ms of single-core decoding (32 MiB of float64), against the 1-7 ms that
#: dask.distributed spends on a task on a 2-core machine (docs/scale.md)
DEFAULT_CHUNK_SAMPLES = 1 << 22
# how far past the aimed-at length a default chunk may grow to end between blocks
_DEFAULT_STRETCH = 2
# fields of Reader.info that identify the subject: left out of xarray attributes
_IDENTITY = ("subject_name_1", "subject_name_2", "subject_id", "recording_location")


# --- passwords -----------------------------------------------------------------------

class EnvPassword:
    """A password read from an environment variable where the session is opened.

    Pass ``password=EnvPassword("MEF_PASSWORD")``: the tasks then carry only the
    variable's name, and each process (the client, every worker) reads the value from
    its own environment when it opens the session.
    """

    def __init__(self, name):
        self.name = str(name)

    def __call__(self):
        value = os.environ.get(self.name)
        if value is None:
            raise PasswordError(f"the environment variable {self.name} holding the password is not set in this process")
        return value

    def __repr__(self):
        return f"EnvPassword({self.name!r})"

    def __eq__(self, other):
        return isinstance(other, EnvPassword) and other.name == self.name

    def __hash__(self):
        return hash(("EnvPassword", self.name))


# --- opening sessions: a recipe, and a per-process cache of opened Readers -------------

def _is_url(path):
    return isinstance(path, str) and "://" in path


def _open(path, password, storage_options, options):
    kwargs = dict(options, password=password)
    if storage_options is not None or _is_url(path):
        if "storage_options" not in inspect.signature(Reader).parameters:
            raise MefError(
                "this version of neo_mef3's Reader opens local sessions only (no storage_options, no URLs); "
                "remote sessions need a Reader that accepts storage_options",
                path,
            )
        if storage_options is not None:
            kwargs["storage_options"] = storage_options
    return Reader(path, **kwargs)


class SessionSource:
    """How to open a session again, in this process or a worker: what tasks carry.

    Either a path (with password, ``storage_options`` and Reader options) or the
    :class:`~neo_mef3.reader.ReaderSpec` of an open Reader (with one decoding thread).
    The password is kept in memory only: ``repr`` shows the path alone, and Dask keys
    are made without it. :meth:`reader` gives the process's cached Reader.
    """

    def __init__(self, path, password="", storage_options=None, check_crc=True, on_error="raise",
                 rounding="nearest", spec=None):
        # (absolute: workers need not share the client's working directory)
        self.path = path if _is_url(path) else os.path.abspath(os.fspath(path).rstrip("/\\") or os.fspath(path))
        self.state = None  # session_state() when the tasks were planned (part of the cache key)
        self.password = password if password is not None else ""
        self.storage_options = storage_options
        self.options = {"n_threads": 1, "check_crc": bool(check_crc), "on_error": on_error, "rounding": rounding}
        self.spec = spec

    @classmethod
    def from_reader(cls, reader):
        """The recipe of an open Reader (its ``spec``: location, password and options)."""
        s = reader.spec
        one_thread = ReaderSpec(s.location, s.password, 1, s.check_crc, s.on_error, s.rounding)
        return cls(reader.path, check_crc=s.check_crc, on_error=s.on_error, rounding=s.rounding, spec=one_thread)

    def open(self):
        """A new Reader (one decoding thread: Dask runs the tasks in parallel)."""
        if self.spec is not None:
            return self.spec.open()
        password = self.password() if callable(self.password) else self.password
        return _open(self.path, password, self.storage_options, self.options)

    def cache_key(self):
        """What identifies the opened session in the cache (holds the password: in memory only)."""
        if self.spec is not None:
            return ("spec", pickle.dumps(self.spec), self.state)  # (its location may be a dict)
        so = None if self.storage_options is None else tokenize(self.storage_options)
        return ("path", self.path, self.password, so, tuple(sorted(self.options.items())), self.state)

    def token(self):
        """What Dask keys are made of: neither the password nor the values of
        ``storage_options`` (credentials), only their names."""
        return tokenize(self.path, sorted(self.storage_options or ()), sorted(self.options.items()), self.state)

    @contextmanager
    def reader(self):
        """The Reader of this session kept by this process (opened on first use)."""
        with _CACHE.use(self) as reader:
            yield reader

    def __repr__(self):
        return f"SessionSource({self.path!r})"

    __str__ = __repr__


class _Entry:
    __slots__ = ("reader", "users", "evicted")

    def __init__(self, reader):
        self.reader = reader
        self.users = 0
        self.evicted = False


class _ReaderCache:
    """The few Readers a process keeps open, least recently used evicted (and closed
    once no task is using them). Fork-safe: a child starts with a fresh lock."""

    def __init__(self, size=8):
        self.size = size
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self.opened = 0  # Readers opened by this process (instrumentation: tests check reuse)
        forksafe.register(self, _ReaderCache._after_fork)

    def _after_fork(self):
        self._lock = threading.Lock()

    def _add(self, key, entry):
        self._entries[key] = entry
        while len(self._entries) > self.size:
            _, old = self._entries.popitem(last=False)
            old.evicted = True
            if old.users == 0:
                old.reader.close()

    @contextmanager
    def use(self, source):
        key = source.cache_key()
        with self._lock:  # (opening under the lock: threads wanting the same session open it once)
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(source.open())
                self.opened += 1
                self._add(key, entry)
            else:
                self._entries.move_to_end(key)
            entry.users += 1
        try:
            yield entry.reader
        finally:
            with self._lock:
                entry.users -= 1
                if entry.evicted and entry.users == 0:
                    entry.reader.close()

    def clear(self):
        with self._lock:
            entries, self._entries = list(self._entries.values()), OrderedDict()
            for entry in entries:
                entry.evicted = True
                if entry.users == 0:
                    entry.reader.close()


_CACHE = _ReaderCache()


def clear_reader_cache():
    """Close the Readers this process keeps for Dask tasks (they reopen when needed)."""
    _CACHE.clear()


def reader_cache_opened():
    """How many Readers this process has opened for Dask tasks (for tests and tuning)."""
    return _CACHE.opened


# --- the sampling grid and the chunks ------------------------------------------------

def _default_window(reader, channel, table):
    """``(start, end)`` of ``Reader.read(channel)`` without times (its default window)."""
    info = reader.info(channel)
    fs = info["sampling_frequency"]
    t0 = info["start_time"]
    if t0 is None:
        t0 = int(table["start_uutc"][0]) if len(table["start_uutc"]) else 0
    t1 = info["end_time"]
    if t1 is None:
        t1 = t0
    if len(table["start_uutc"]):  # blocks of an interrupted append may end after the metadata's end
        with np.errstate(over="ignore"):
            block_end = float((table["start_uutc"] + table["number_of_samples"] * 1e6 / fs).max())
        if block_end > t1 + 0.5e6 / fs:
            t1 = int(np.ceil(min(block_end, 2.0**63)))
    return int(t0), int(t1)


def _as_uutc(t):
    if t is None:
        return None
    if isinstance(t, np.datetime64):
        return int(t.astype("datetime64[us]").astype(np.int64))
    return int(round(t)) if isinstance(t, float) else int(t)


def _cuts(blocks, n, target, stretch=_DEFAULT_STRETCH):
    """Chunk boundaries on [0, n) between blocks, from each channel's ``(grid position,
    length)`` of blocks.

    Each chunk is at most ``target`` samples, cut at the latest place no block straddles
    (a gap or a block boundary of every channel). Where there is none, a chunk may grow
    up to ``stretch`` x target to reach one; failing that (channels whose blocks do not
    line up), it is cut where the fewest blocks straddle, and such a block is decoded
    once for each of its two chunks.
    """
    none = [np.zeros(0, np.int64)]
    starts = np.sort(np.concatenate([np.clip(p, 0, n) for p, _ in blocks] or none))
    stops = np.sort(np.concatenate([np.clip(p + k, 0, n) for p, k in blocks] or none))

    def straddling(c):  # blocks with start < c < end
        return np.searchsorted(starts, c, "left") - np.searchsorted(stops, c, "right")

    cand = np.unique(np.concatenate([starts, stops]))
    cand = cand[(cand > 0) & (cand < n)]
    cost = straddling(cand)
    clean = cand[cost == 0]
    cuts = [0]
    p = 0
    while p < n:
        hi = p + target
        if hi >= n:
            cuts.append(n)
            break
        if straddling(hi) == 0:
            c = hi
        else:
            j = np.searchsorted(clean, hi, "right")
            if j > 0 and clean[j - 1] > p:
                c = int(clean[j - 1])
            elif j < len(clean) and clean[j] <= p + stretch * target:
                c = int(clean[j])
            else:
                a, z = np.searchsorted(cand, p, "right"), np.searchsorted(cand, hi, "right")
                window, wcost = np.append(cand[a:z], hi), np.append(cost[a:z], straddling(hi))
                c = int(window[len(window) - 1 - int(np.argmin(wcost[::-1]))])
        cuts.append(c)
        p = c
    return np.array(cuts, np.int64)


class ChunkCell:
    """What one task reads: grid samples ``[s0, s1)`` of a channel, on the grid anchored
    at uUTC ``t0`` (see :meth:`Reader.read_grid <neo_mef3.Reader.read_grid>`)."""

    __slots__ = ("channel", "t0", "s0", "s1")

    def __init__(self, channel, t0, s0, s1):
        self.channel, self.t0, self.s0, self.s1 = channel, int(t0), int(s0), int(s1)

    def __repr__(self):
        return f"ChunkCell({self.channel!r}, t0={self.t0}, [{self.s0}, {self.s1}))"

    def __dask_tokenize__(self):
        return (self.channel, self.t0, self.s0, self.s1)


def read_chunk_f64(cell, source):
    """A task: float64 samples of one channel's chunk, NaN in gaps (shape (1, size));
    ``cell`` is the chunk's :class:`ChunkCell` as a (1, 1) object array. The blocks are
    decoded straight into the chunk (no int32 copy, no second pass to scale)."""
    c = cell[0, 0]
    with source.reader() as reader:
        return reader.read_grid(c.channel, c.t0, c.s0, c.s1)[None]


def read_chunk_int32(cell, source):
    """A task: (int32 counts, uint8 validity) of one channel's chunk, each (1, size)."""
    c = cell[0, 0]
    with source.reader() as reader:
        samples, valid = reader.read_grid(c.channel, c.t0, c.s0, c.s1, raw=True)
    return samples[None], valid[None]


# --- the arrays ----------------------------------------------------------------------

@dataclass
class SignalGroup:
    """Channels of one sampling rate on one grid, as lazy arrays.

    ``data`` is (channels, samples): float64 in physical units with NaN in gaps, or
    int32 counts (then ``valid``, uint8, 0 in gaps). Sample ``k`` is at
    ``start_uutc + k * 1e6 / sampling_frequency`` (uUTC); ``end_uutc`` is the window's
    exclusive end. ``infos`` holds ``Reader.info`` of each channel.
    """

    channels: tuple
    sampling_frequency: float
    start_uutc: int
    end_uutc: int
    data: object
    valid: object = None
    infos: dict = field(default_factory=dict, repr=False)
    session: str = ""

    @property
    def chunk_bounds(self):
        """Grid index of each time chunk's first sample, and the end."""
        return np.concatenate(([0], np.cumsum(self.data.chunks[1]))).astype(np.int64)


def _arrays(source, channels, tables, fs, t0, n, dtype, target, rounding):
    """The lazy arrays of channels of one rate on the grid [t0, t0 + n / fs); chunks
    between blocks of about ``target`` samples, or of exactly ``-target`` if negative."""
    positions = [grid_positions(tables[c]["start_uutc"], t0, fs, rounding) for c in channels]
    blocks = []
    for c, pos in zip(channels, positions):
        k = tables[c]["number_of_samples"].astype(np.int64)
        blocks.append((pos[k > 0], k[k > 0]))
    cuts = _cuts(blocks, n, target) if target > 0 else np.unique(np.append(np.arange(0, n, -target), n))
    if n == 0:
        cuts = np.zeros(2, np.int64)  # (one empty chunk per channel)
    chunks = ((1,) * len(channels), tuple(np.diff(cuts).tolist()))
    layout = [(tables[c]["start_uutc"], tables[c]["number_of_samples"], tables[c]["units_conversion_factor"])
              for c in channels]  # (in the keys: a session rewritten in place gets new keys)
    token = tokenize(source.token(), list(channels), t0, n, fs, dtype, cuts, layout)
    # The reads are a blockwise layer over an array of cells, so that Dask fuses each
    # read with the blockwise steps that follow it (map_blocks, the first step of a
    # reduction): one task per chunk, and no decoded chunk kept between two tasks.
    cells = np.empty((len(channels), len(cuts) - 1), dtype=object)
    for i, c in enumerate(channels):
        for j, (s0, s1) in enumerate(zip(cuts[:-1].tolist(), cuts[1:].tolist())):
            cells[i, j] = ChunkCell(c, t0, s0, s1)
    cells = da.from_array(cells, chunks=1, name=f"mef3-cells-{token}", asarray=False, inline_array=False,
                          meta=np.empty((0, 0), object))
    if dtype == "float64":
        data = cells.map_blocks(read_chunk_f64, source, chunks=chunks, dtype=np.float64,
                                meta=np.empty((0, 0), np.float64), name=f"mef3-float64-{token}")
        return data, None
    raw = cells.map_blocks(read_chunk_int32, source, chunks=chunks, dtype=object,
                           meta=np.empty((0, 0), object), name=f"mef3-raw-{token}")
    out = []
    for what, k, dt in (("int32", 0, np.int32), ("valid", 1, np.uint8)):
        out.append(raw.map_blocks(operator.getitem, k, dtype=dt, meta=np.empty((0, 0), dt),
                                  name=f"mef3-{what}-{token}"))
    return out[0], out[1]


def session_state(path):
    """A token of what writing to a local session changes (each channel directory, its
    segment count and the files of its last segment: sizes and times), or None for a
    URL. Cached Readers are keyed by it, so a session appended to or written anew is
    opened again instead of being read through a Reader that has not seen the change."""
    if _is_url(path):
        return None
    state = []
    try:
        with os.scandir(path) as it:
            channel_dirs = sorted(e.path for e in it if e.name.endswith(TS_CHANNEL_EXT))
        for d in channel_dirs:
            segments = segment_dirnames(d, os.path.basename(d)[: -len(TS_CHANNEL_EXT)])  # (by number)
            files = []
            if segments:
                with os.scandir(os.path.join(d, segments[-1][1])) as it:
                    files = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in it)
            st = os.stat(d)
            state.append((d, st.st_ino, st.st_mtime_ns, len(segments), files))
    except (OSError, MefError):
        return None  # (the Reader says what is wrong)
    return tokenize(state)


@contextmanager
def _planning_reader(session, password, storage_options):
    """The Reader to plan with and the SessionSource tasks carry."""
    if isinstance(session, Reader):
        if password is not None or storage_options is not None:
            raise TypeError("password and storage_options belong to the Reader already given")
        source = SessionSource.from_reader(session)
        source.state = session_state(source.path)
        yield session, source
        return
    source = SessionSource(session, password, storage_options)
    source.state = session_state(source.path)
    with source.reader() as reader:  # (kept open in this process: the threaded scheduler's tasks use it)
        yield reader, source


def signal_groups(session, channels=None, start=None, end=None, dtype="float64", chunk_seconds=None,
                  password=None, storage_options=None):
    """Lazy arrays of a session's channels, one :class:`SignalGroup` per sampling rate.

    ``session``: a path, a URL (``storage_options`` go to the Reader), or an open
    :class:`~neo_mef3.Reader`. ``start``/``end`` (uUTC) default to the earliest start
    and latest end of the group's channels. Chunks: by default about
    ``DEFAULT_CHUNK_SAMPLES`` long, cut between RED blocks (where every channel's blocks
    end; a gap is cut anywhere), so no block is decoded twice; channels whose blocks do
    not line up are cut where the fewest blocks straddle. ``chunk_seconds`` asks for
    chunks of exactly that length instead (the last one shorter), for computations by
    whole minutes, say; a cut inside a block decodes that block for both chunks, which
    a length that is a multiple of the block length avoids. ``password`` is a string or
    a picklable callable returning it where the session is opened (:class:`EnvPassword`).
    """
    if dtype not in ("float64", "int32"):
        raise ValueError(f"dtype must be 'float64' or 'int32', got {dtype!r}")
    if chunk_seconds is not None and not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds!r}")
    with _planning_reader(session, password, storage_options) as (reader, source):
        names = list(reader.channels) if channels is None else ([channels] if isinstance(channels, str) else
                                                                 list(channels))
        if not names:
            raise MefError("no channels to read", reader.path)
        if len(set(names)) != len(names):
            raise ValueError(f"channels are listed more than once: {names}")
        infos = {c: reader.info(c) for c in names}
        by_rate = {}
        for c in names:
            by_rate.setdefault(infos[c]["sampling_frequency"], []).append(c)
        groups = []
        for fs, members in by_rate.items():
            tables = {c: reader.block_table(c) for c in members}
            windows = [_default_window(reader, c, tables[c]) for c in members]
            t0 = min(w[0] for w in windows) if start is None else _as_uutc(start)
            t1 = max(w[1] for w in windows) if end is None else _as_uutc(end)
            if t1 < t0:
                raise ValueError(f"end ({t1}) is before start ({t0})")
            n = int(np.floor((t1 - t0) * fs / 1e6 + 0.5))  # (Reader.read's count)
            if chunk_seconds is None:
                lengths = np.concatenate([tables[c]["number_of_samples"] for c in members])
                block = int(np.median(lengths[lengths > 0])) if (lengths > 0).any() else 1
                target = max(1, round(DEFAULT_CHUNK_SAMPLES / block)) * block
            else:
                target = -max(1, int(round(chunk_seconds * fs)))  # (negative: exactly this size)
            data, valid = _arrays(source, members, tables, fs, t0, n, dtype, target, reader.rounding)
            groups.append(SignalGroup(tuple(members), fs, t0, t1, data, valid, {c: infos[c] for c in members},
                                      str(reader.path)))
    return sorted(groups, key=lambda g: g.sampling_frequency)


def _one_group(groups):
    if len(groups) > 1:
        listing = "; ".join(f"{g.sampling_frequency:g} Hz: {', '.join(g.channels)}" for g in groups)
        raise MixedRatesError(
            f"the channels have {len(groups)} sampling rates ({listing}); one array holds one rate: "
            "choose channels of one rate or use neo_mef3.dask.to_dask_groups"
        )
    return groups[0]


def to_dask(session, channels=None, start=None, end=None, dtype="float64", chunk_seconds=None, password=None,
            storage_options=None):
    """A lazy ``dask.array.Array`` (channels, samples) of channels of one sampling rate.

    float64 in physical units with NaN in gaps; ``dtype="int32"``: ``(counts, valid)``,
    two lazy arrays sharing their tasks. Rows follow ``channels`` (default: all, sorted).
    Channels of several rates raise :class:`~neo_mef3.errors.MixedRatesError` naming the
    groups (see :func:`to_dask_groups`). Arguments as :func:`signal_groups`.
    """
    g = _one_group(signal_groups(session, channels, start, end, dtype, chunk_seconds, password, storage_options))
    return g.data if dtype == "float64" else (g.data, g.valid)


def to_dask_groups(session, channels=None, start=None, end=None, dtype="float64", chunk_seconds=None,
                   password=None, storage_options=None):
    """One :class:`SignalGroup` per sampling rate, as ``{rate: group}`` (rising rates);
    ``group.data`` is that rate's array and ``group.channels`` its rows."""
    groups = signal_groups(session, channels, start, end, dtype, chunk_seconds, password, storage_options)
    return {g.sampling_frequency: g for g in groups}


def to_xarray(session, channels=None, start=None, end=None, dtype="float64", chunk_seconds=None, password=None,
              storage_options=None, include_identity=False):
    """An ``xarray.DataArray`` (channel, time) backed by the :func:`to_dask` array.

    Coordinates: ``channel`` (names), ``time`` (datetime64[ns], UTC), ``uutc`` (int64
    microseconds, rounded) and, per channel, the units and conversion factor; with
    ``dtype="int32"`` also ``valid`` (lazy, 0 in gaps). Attributes: the sampling rate,
    the window, and the ``Reader.info`` fields (those equal for every channel as
    attributes, the others in ``attrs["channel_info"]``). Subject identity (names, ID,
    location) is left out unless ``include_identity=True``. The time coordinates take
    16 bytes per sample in memory.
    """
    import xarray as xr

    g = _one_group(signal_groups(session, channels, start, end, dtype, chunk_seconds, password, storage_options))
    n = g.data.shape[1]
    k = np.arange(n, dtype=np.float64)
    time_ns = np.int64(g.start_uutc) * 1000 + np.rint(k * (1e9 / g.sampling_frequency)).astype(np.int64)
    uutc = np.int64(g.start_uutc) + np.rint(k * (1e6 / g.sampling_frequency)).astype(np.int64)
    infos = {c: {key: v for key, v in g.infos[c].items() if include_identity or key not in _IDENTITY}
             for c in g.channels}
    common = {key: v for key, v in infos[g.channels[0]].items()
              if key != "name" and all(infos[c].get(key) == v for c in g.channels)}
    factors = [infos[c]["units_conversion_factor"] for c in g.channels]
    units = [infos[c]["units_description"] for c in g.channels]
    coords = {
        "channel": list(g.channels),
        "time": time_ns.view("datetime64[ns]"),
        "uutc": ("time", uutc),
        "units": ("channel", units),
        "units_conversion_factor": ("channel", [np.nan if f is None else f for f in factors]),
    }
    if g.valid is not None:
        coords["valid"] = (("channel", "time"), g.valid)
    attrs = {key: v for key, v in common.items() if v is not None}
    attrs.update(
        sampling_frequency=g.sampling_frequency, start_uutc=g.start_uutc, end_uutc=g.end_uutc, timezone="UTC",
        session=g.session, units=units[0] if len(set(units)) == 1 else "",
        channel_info={c: {key: v for key, v in infos[c].items() if key not in common} for c in g.channels},
        values="float64 in physical units, NaN in gaps" if dtype == "float64" else "int32 stored counts",
    )
    return xr.DataArray(g.data, dims=("channel", "time"), coords=coords, attrs=attrs, name=g.session
                        and os.path.basename(g.session.rstrip("/")))
