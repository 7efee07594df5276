"""neo.rawio for MEF 3.0 sessions: :class:`MEF3RawIO`, built on :class:`neo_mef3.Reader`.

How a MEF session maps onto neo (details and consequences in ``docs/neo.md``):

* **Continuous sections.** A channel's RED blocks, in time order, are cut into sections
  where a new MEF segment begins or a block starts half a sample period or more away
  from where the previous block's samples end (the discontinuity flag alone does not
  cut: the reference writers set it on every append). Inside a section sample ``i`` is
  at ``t_section + i / fs``.
* **Streams.** Channels with the same sampling rate, the same raw dtype and the same
  sections (same sample counts, starts within half a sample period) form one stream.
  A channel whose gaps differ from the others' is in a stream of its own.
* **Segments** are shared by all streams (neo's rule). A new neo segment starts at the
  start time of a section whenever that section's stream already has samples in the
  current segment. So in every segment each stream holds (part of) exactly one section
  (no gap, no invented sample), every stored sample is in exactly one segment at its
  true time, and a stream with nothing in a segment has a 0-sample signal there.
* **Records** become events/epochs on one event channel per record type (session-,
  channel- and segment-level records together; array annotations say where each came
  from). Each record goes to the last segment starting at or before its time (a record
  in a gap goes to the segment before the gap, one before the first sample to segment 0)
  and the segment's t_start/t_stop is widened to include it.
"""

import bisect
import math
import os
import warnings
from datetime import datetime, timezone
from typing import Any, Optional, Sequence, Union

import numpy as np

from neo.rawio.baserawio import (
    BaseRawIO,
    _event_channel_dtype,
    _signal_buffer_dtype,
    _signal_channel_dtype,
    _signal_stream_dtype,
    _spike_channel_dtype,
)

from .errors import FormatError, MefError, MefWarning, PasswordError, RangeError
from .format import fields as metadata_fields
from .reader import Reader
from .reader.grid import check_fits
from .source import describe_location, is_url
from .rawio_skips import BAD_BLOCKS, BadBlocks

__all__ = ["MEF3RawIO", "EPOCH_RECORD_TYPES"]

#: record types that become neo Epochs (they carry a duration); all others become Events
EPOCH_RECORD_TYPES = ("EDFA", "Seiz", "Epoc")

_INT32_MAX = 2**31 - 1

#: MEF ``units_description`` spellings -> a unit string quantities understands
_UNIT_ALIASES = {
    "uv": "uV",
    "µv": "uV",
    "μv": "uV",
    "microvolt": "uV",
    "microvolts": "uV",
    "micro volts": "uV",
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "v": "V",
    "volt": "V",
    "volts": "V",
    "nv": "nV",
    "nanovolt": "nV",
    "nanovolts": "nV",
}


def normalize_units(units_description):
    """A unit string neo/quantities understand for a MEF ``units_description``.

    Voltage spellings (``µV``, ``microvolts``, ...) become ``uV``/``mV``/``V``; anything
    quantities cannot parse becomes ``""`` (dimensionless; the original text stays in the
    ``units_description`` array annotation).
    """
    u = (units_description or "").strip()
    alias = _UNIT_ALIASES.get(u.lower())
    if alias == "nV":
        return "nV" if _parses("nV") else ""
    if alias is not None:
        return alias
    if not u:
        return ""
    return u if _parses(u) else ""


def _parses(u):
    try:
        import quantities as pq

        pq.Quantity(1.0, u)
        return True
    except Exception:
        return False


