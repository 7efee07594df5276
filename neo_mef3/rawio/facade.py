""":class:`MEF3RawIO`: neo's RawIO hooks, each a few lines over the modules that own the
work (``header``, ``records``, ``annotations``, ``chunks``, ``events``)."""

import os
import warnings
from typing import Any, Optional, Sequence, Union

import numpy as np

from neo.rawio.baserawio import BaseRawIO

from ..reader import Reader
from ..source import describe_location, is_url
from . import chunks, events
from .annotations import annotate
from .header import build_segments, group_streams, header_arrays, stream_labels
from .records import assign_records, load_records
from .skips import BadBlocks
from .tables import _ChannelTable, _StoredSamples


class MEF3RawIO(BaseRawIO):
    """neo.rawio reader of MEF 3.0 sessions (``.mefd`` directories).

    Parameters
    ----------
    dirname : str or path-like
        The ``.mefd`` session directory, a URL of one (``s3://``, ``https://``, any
        fsspec URL), or a packed ``.mefd.tar`` / ``.mefd.zip`` (see :class:`~neo_mef3.Reader`).
    password : str or None
        Level-1 or level-2 password of an encrypted session. Level 1 gives the signals;
        level 2 also gives the records (events/epochs) and the subject identity.
    keep_original_times : bool
        False (default): times in seconds relative to the session start (the earliest
        stored sample). True: seconds since the Unix epoch (UTC). The absolute start is
        in the ``rec_datetime`` annotation of the Block and Segments either way.
    n_threads : int
        Decoding threads for the Reader (0 = all cores).
    check_crc : bool
        Verify the CRC of every RED block decoded.
    stream_ids : list of str or None
        Expose only these streams (ids as in the full session). Segments then follow
        only their gaps, so a continuous stream stays in one segment however the other
        channels' gaps lie. Records are kept whole.
    storage_options : dict or None
        Options of the fsspec file system of a URL (credentials, endpoint); see
        docs/remote.md.
    fs : fsspec.AbstractFileSystem or None
        A ready file system; ``dirname`` is then a path on it.
    on_error : {"raise", "skip"}
        "raise" (default): a damaged part raises its MefError when used. "skip": the
        Reader leaves damaged channels, segments and blocks out (a MefWarning once per
        block names its file and stored-sample range); a damaged block's samples read
        as zeros (int32) and its span is an epoch of the event channel ``bad blocks``
        (see :mod:`neo_mef3.rawio.skips`; :meth:`find_bad_blocks` lists them all).
    cache : None, "auto" or path
        The Reader's metadata cache (see :class:`neo_mef3.Reader`).

    Notes
    -----
    Raw chunks are the stored int32 counts with ``gain`` = the MEF units conversion
    factor and offset 0. A channel whose MEF segments carry different factors is
    expressed on the finest one when the others are whole multiples of it (int32
    still), else as float64 in physical units with gain 1. See ``docs/neo.md``.
    """

    name = "MEF3RawIO"
    description = "MEF 3.0 (Multiscale Electrophysiology Format) session, read with neo_mef3"
    extensions = ["mefd", "timd", "segd", "tmet", "tidx", "tdat", "rdat", "ridx"]
    rawmode = "one-dir"

    #: take each channel's sections from its metadata where that fixes them (see
    #: ``tables._ChannelTable``); False reads every block table at parse_header (tests compare)
    _sections_from_metadata = True

    def __init__(
        self,
        dirname: Union[str, "os.PathLike[str]"] = "",
        password: Optional[str] = None,
        keep_original_times: bool = False,
        n_threads: int = 0,
        check_crc: bool = True,
        stream_ids: Optional[Sequence[Union[str, int]]] = None,
        storage_options: Optional[dict] = None,
        fs: Any = None,
        on_error: str = "raise",
        cache: Optional[Union[str, "os.PathLike[str]"]] = None,
        **kargs: Any,
    ) -> None:
        BaseRawIO.__init__(self, **kargs)
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.bad_blocks = BadBlocks()
        if isinstance(stream_ids, (str, int)):
            stream_ids = [stream_ids]
        self.stream_ids = None if stream_ids is None else [str(x) for x in stream_ids]
        self.dirname = os.fspath(dirname) if dirname is not None else ""
        self.password = password
        self.keep_original_times = bool(keep_original_times)
        self.n_threads = n_threads
        self.check_crc = check_crc
        self.storage_options = storage_options
        self.fs = fs
        self.cache = cache
        self._reader = None

    def _source_name(self):
        return describe_location(self.dirname) if is_url(self.dirname) else self.dirname

    @property
    def time_origin(self) -> int:
        """uUTC of time 0 on neo's axis: the session start, or 0 with ``keep_original_times``."""
        return self._time_origin

    # ------------------------------------------------------------------ header ----
    def _parse_header(self):
        if self._reader is not None:
            self._reader.close()
        reader = Reader(self.dirname, password=self.password or "", n_threads=self.n_threads, check_crc=self.check_crc,
                        storage_options=self.storage_options, fs=self.fs, on_error=self.on_error, cache=self.cache)
        self._reader = reader
        self._stored = _StoredSamples(reader)

        names = list(reader.channels)
        reader.preload(names)  # the directory scans on the Reader's threads
        infos = {name: reader.info(name) for name in names}
        layouts = reader.layouts(names)  # (one pass over all channels: sections from metadata)
        # (skip mode: the block tables, since the Reader may have dropped index entries the
        # metadata still counts)
        from_metadata = self._sections_from_metadata and self.on_error != "skip"
        tables = {name: _ChannelTable(reader, name, from_metadata, infos[name], layouts[name]) for name in names}
        empty = [n for n in names if not len(tables[n].sec_n)]  # channels without samples carry no signal
        if empty:
            names = [n for n in names if len(tables[n].sec_n)]
        if empty:
            warnings.warn(f"MEF3RawIO: channel(s) without samples are not exposed as signals: {empty}")
        self._tables = tables
        self._infos = infos

        # --- streams: same rate, dtype and section layout
        streams = group_streams(names, tables)
        # labels and ids are those of the whole session, also when only some streams are kept
        labels = stream_labels(streams, tables)
        ids = [str(k) for k in range(len(streams))]
        all_names = list(names)
        if self.stream_ids is not None:
            wanted = [str(x) for x in self.stream_ids]
            unknown = [x for x in wanted if x not in ids]
            if unknown:
                raise ValueError(f"no stream {unknown} in {self._source_name()} (stream ids: {ids})")
            keep = [k for k in range(len(streams)) if ids[k] in wanted]
            streams = [streams[k] for k in keep]
            labels = [labels[k] for k in keep]
            ids = [ids[k] for k in keep]
            names = [n for st in streams for n in st]
        self._streams = streams

        # --- session start and time origin
        starts = [tables[n].starts()[0] for n in all_names]  # the whole session's start
        self._session_start = min(starts) if starts else None

        # --- segments (bounds kept in us relative to the session start, for precision)
        self._cuts, self._pieces, self._seg_start, self._seg_stop = build_segments(tables, streams,
                                                                                   self._session_start)

        # --- records
        self._records, self.records_error = load_records(reader)
        if self._session_start is None:
            times = [r["time"] for r in self._records if r["time"] is not None]
            self._session_start = min(times) if times else 0
        if not self._seg_start:  # no samples at all: one segment holding the records
            self._seg_start, self._seg_stop = [0.0], [1.0]
            self._pieces = [[None] for _ in self._streams]
        self._time_origin = 0 if self.keep_original_times else self._session_start
        self._seg_records = assign_records(self._records, self._seg_start, self._seg_stop, self._session_start)

        # --- header arrays
        self._event_types = sorted({r["type"] for r in self._records})
        self.header = header_arrays(streams, labels, ids, tables, infos,
                                    events.event_channel_rows(self._event_types, self.on_error), len(self._seg_start))
        self._generate_minimal_annotations()
        annotate(self)

    # --------------------------------------------------------------- segments -----
    def _seconds(self, uutc):
        """Seconds on neo's time axis of absolute uUTC times (int or int array)."""
        return (uutc - self._time_origin) / 1e6

    def _seconds_rel(self, us):
        """Seconds on neo's time axis of a time in us after the session start."""
        return ((self._session_start - self._time_origin) + us) / 1e6

    def _segment_t_start(self, block_index, seg_index):
        return self._seconds_rel(self._seg_start[seg_index])

    def _segment_t_stop(self, block_index, seg_index):
        return self._seconds_rel(self._seg_stop[seg_index])

    # ---------------------------------------------------------------- signals -----
    def _get_signal_size(self, block_index, seg_index, stream_index):
        return chunks.signal_size(self, seg_index, stream_index)

    def _get_signal_t_start(self, block_index, seg_index, stream_index):
        t = chunks.signal_t_start(self, seg_index, stream_index)
        return self._segment_t_start(block_index, seg_index) if t is None else t

    def _get_analogsignal_chunk(self, block_index, seg_index, i_start, i_stop, stream_index, channel_indexes):
        return chunks.read_chunk(self, seg_index, i_start, i_stop, stream_index, channel_indexes)

    # ------------------------------------------------------------ spikes (none) ---
    def _spike_count(self, block_index, seg_index, spike_channel_index):
        return 0

    def _get_spike_timestamps(self, block_index, seg_index, spike_channel_index, t_start, t_stop):
        return None

    def _rescale_spike_timestamp(self, spike_timestamps, dtype):
        return None

    def _get_spike_raw_waveforms(self, block_index, seg_index, spike_channel_index, t_start, t_stop):
        return None

    # ---------------------------------------------------------- events/epochs -----
    def _event_count(self, block_index, seg_index, event_channel_index):
        return events.event_count(self, seg_index, event_channel_index)

    def find_bad_blocks(self) -> list:
        """Read every exposed signal (in chunks) so that every damaged block is known:
        returns ``bad_blocks.spans``, ``(start uUTC, stop uUTC, channel)`` (with
        ``on_error="skip"``; nothing to find otherwise)."""
        if self.on_error == "skip":
            chunks.find_bad_blocks(self)
        return list(self.bad_blocks.spans)

    def _get_event_timestamps(self, block_index, seg_index, event_channel_index, t_start, t_stop):
        return events.event_timestamps(self, seg_index, event_channel_index, t_start, t_stop)

    def _rescale_event_timestamp(self, event_timestamps, dtype, event_channel_index):
        ts = np.asarray(event_timestamps, dtype=np.int64)
        return ((ts - np.int64(self._time_origin)) / 1e6).astype(dtype)

    def _rescale_epoch_duration(self, raw_duration, dtype, event_channel_index):
        return (np.asarray(raw_duration, dtype=np.float64) / 1e6).astype(dtype)

    # --------------------------------------------------------------- lifecycle ----
    def close(self, wait: bool = True) -> None:
        """Close the Reader underneath (a new parse_header opens it again); ``wait`` as
        :meth:`neo_mef3.Reader.close`."""
        if self._reader is not None:
            self._reader.close(wait=wait)
            self._reader = None

    def __del__(self):
        try:
            self.close(wait=False)  # (never wait for threads in a finalizer: see Reader.close)
        except Exception:
            pass