class _ChannelTable:
    """One channel's blocks (time order), continuous sections and scaling.

    With ``from_metadata`` (MEF3RawIO's default) a channel whose metadata alone fixes its
    sections (``Reader.continuous_sections(name, from_metadata=True)``) and that has one
    units conversion factor gets its sections and scaling without its block table: the block arrays
    (``time``, ``n``, ``seg``, ``cum``, ...) are then read on first use, at the first
    chunk read (:meth:`verify`), and checked against what the metadata said.
    """

    _BLOCK_FIELDS = ("time", "n", "seg", "disc", "bmax", "bmin", "cum")

    def __init__(self, reader, name, from_metadata=True, info=None, layout=None):
        self.name = name
        self._reader = reader
        if layout is None:
            layout = reader.layouts([name])[name]
        # MEF segment numbers and factors, sections from the metadata (or None)
        self._segment_numbers, factors, layout = layout
        self.fs = float((info or reader.info(name))["sampling_frequency"])
        # MEF factor per MEF segment (0 = "no entry": the Reader then returns raw counts)
        used = [(f if (f != 0.0 and math.isfinite(f)) else 1.0) for f in factors]
        self.seg_factors = np.array(used, np.float64)
        self.mef_factors = factors
        self._verified = True
        if from_metadata and layout is not None and used.count(used[0]) == len(used):
            # every segment holds samples (checked), all with one factor: _scaling's result
            self.sec_start, self.sec_n, self.sec_first = layout
            self.multipliers = np.ones(len(used), np.int64)
            self.dtype = "int32"
            self.gain = float(used[0])
            self._verified = False
            return
        self._load_blocks()
        self._sections()
        self._scaling()

    def _load_blocks(self):
        b = self._reader.block_table(self.name)
        d = self.__dict__
        d["time"] = np.asarray(b["start_uutc"], np.int64)
        d["n"] = n = np.asarray(b["number_of_samples"], np.int64)
        # index of each block's MEF segment in `segments`
        d["seg"] = np.searchsorted(self._segment_numbers, b["segment"]).astype(np.int64)
        d["disc"] = np.asarray(b["discontinuity"], bool)
        d["bmax"] = np.asarray(b["maximum_sample_value"], np.int64)
        d["bmin"] = np.asarray(b["minimum_sample_value"], np.int64)
        d["cum"] = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)

    def __getattr__(self, key):  # the block arrays of a table built from metadata, on first use
        if key in _ChannelTable._BLOCK_FIELDS and "_reader" in self.__dict__:
            self.verify()
            return self.__dict__[key]
        raise AttributeError(key)

    def verify(self):
        """Read the block table of a table built from metadata; FormatError (naming the
        segment's ``.tidx``) when its sections are not what the metadata said."""
        if self._verified:
            return
        self._load_blocks()
        starts, counts, firsts = self._reader.continuous_sections(self.name)
        same = (
            len(counts) == len(self.sec_n)
            and bool(np.all(counts == self.sec_n))
            and bool(np.all(firsts == self.sec_first))
            and bool(np.all(np.abs(starts - self.sec_start) < 0.5 * 1e6 / self.fs))
        )
        if not same:
            k = 0
            m = min(len(counts), len(self.sec_n))
            bad = np.flatnonzero((counts[:m] != self.sec_n[:m]) | (starts[:m] != self.sec_start[:m]))
            k = int(bad[0]) if len(bad) else m - 1 if m else 0
            tidx = self._reader.segment_files(self.name)[min(k, len(self._segment_numbers) - 1)].tidx
            raise FormatError(
                f"the block index of channel {self.name!r} disagrees with its metadata (start time, end time "
                "or sample count of a segment): the segment is not one continuous run of samples as its "
                "metadata states",
                tidx,
            )
        self._verified = True

    def _sections(self):
        """Sections: runs of blocks of one MEF segment that are continuous in time.

        A block starts a new section when it belongs to another MEF segment than the
        previous block, or starts half a sample period or more away from where the
        previous samples end. The discontinuity flag alone does not: meflib and mef3io
        set it on the first block of every append, contiguous or not.
        """
        starts, counts, first_sample = self._reader.continuous_sections(self.name)
        self.sec_start = starts  # uUTC of each section's first sample
        self.sec_n = counts  # samples per section
        self.sec_first = first_sample  # stored-sample index of its first sample

    def _scaling(self):
        """Raw dtype, gain and per-MEF-segment multipliers for the neo raw values."""
        f = self.seg_factors
        used = np.unique(self.seg[self.n > 0]) if len(self.n) else np.arange(len(f))
        fu = f[used] if len(used) else f[:1]
        self.multipliers = np.ones(len(f), np.int64)
        if len(np.unique(fu)) <= 1:
            self.dtype = "int32"
            self.gain = float(fu[0]) if len(fu) else 1.0
            return
        # several factors: int32 on the finest one if every other is a whole multiple of it
        g = fu[np.argmin(np.abs(fu))]
        ratio = f / g
        whole = np.all(np.abs(ratio[used] - np.rint(ratio[used])) <= 1e-9 * np.abs(ratio[used]))
        if whole and g != 0:
            mult = np.rint(ratio).astype(np.int64)
            bound = np.maximum(np.abs(self.bmax), np.abs(self.bmin))
            fits = True
            if len(bound):
                fits = bool(np.all(bound * np.abs(mult[self.seg]) <= _INT32_MAX))
            if fits:
                self.dtype = "int32"
                self.gain = float(g)
                self.multipliers = mult
                return
        self.dtype = "float64"
        self.gain = 1.0

    def layout(self):
        """What a stream shares exactly: rate, raw dtype and the sample count of every
        section (hashable; the section starts are compared within a tolerance)."""
        key = self.__dict__.get("layout_key")
        if key is None:
            key = self.__dict__["layout_key"] = (self.fs, self.dtype, tuple(self.sec_n.tolist()))
        return key

    def starts(self):
        """The sections' start times as a list of ints."""
        starts = self.__dict__.get("start_list")
        if starts is None:
            starts = self.__dict__["start_list"] = self.sec_start.tolist()
        return starts


def _starts_match(a, b, tol_us):
    """Whether two channels of one layout (``_ChannelTable.layout``) start their sections
    within `tol_us` of each other (``a``, ``b``: the starts, as lists)."""
    if len(a) == 1:
        return abs(a[0] - b[0]) < tol_us
    if a == b:  # (the usual: channels recorded together)
        return tol_us > 0 or not a
    return all(abs(x - y) < tol_us for x, y in zip(a, b))


class _StoredSamples:
    """A channel's stored samples [s0, s1) (time order, gaps removed) via Reader.read_samples."""

    def __init__(self, reader):
        self.reader = reader

    @property
    def blocks_decoded(self):  # instrumentation: tests check that chunk reads stay local
        return self.reader.blocks_decoded

    def read(self, table, s0, s1, out=None):
        return self.reader.read_samples(table.name, s0, s1, out=out)


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
        (see :mod:`neo_mef3.rawio_skips`; :meth:`find_bad_blocks` lists them all).
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
    #: ``_ChannelTable``); False reads every block table at parse_header (tests compare)
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
        streams = []  # list of lists of channel names
        candidates = {}  # layout -> (section starts of its first channel, stream) of each stream of that layout
        for name in names:
            t = tables[name]
            same = candidates.setdefault(t.layout(), [])
            starts = t.starts()
            for first, st in same:
                if _starts_match(first, starts, 0.5 * 1e6 / t.fs):
                    st.append(name)
                    break
            else:
                streams.append([name])
                same.append((starts, streams[-1]))
        # labels and ids are those of the whole session, also when only some streams are kept
        fs_count, fs_seen, labels = {}, {}, []
        for st in streams:
            fs_count[tables[st[0]].fs] = fs_count.get(tables[st[0]].fs, 0) + 1
        for st in streams:
            fs = tables[st[0]].fs
            label = f"{fs:g} Hz"
            if fs_count[fs] > 1:
                fs_seen[fs] = fs_seen.get(fs, 0) + 1
                label += f" ({fs_seen[fs]})"
            labels.append(label)
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
        self._build_segments()

        # --- records
        self._load_records()
        if self._session_start is None:
            times = [r["time"] for r in self._records if r["time"] is not None]
            self._session_start = min(times) if times else 0
        if not self._seg_start:  # no samples at all: one segment holding the records
            self._seg_start, self._seg_stop = [0.0], [1.0]
            self._pieces = [[None] for _ in self._streams]
        self._time_origin = 0 if self.keep_original_times else self._session_start
        self._assign_records()

        # --- header arrays
        signal_streams, signal_channels = [], []
        for si, st in enumerate(streams):
            fs = tables[st[0]].fs
            stream_id = ids[si]
            signal_streams.append((labels[si], stream_id, ""))
            for name in st:
                t, info = tables[name], infos[name]
                units = normalize_units(info["units_description"])
                signal_channels.append((name, name, fs, t.dtype, units, t.gain, 0.0, stream_id, ""))
        self._event_types = sorted({r["type"] for r in self._records})
        event_channels = [
            (rt, rt, "epoch" if _is_epoch(rt) else "event") for rt in self._event_types
        ]
        if self.on_error == "skip":  # (after the record types: their channel indices stay)
            event_channels.append((BAD_BLOCKS, BAD_BLOCKS, "epoch"))

        self.header = {
            "nb_block": 1,
            "nb_segment": [len(self._seg_start)],
            "signal_buffers": np.array([], dtype=_signal_buffer_dtype),
            "signal_streams": np.array(signal_streams, dtype=_signal_stream_dtype),
            "signal_channels": np.array(signal_channels, dtype=_signal_channel_dtype),
            "spike_channels": np.array([], dtype=_spike_channel_dtype),
            "event_channels": np.array(event_channels, dtype=_event_channel_dtype),
        }
        self._generate_minimal_annotations()
        self._annotate()

    def _build_segments(self):
        """Segment cuts shared by all streams, and each stream's piece in each segment."""
        tables, streams = self._tables, self._streams
        sections = []  # (start, stream, j)
        for si, st in enumerate(streams):
            t = tables[st[0]]
            for j in range(len(t.sec_n)):
                sections.append((int(t.sec_start[j]), si, j))
        sections.sort()
        cuts = []
        last_sample = [None] * len(streams)
        seg_of = [dict() for _ in streams]
        for ts, si, j in sections:
            t = tables[streams[si][0]]
            if not cuts:
                cuts.append(ts)
            elif last_sample[si] is not None and last_sample[si] >= cuts[-1]:
                cuts.append(ts)
            seg_of[si][j] = len(cuts) - 1
            end = ts + (int(t.sec_n[j]) - 1) * 1e6 / t.fs
            last_sample[si] = end if last_sample[si] is None else max(last_sample[si], end)
        nseg = len(cuts)
        # pieces[si][g] = (section j, a, b): samples [a, b) of section j, or None
        pieces = [[None] * nseg for _ in streams]
        for si, st in enumerate(streams):
            t = tables[st[0]]
            nsec = len(t.sec_n)
            for j in range(nsec):
                g0 = seg_of[si][j]
                g_last = seg_of[si][j + 1] - 1 if j + 1 < nsec else nseg - 1
                n = int(t.sec_n[j])
                ts = int(t.sec_start[j])
                a = 0
                for g in range(g0, g_last + 1):
                    if g == g_last:
                        b = n
                    else:
                        b = int(math.ceil((cuts[g + 1] - ts) * t.fs / 1e6 - 1e-9))
                        b = min(max(b, a), n)
                    if b > a:
                        pieces[si][g] = (j, a, b)
                    a = b
                    if a >= n:
                        break
        ref = self._session_start
        seg_start, seg_stop = [], []
        for g in range(nseg):
            lo, hi = None, None
            for si, st in enumerate(streams):
                p = pieces[si][g]
                if p is None:
                    continue
                t = tables[st[0]]
                j, a, b = p
                s = (int(t.sec_start[j]) - ref) + a * 1e6 / t.fs
                e = (int(t.sec_start[j]) - ref) + b * 1e6 / t.fs
                lo = s if lo is None else min(lo, s)
                hi = e if hi is None else max(hi, e)
            cut = float(cuts[g] - ref)
            seg_start.append(cut if lo is None else min(cut, lo))
            seg_stop.append(hi if hi is not None else cut + 1.0)
        self._cuts = cuts
        self._pieces = pieces
        self._seg_start = seg_start  # us after the session start (float)
        self._seg_stop = seg_stop

    # ---------------------------------------------------------------- records -----
    def _load_records(self):
        reader = self._reader
        recs = []
        self.records_error = None
        sources = [None] + list(reader.channels)
        for ch in sources:
            try:
                got = reader.records(ch)
            except PasswordError as exc:
                self.records_error = str(exc)
                warnings.warn(f"MEF3RawIO: records are not readable with this password ({exc}); no events/epochs")
                recs = []
                break
            except MefError as exc:
                where = "session" if ch is None else f"channel {ch!r}"
                warnings.warn(f"MEF3RawIO: the {where} records cannot be read ({exc}); they are skipped")
                continue
            recs.extend(got)
        self._records = recs + self._video_clips()

    def _video_clips(self):
        """Each clip of each video channel as a record of type ``video <channel>`` (an
        epoch: its span; label: clip number and frames). A video channel that cannot be
        read is left out with a warning: the signals never depend on it."""
        out = []
        for name in self._reader.video_channels:
            try:
                channel = self._reader.video(name)
            except MefError as exc:
                warnings.warn(f"MEF3RawIO: video channel {name!r} cannot be read ({exc}); its clips are left out",
                              MefWarning)
                continue
            for seg in channel["segments"]:
                c = seg["clips"]
                for k in range(len(c["start_time"])):
                    out.append({"type": f"{VIDEO_EPOCHS}{name}", "time": int(c["start_time"][k]),
                                "duration": max(int(c["end_time"][k] - c["start_time"][k]), 0),
                                "text": f"segment {seg['segment']} clip {k}: frames {int(c['start_frame'][k])}-"
                                        f"{int(c['end_frame'][k])}",
                                "channel": name, "level": "video"})
        return out

    def _assign_records(self):
        """Each record to the last segment starting at or before it; widen the segment."""
        starts = self._seg_start
        ref = self._session_start
        per_seg = [dict() for _ in starts]
        for r in self._records:
            t = r["time"] if r["time"] is not None else ref
            r["_t"] = int(t)
            g = max(0, bisect.bisect_right(starts, float(int(t) - ref)) - 1)
            per_seg[g].setdefault(r["type"], []).append(r)
        for g, d in enumerate(per_seg):
            for rt, lst in d.items():
                lst.sort(key=lambda r: r["_t"])
                self._seg_start[g] = min(self._seg_start[g], float(lst[0]["_t"] - ref))
                self._seg_stop[g] = max(self._seg_stop[g], float(lst[-1]["_t"] - ref))
        self._seg_records = per_seg

    # ------------------------------------------------------------ annotations -----
    def _annotate(self):
        reader, infos, tables = self._reader, self._infos, self._tables
        names = [n for st in self._streams for n in st]
        first = infos[reader.channels[0]] if reader.channels else {}
        bl = self.raw_annotations["blocks"][0]
        start_dt = self._utc(self._session_start)
        bl["name"] = first.get("session_name") or os.path.basename(self._source_name().rstrip("/\\"))
        bl["rec_datetime"] = start_dt
        bl["mef_session_start_uutc"] = int(self._session_start)
        ends = [infos[n]["end_time"] for n in names if infos[n]["end_time"] is not None]
        if ends:
            bl["mef_session_end_uutc"] = int(max(ends))
        if first:
            bl["session_description"] = first.get("session_description", "")
            bl["anonymized_name"] = first.get("anonymized_name", "")
            if first.get("section3_available"):
                for field in metadata_fields.SECTION_3:
                    if first.get(field.name) is not None:
                        bl[field.name] = first[field.name]
        bl["mef_channels"] = list(reader.channels)
        bl["keep_original_times"] = self.keep_original_times
        if self.records_error:
            bl["mef_records_error"] = self.records_error

        keys_str = ("units_description",) + tuple(f.name for f in metadata_fields.CHANNEL if f.kind == "text")
        keys_num = tuple(f.name for f in metadata_fields.CHANNEL if f.kind != "text")
        per_stream = []  # the channels' array annotations of each stream (the same in every segment)
        for st in self._streams:
            arr = {key: np.array([infos[n][key] or "" for n in st]) for key in keys_str}
            arr.update((key, np.array([infos[n][key] for n in st])) for key in keys_num)
            arr["units_conversion_factor"] = np.array([tables[n].gain for n in st], np.float64)
            per_stream.append(arr)
        for g, seg in enumerate(bl["segments"]):
            seg["name"] = f"segment {g}"
            seg_uutc = self._session_start + int(math.floor(self._seg_start[g]))
            seg["rec_datetime"] = self._utc(seg_uutc)
            seg["mef_start_uutc"] = seg_uutc
            signals = []
            for si in range(len(self._streams)):
                d = dict(seg["signals"][si])
                arr = dict(d["__array_annotations__"])
                arr.update((key, a.copy()) for key, a in per_stream[si].items())
                d["__array_annotations__"] = arr
                signals.append(d)
            seg["signals"] = signals
            events = []
            for c, rt in enumerate(self._event_types + ([BAD_BLOCKS] if self.on_error == "skip" else [])):
                if rt == BAD_BLOCKS:
                    events.append(dict(seg["events"][c]))
                    continue
                d = dict(seg["events"][c])
                lst = self._seg_records[g].get(rt, [])
                d["__array_annotations__"] = {
                    "mef_channel": np.array([r.get("channel") or "" for r in lst], dtype="U"),
                    "mef_level": np.array([r.get("level") or "" for r in lst], dtype="U"),
                }
                events.append(d)
            seg["events"] = events

    def _utc(self, uutc):
        """A uUTC time as an aware datetime; RangeError (naming the session) for a time
        no datetime holds (damaged times that every check let through)."""
        try:
            return datetime.fromtimestamp(uutc / 1e6, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise RangeError(f"time {uutc} uUTC is outside the years a datetime holds", self.dirname) from None

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
    def _piece(self, seg_index, stream_index):
        return self._pieces[stream_index][seg_index]

    def _get_signal_size(self, block_index, seg_index, stream_index):
        p = self._piece(seg_index, stream_index)
        return 0 if p is None else int(p[2] - p[1])

    def _get_signal_t_start(self, block_index, seg_index, stream_index):
        p = self._piece(seg_index, stream_index)
        if p is None:
            return self._segment_t_start(block_index, seg_index)
        t = self._tables[self._streams[stream_index][0]]
        j, a, _ = p
        return ((int(t.sec_start[j]) - self._time_origin) + a * 1e6 / t.fs) / 1e6

    def _get_analogsignal_chunk(self, block_index, seg_index, i_start, i_stop, stream_index, channel_indexes):
        names = self._streams[stream_index]
        size = self._get_signal_size(block_index, seg_index, stream_index)
        i_start = 0 if i_start is None else int(i_start)
        i_stop = size if i_stop is None else int(i_stop)
        if i_start < 0 or i_stop > size or i_start > i_stop:
            raise IndexError(f"samples [{i_start}, {i_stop}) are outside the signal's [0, {size})")
        if channel_indexes is None:
            sel = list(names)
        else:
            sel = list(np.asarray(names, dtype=object)[channel_indexes])
        dtype = self._tables[names[0]].dtype
        check_fits((i_stop - i_start) * len(sel), 13, f"samples [{i_start}, {i_stop}) of {len(sel)} channel(s)",
                   self.dirname)  # (a damaged count never becomes an allocation)
        # (column after column: each channel is decoded straight into its column)
        out = np.zeros((i_stop - i_start, len(sel)), dtype=dtype, order="F")
        if i_stop == i_start or not sel:
            return out
        j, a, _ = self._piece(seg_index, stream_index)
        for c, name in enumerate(sel):
            t = self._tables[name]
            s0 = int(t.sec_first[j]) + a + i_start
            s1 = s0 + (i_stop - i_start)
            column = out[:, c]
            got = self._channel_samples(t, s0, s1, column if dtype == "int32" else None)
            if got is not column:
                column[:] = got
        return out

    def _channel_samples(self, t, s0, s1, out=None):
        """Stored samples [s0, s1) of one channel as neo raw values (dtype of the channel);
        int32 counts of a channel without multipliers go straight into `out` if given."""
        t.verify()  # a table built from metadata: its block table, checked, before any sample
        plain = t.dtype == "int32" and np.all(t.multipliers == 1)
        if self.on_error == "skip":  # damaged blocks: zeros, their spans noted
            counts, valid = self._reader.read_samples(t.name, s0, s1, return_valid=True, out=out if plain else None)
            if not valid.all():
                self.bad_blocks.note(t, s0, valid)
        else:
            counts = self._stored.read(t, s0, s1, out if plain else None)
        if t.dtype == "int32":
            if plain:
                return counts
            scaled = counts.astype(np.int64)
            self._per_block(t, scaled, s0, s1, lambda k: t.multipliers[int(t.seg[k])])
            return scaled.astype(np.int32)
        values = counts.astype(np.float64)
        self._per_block(t, values, s0, s1, lambda k: t.seg_factors[int(t.seg[k])])
        return values

    @staticmethod
    def _per_block(t, values, s0, s1, factor_of):
        k0 = int(np.searchsorted(t.cum, s0, side="right")) - 1
        k1 = int(np.searchsorted(t.cum, s1, side="left"))
        for k in range(k0, k1):
            a = max(int(t.cum[k]), s0) - s0
            b = min(int(t.cum[k + 1]), s1) - s0
            if b > a:
                f = factor_of(k)
                if f != 1:
                    values[a:b] *= f

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
    def _event_list(self, seg_index, event_channel_index):
        return self._seg_records[seg_index].get(self._event_types[event_channel_index], [])

    def _is_bad_blocks(self, event_channel_index):
        return event_channel_index == len(self._event_types)

    def _event_count(self, block_index, seg_index, event_channel_index):
        if self._is_bad_blocks(event_channel_index):
            return len(self.bad_blocks.in_segment(self._seg_start, seg_index, self._session_start))
        return len(self._event_list(seg_index, event_channel_index))

    def find_bad_blocks(self) -> list:
        """Read every exposed signal (in chunks) so that every damaged block is known:
        returns ``bad_blocks.spans``, ``(start uUTC, stop uUTC, channel)`` (with
        ``on_error="skip"``; nothing to find otherwise)."""
        if self.on_error == "skip":
            for si, names in enumerate(self._streams):
                for g in range(self.header["nb_segment"][0]):
                    size = self._get_signal_size(0, g, si)
                    for a in range(0, size, 1 << 22):
                        self._get_analogsignal_chunk(0, g, a, min(size, a + (1 << 22)), si, None)
        return list(self.bad_blocks.spans)

    def _get_event_timestamps(self, block_index, seg_index, event_channel_index, t_start, t_stop):
        if self._is_bad_blocks(event_channel_index):
            spans = self.bad_blocks.in_segment(self._seg_start, seg_index, self._session_start)
            ts = np.array([a for a, _, _ in spans], np.int64)
            keep = np.ones(len(ts), bool)
            if t_start is not None:
                keep &= self._seconds(ts) >= t_start
            if t_stop is not None:
                keep &= self._seconds(ts) <= t_stop
            return (ts[keep], np.array([z - a for a, z, _ in spans], np.int64)[keep],
                    np.array([c for _, _, c in spans], dtype="U")[keep])
        lst = self._event_list(seg_index, event_channel_index)
        ts = np.array([r["_t"] for r in lst], dtype=np.int64)
        labels = np.array([record_label(r) for r in lst], dtype="U")
        if _is_epoch(self._event_types[event_channel_index]):
            durations = np.array([record_duration(r) for r in lst], dtype=np.int64)
        else:
            durations = None
        keep = np.ones(len(ts), bool)
        if t_start is not None:
            keep &= self._seconds(ts) >= t_start
        if t_stop is not None:
            keep &= self._seconds(ts) <= t_stop
        if not keep.all():
            ts, labels = ts[keep], labels[keep]
            if durations is not None:
                durations = durations[keep]
        return ts, durations, labels

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


#: video clips become epochs on one event channel per video channel: "video <name>"
VIDEO_EPOCHS = "video "


def _is_epoch(record_type):
    return record_type in EPOCH_RECORD_TYPES or record_type.startswith(VIDEO_EPOCHS)


def record_label(r):
    """The text a record shows as an Event/Epoch label."""
    rt = r.get("type")
    if rt in ("Note", "SyLg", "EDFA"):
        return r.get("text") or ""
    if rt == "Seiz":
        return r.get("annotation") or " ".join(x for x in (r.get("marker_name_1"), r.get("marker_name_2")) if x)
    if rt == "Epoc":
        return r.get("text") or r.get("epoch_type") or ""
    if rt == "CSti":
        return " / ".join(x for x in (r.get("task_type"), r.get("stimulus_type"), r.get("patient_response")) if x)
    if rt == "ESti":
        parts = [r.get("waveform") or ""]
        if r.get("amplitude") is not None:
            parts.append(f"{r['amplitude']:g}")
        if r.get("frequency") is not None:
            parts.append(f"{r['frequency']:g} Hz")
        return " ".join(p for p in parts if p)
    if rt == "Curs":
        return r.get("name") or ""
    return r.get("text") or ""


def record_duration(r):
    """Duration in microseconds of a record that becomes an Epoch (>= 0)."""
    rt = r.get("type")
    d = None
    if rt == "Epoc":
        if r.get("end_timestamp") is not None and r.get("timestamp") is not None:
            d = r["end_timestamp"] - r["timestamp"]
        else:
            d = r.get("duration")
    elif rt == "Seiz":
        d = r.get("duration")
        if (d is None or d < 0) and r.get("latest_offset") is not None and r.get("earliest_onset") is not None:
            d = r["latest_offset"] - r["earliest_onset"]
    else:
        d = r.get("duration")
    try:
        d = int(d)
    except (TypeError, ValueError):
        return 0
    return max(d, 0)
