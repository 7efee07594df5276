"""``neo-mef3 check``: what a session holds, and whether its declarations agree with its data.

For every segment of every channel the checker compares what the metadata declares
(blocks, samples, time range, discontinuities) with what is found: the index entries
(committed ones and those an interrupted append left past the declared count), the RED
blocks that decode with a good CRC, the samples they hold, their time range and
discontinuity flags. It verifies every CRC (headers, bodies, blocks), that the three
files of a segment belong together, and that each block's header agrees with its index
entry; it reports bytes after the last indexed block, torn index entries, leftover
temporary directories of an interrupted write, gaps in segment numbering and records
files that do not parse. Nothing is written.

It uses the Reader's pieces (the session tree, ``format``'s parsing of headers, indices
and records files, a ``crypto.KeyRing``, the RED decoder in status mode); there is no
second parser.

>>> report = check_session("subject.mefd")
>>> report.exit_code        # 0 consistent, 1 problems found, 2 unusable input
>>> print(report.text())

Exit codes: 0 when every declaration agrees with the data, 1 when problems were found
(damage, an interrupted write, inconsistent declarations), 2 when the input cannot be
checked at all (not a session, or a missing or wrong password).
"""

import datetime
import json
import math
import os
import struct
import warnings

import numpy as np

from . import _red, fileio
from .errors import CancelledError, FormatError, MefError, PasswordError
from .format import crypto, headers, metadata
from .format import records as _records
from .format.layout import (
    METADATA_FILE_BYTES,
    RED_BLOCK_HEADER_BYTES,
    RED_DIFFERENCE_BYTES,
    RED_DISCONTINUITY,
    RED_FLAGS,
    RED_LEVEL_1_ENCRYPTED,
    RED_LEVEL_2_ENCRYPTED,
    RED_START_TIME,
    TIME_SERIES_INDEX_BYTES,
    UNIVERSAL_HEADER_BYTES,
)
from .format.times import to_uutc, to_uutc_array
from .progress import Tracker
from .reader import Reader
from .session import SessionTree
from .source import describe_location, is_url, open_source
from .source.copy import local_copy

_ENCRYPTED = RED_LEVEL_1_ENCRYPTED | RED_LEVEL_2_ENCRYPTED
_INT64 = struct.Struct("<q")
_UINT32 = struct.Struct("<I")
#: blocks are decoded in batches of at most this many samples / bytes
_BATCH_SAMPLES = 1 << 22
_BATCH_BYTES = 64 << 20
#: a block claiming more samples than this is reported, not decoded
_MAX_BLOCK_SAMPLES = 1 << 28


#: the checks, with the mef3io validator check each one answers (``neo-mef3 check --list-checks``)
CHECKS = {
    "crc.headers": ("every universal header CRC (metadata, index, data, records)", "crc.metadata, crc.index"),
    "crc.bodies": ("metadata, index, data and records body CRCs", "crc.metadata, crc.index"),
    "crc.blocks": ("every RED block decodes with a good CRC", "- (mef3io reads blocks, validate does not)"),
    "segment.files-match": ("a segment's .tmet, .tidx and .tdat belong together", "-"),
    "index.block-offsets": ("index entries point inside the data file, in increasing order", "index.block-offsets"),
    "index.data-coverage": ("no bytes after the last indexed block", "index.data-coverage"),
    "index.entry-counts": ("every index entry declares its samples and bytes", "index.entry-counts"),
    "index.block-count": ("declared block count matches the index", "index.block-count"),
    "index.sample-count": ("declared sample count matches the blocks", "index.sample-count"),
    "index.start-sample": ("declared start sample continues the channel's earlier segments",
                           "index.start-sample"),
    "index.block-headers": ("each block header's time and flags agree with its index entry", "-"),
    "index.interrupted-write": ("index entries or bytes an interrupted append left", "- (mef3io recover)"),
    "sizing.block-maxima": ("largest block (samples and bytes) declared at least as large as found",
                            "sizing.block-maxima"),
    "sizing.difference-bytes": ("difference-buffer size declared and large enough", "sizing.difference-bytes"),
    "sizing.contiguous": ("contiguous-run maxima match the index", "sizing.contiguous"),
    "times.sampling-frequency": ("a usable sampling frequency (else the segment is unreadable)",
                                 "times.sampling-frequency"),
    "times.segment-bounds": ("metadata start and end agree with the first and last block", "times.segment-bounds"),
    "times.recording-duration": ("recording duration spans the segment", "times.recording-duration"),
    "times.block-interval": ("block interval is set and matches the largest block", "times.block-interval"),
    "times.discontinuities": ("discontinuity count matches the flagged blocks", "times.discontinuities"),
    "times.block-order": ("blocks do not overlap; gaps are flagged as discontinuities", "-"),
    "times.segment-order": ("segments follow each other without overlap, at one rate", "-"),
    "header.entry-count": ("universal headers declare the right entry count", "header.entry-count"),
    "header.max-entry-size": ("universal headers declare the right entry size", "header.max-entry-size"),
    "records.parse": ("records parse, CRCs verify, index count matches, owner names match", "-"),
    "layout.leftovers": ("temporary files of interrupted writes; segment numbering without gaps", "-"),
}

_U4_NO_ENTRY = 0xFFFFFFFF


def _when(uutc):
    if uutc is None:
        return "-"
    try:
        dt = datetime.datetime.fromtimestamp(uutc / 1e6, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{uutc} us"
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _safe(s):
    """A path or name printable on any terminal (non-UTF-8 bytes escaped)."""
    return str(s).encode("utf-8", "backslashreplace").decode("utf-8")


class Report:
    """The checker's findings: ``problems`` and ``notes`` (lists of (path, message)),
    per-channel details in ``channels`` and records counts in ``records``."""

    def __init__(self, path):
        self.path = path
        self.usable = True
        self.fatal = None
        self.channels = []
        self.records = {}
        self.problems = []
        self.notes = []

    def problem(self, where, message):
        self.problems.append((_safe(where), _safe(message)))

    def note(self, where, message):
        self.notes.append((_safe(where), _safe(message)))

    @property
    def exit_code(self):
        if not self.usable:
            return 2
        return 1 if self.problems else 0

    @property
    def consistent(self):
        return self.usable and not self.problems

    def as_dict(self):
        return {
            "path": _safe(self.path),
            "usable": self.usable,
            "fatal": self.fatal,
            "exit_code": self.exit_code,
            "channels": self.channels,
            "records": self.records,
            "problems": [{"path": p, "message": m} for p, m in self.problems],
            "notes": [{"path": p, "message": m} for p, m in self.notes],
        }

    def json(self):
        return json.dumps(self.as_dict(), indent=1, default=str)

    def relocate(self, old, new):
        """Paths under `old` (a local copy) named under `new` (where the session is)."""
        def moved(p):
            return new + p[len(old):] if isinstance(p, str) and (p == old or p.startswith(old + os.sep)) else p

        self.path = moved(self.path)
        self.problems = [(moved(p), m) for p, m in self.problems]
        self.notes = [(moved(p), m) for p, m in self.notes]
        for ch in self.channels:
            ch["path"] = moved(ch.get("path"))
            for s in ch.get("segments", ()):
                s["path"] = moved(s.get("path"))

    def text(self):
        out = [f"session   {_safe(self.path)}"]
        if not self.usable:
            out.append(f"result    UNUSABLE: {self.fatal}")
            return "\n".join(out)
        out.append(f"channels  {len(self.channels)}")
        for ch in self.channels:
            fs = ch.get("sampling_frequency")
            rate = f"{fs:.6g} Hz" if fs else "rate ?"
            out.append(f"  {_safe(ch['name'])}  {rate}  {len(ch['segments'])} segment(s)  {ch['verdict']}")
            for s in ch["segments"]:
                out.append(f"    segment {s['number']}  {_safe(os.path.basename(s['path']))}  {s['verdict']}")
                d, f = s.get("declared"), s.get("found")
                if d:
                    out.append(
                        f"      declared  {d['blocks']} blocks  {d['samples']} samples  "
                        f"{_when(d['start_time'])} .. {_when(d['end_time'])}  {d['discontinuities']} discontinuities"
                    )
                if f:
                    out.append(
                        f"      found     {f['index_entries']} index entries ({f['committed_entries']} committed, "
                        f"{f['uncommitted_entries']} uncommitted)  {f['good_blocks']} good blocks, "
                        f"{f['bad_blocks']} bad  {f['samples']} samples  "
                        f"{_when(f['start_time'])} .. {_when(f['end_time'])}  {f['discontinuities']} discontinuities"
                    )
                    out.append(
                        f"      CRCs      {s['crc']}   tail: {f['tail_bytes']} bytes after the last indexed block, "
                        f"{f['torn_index_bytes']} bytes of a torn index entry"
                    )
        if self.records:
            out.append("records   " + ", ".join(f"{_safe(k)}: {v}" for k, v in self.records.items()))
        for p, m in self.notes:
            out.append(f"note      {p}: {m}")
        for p, m in self.problems:
            out.append(f"PROBLEM   {p}: {m}")
        verdict = "consistent" if not self.problems else f"{len(self.problems)} problem(s) found"
        out.append(f"result    {verdict}")
        return "\n".join(out)


def check_session(path, password="", progress=None, cancel=None, storage_options=None):
    """Check a session; returns a :class:`Report` (never raises a MefError, except
    CancelledError when ``cancel`` says stop; ``progress``: see neo_mef3.progress).

    ``path``: a session directory, a packed ``.mefd.tar``/``.mefd.zip``, a URL (with
    ``storage_options``) or a ByteSource. Every byte is read either way: a session that
    is not a local directory is first copied whole into a temporary directory (the
    report names its files where they are)."""
    if storage_options is not None or not isinstance(path, (str, os.PathLike)) or is_url(os.fspath(path)) \
            or os.path.isfile(path):
        return _check_copy(path, password, progress, cancel, storage_options)
    report = Report(os.fspath(path))
    try:
        tree = SessionTree(path)
        report.path = tree.path
    except MefError as exc:
        report.usable, report.fatal = False, _safe(exc)
        return report
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = Reader(tree.path, password=password, n_threads=1)
        except PasswordError as exc:
            report.usable, report.fatal = False, _safe(exc)
            return report
        except MefError as exc:
            report.usable, report.fatal = False, _safe(exc)
            return report
    total = 0
    for name in tree.channels:
        try:
            total += len(tree.segments(name))
        except MefError:
            pass
    # (the Reader was opened to validate the password as it does)
    with reader, Tracker(total, "check", unit="segments", progress=progress, cancel=cancel) as tracker:
        try:
            _check_tree(crypto.KeyRing(password), tree, report, tracker)
        except PasswordError as exc:
            report.usable, report.fatal = False, _safe(exc)
    return report


def _check_copy(location, password, progress, cancel, storage_options):
    try:
        source = open_source(location, storage_options)
        where = source.list_session().path
    except MefError as exc:
        report = Report(str(describe_location(location)))
        report.usable, report.fatal = False, _safe(exc)
        return report
    try:
        with local_copy(source) as local:
            report = check_session(local, password, progress, cancel)
    except MefError as exc:
        if isinstance(exc, CancelledError):
            raise
        report = Report(where)
        report.usable, report.fatal = False, _safe(exc)
        return report
    finally:
        if source is not location:
            source.close()
    report.relocate(local, where)
    return report


def _check_tree(keyring, tree, report, tracker=None):
    for e in sorted(os.listdir(tree.path)):
        if fileio.is_temporary(e):
            report.note(os.path.join(tree.path, e), "temporary directory of an interrupted write "
                        "(readers ignore it; the next Writer on the session removes it)")
    if not tree.channels:
        report.note(tree.path, "the session has no channels")
    for name in tree.channels:
        report.channels.append(_check_channel(keyring, tree, name, report, tracker))
    _check_records(keyring, tree, report)


def _check_channel(keyring, tree, name, report, tracker=None):
    d = tree.channel_dirs[name]
    out = {"name": _safe(name), "path": _safe(d), "segments": [], "sampling_frequency": None}
    first_problem = len(report.problems)
    try:
        entries = sorted(os.listdir(d))
    except OSError as exc:
        report.problem(d, f"cannot list the channel directory ({exc.strerror})")
        out["verdict"] = "UNREADABLE"
        return out
    for e in entries:
        if fileio.is_temporary(e):
            report.note(os.path.join(d, e), "temporary directory of an interrupted write "
                        "(readers ignore it; the next Writer on the session removes it)")
    try:
        files = tree.segments(name)
    except MefError as exc:  # (two segment folders claiming one number)
        report.problem(d, _plain(exc, d))
        out["verdict"] = "PROBLEMS"
        return out
    if not files:
        report.problem(d, "the channel has no segments")
    numbers = [f.number for f in files]
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers)) if numbers else []
    if numbers and numbers[0] != 0:
        missing = list(range(0, numbers[0])) + missing
    if missing:
        shown = ", ".join(str(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        report.problem(d, f"segment numbering has gaps: no segment {shown}")
    fs_seen = set()
    prev = None
    for sf in files:
        seg = _check_segment(keyring, sf, report, tracker)
        out["segments"].append(seg)
        if tracker is not None:
            tracker.advance(1)
        if seg.get("sampling_frequency"):
            fs_seen.add(seg["sampling_frequency"])
        if prev is not None and seg.get("found") and prev.get("found"):
            pe, ss = prev["found"]["end_time"], seg["found"]["start_time"]
            if pe is not None and ss is not None and ss < pe:
                report.problem(sf.directory, f"segment {sf.number} starts at {_when(ss)}, before the previous "
                               f"segment ends ({_when(pe)})")
        prev = seg
    if len(fs_seen) > 1:
        report.problem(d, f"segments are sampled at different rates: {sorted(fs_seen)} Hz")
    _check_start_samples(out["segments"], report)
    out["sampling_frequency"] = min(fs_seen) if fs_seen else None
    out["verdict"] = "consistent" if len(report.problems) == first_problem else "PROBLEMS"
    return out


def _declared(meta, fs):
    s2 = meta.s2
    rto = meta.recording_time_offset
    return {
        "blocks": int(s2["number_of_blocks"]),
        "samples": int(s2["number_of_samples"]),
        "start_sample": int(s2["start_sample"]),
        "start_time": to_uutc(meta.uh["start_time"], rto),
        "end_time": to_uutc(meta.uh["end_time"], rto),
        "discontinuities": int(s2["number_of_discontinuities"]),
        "maximum_block_samples": int(s2["maximum_block_samples"]),
        "maximum_block_bytes": int(s2["maximum_block_bytes"]),
        "units_conversion_factor": float(s2["units_conversion_factor"]),
        "sampling_frequency": fs,
    }


def _check_segment(keyring, sf, report, tracker=None):
    out = {"number": sf.number, "path": _safe(sf.directory)}
    first_problem = len(report.problems)
    crc = {"headers": "ok", "bodies": "ok", "blocks": "-"}

    def done(verdict=None):
        out["crc"] = f"headers {crc['headers']}, bodies {crc['bodies']}, blocks {crc['blocks']}"
        out["verdict"] = verdict or ("consistent" if len(report.problems) == first_problem else "PROBLEMS")
        return out

    try:
        for e in sorted(os.listdir(sf.directory)):
            if fileio.is_temporary(e):
                report.note(os.path.join(sf.directory, e), "temporary file of an interrupted write (ignored)")
    except OSError:
        pass
    # metadata
    try:
        raw = fileio.read_file(sf.tmet, "metadata")
        uh = headers.parse_universal_header(raw, sf.tmet, "tmet")
        meta = headers.parse_metadata(raw, sf.tmet, keys=keyring.for_header(uh, sf.tmet))
    except PasswordError:
        raise
    except MefError as exc:
        _crc_failed(crc, exc)
        report.problem(sf.tmet, f"{_plain(exc, sf.tmet)} -- the segment cannot be read")
        return done("UNREADABLE")
    fs = meta.fs
    out["sampling_frequency"] = fs
    out["declared"] = dec = _declared(meta, fs)

    # index
    try:
        raw_idx = fileio.read_file(sf.tidx, "block index")
        uh_idx, entries = headers.parse_index(raw_idx, sf.tidx)
        headers.check_same_segment(raw_idx, meta.head, sf.tidx, sf.tmet)
    except MefError as exc:
        _crc_failed(crc, exc)
        report.problem(sf.tidx, f"{_plain(exc, sf.tidx)} -- the segment's blocks cannot be located")
        return done("UNREADABLE")
    body = len(raw_idx) - UNIVERSAL_HEADER_BYTES
    whole, torn = body // TIME_SERIES_INDEX_BYTES, body % TIME_SERIES_INDEX_BYTES
    declared_idx = int(uh_idx["number_of_entries"])
    committed = len(entries) if declared_idx < 0 else min(declared_idx, len(entries))
    uncommitted = len(entries) - committed
    junk_entries = whole - len(entries)

    # data file
    tdat_size = None
    try:
        tdat_size = os.path.getsize(sf.tdat)
        head = fileio.pread(sf.tdat, UNIVERSAL_HEADER_BYTES)
        uh_dat = headers.parse_universal_header(head, sf.tdat, "tdat")
        headers.check_same_segment(head, meta.head, sf.tdat, sf.tmet)
    except OSError:
        report.problem(sf.tdat, "the data file is missing or unreadable")
        return done("UNREADABLE")
    except MefError as exc:
        _crc_failed(crc, exc)
        report.problem(sf.tdat, _plain(exc, sf.tdat))
        return done("UNREADABLE")

    blocks = _check_blocks(sf, meta.keys, entries, tdat_size, report, crc, tracker)
    rto = meta.recording_time_offset
    good = blocks["good"]
    times = to_uutc_array(entries["start_time"], rto)
    n = entries["number_of_samples"].astype(np.int64)
    flags = entries["RED_block_flags"].astype(np.uint8)
    last_end = int(entries[-1]["file_offset"]) + int(entries[-1]["block_bytes"]) if len(entries) else UNIVERSAL_HEADER_BYTES
    tail = max(0, tdat_size - last_end)
    ends = times + np.floor(n * 1e6 / fs + 0.5).astype(np.int64)
    found = {
        "index_entries": len(entries),
        "committed_entries": committed,
        "uncommitted_entries": uncommitted,
        "good_blocks": int(good.sum()),
        "bad_blocks": int((~good).sum()),
        "samples": int(n[good].sum()),
        "indexed_samples": int(n.sum()),
        "start_time": int(times[good].min()) if good.any() else None,
        "end_time": int(ends[good].max()) if good.any() else None,
        "discontinuities": int(((flags & RED_DISCONTINUITY) != 0).sum()),
        "tail_bytes": int(tail),
        "torn_index_bytes": int(torn),
        "block_status": blocks["status"],
    }
    out["found"] = found

    # an interrupted write
    if uncommitted:
        report.problem(sf.tidx, f"{uncommitted} index entr{'y' if uncommitted == 1 else 'ies'} past the "
                       f"{committed} the header declares: an append was interrupted after writing them (their "
                       "blocks are read; `neo-mef3 repair`, or opening a Writer on the session, completes the segment)")
    if dec["blocks"] < len(entries) and not uncommitted:
        report.problem(sf.tmet, f"metadata declares {dec['blocks']} blocks, the index holds {len(entries)}: an "
                       "append was interrupted before its metadata update (the blocks are read; `neo-mef3 repair`, "
                       "or opening a Writer on the session, rewrites the metadata)")
    elif dec["blocks"] < len(entries):
        report.note(sf.tmet, f"metadata declares {dec['blocks']} of the {len(entries)} indexed blocks "
                    "(the interrupted append above)")
    if dec["blocks"] > len(entries):
        report.problem(sf.tmet, f"metadata declares {dec['blocks']} blocks, the index holds only {len(entries)}")
    if torn:
        report.problem(sf.tidx, f"{torn} bytes of a torn index entry at the end (an interrupted append; ignored)")
    if junk_entries:
        report.problem(sf.tidx, f"{junk_entries} whole index entr{'y' if junk_entries == 1 else 'ies'} after the "
                       "last one that continues the index (ignored)")
    declared_dat = int(uh_dat["number_of_entries"])
    if 0 <= declared_dat != len(entries):
        say = report.note if (uncommitted or dec["blocks"] < len(entries)) and declared_dat < len(entries) else report.problem
        say(sf.tdat, f"the data file's header declares {declared_dat} blocks, the index holds {len(entries)}")
    _check_data_crc(sf.tdat, uh_dat, entries, declared_dat, crc, report)
    if tail:
        report.problem(sf.tdat, f"{tail} bytes after the last indexed block (data an interrupted append wrote "
                       "before its index entries; ignored; `neo-mef3 repair`, or opening a Writer on the session, "
                       "removes them)")

    # declarations against the data (over the committed part, which the metadata describes)
    if dec["blocks"] == len(entries) or dec["blocks"] == committed:
        k = dec["blocks"]
        if dec["samples"] != int(n[:k].sum()):
            report.problem(sf.tmet, f"metadata declares {dec['samples']} samples, its {k} blocks hold {int(n[:k].sum())}")
        disc = int(((flags[:k] & RED_DISCONTINUITY) != 0).sum())
        if dec["discontinuities"] >= 0 and dec["discontinuities"] != disc:  # meflib (pymef) leaves it at 0
            why = " (meflib-based writers such as pymef and mef_tools leave this count at 0)" if dec["discontinuities"] == 0 else ""
            report.note(sf.tmet, f"metadata declares {dec['discontinuities']} discontinuities, the index "
                        f"flags {disc}{why}")
        if k and dec["maximum_block_samples"] not in (0, 0xFFFFFFFF) and dec["maximum_block_samples"] < int(n[:k].max()):
            report.problem(sf.tmet, f"metadata declares at most {dec['maximum_block_samples']} samples per block; "
                           f"a block holds {int(n[:k].max())}")
        if k:
            period = 1e6 / fs
            if dec["start_time"] is not None and abs(int(times[:k].min()) - dec["start_time"]) > period + 1:
                report.problem(sf.tmet, f"metadata starts at {_when(dec['start_time'])}, the first block at "
                               f"{_when(int(times[:k].min()))}")
            if dec["end_time"] is not None and abs(int(ends[:k].max()) - dec["end_time"]) > period + 1:
                report.problem(sf.tmet, f"metadata ends at {_when(dec['end_time'])}, the last block at "
                               f"{_when(int(ends[:k].max()))}")
    if len(entries) > 1:
        order = np.argsort(times, kind="stable")
        t, e, f_ = times[order], ends[order], flags[order]
        overlap = np.flatnonzero(t[1:] < e[:-1] - 1)
        if len(overlap):
            report.problem(sf.tidx, f"{len(overlap)} block(s) start before the previous block ends "
                           f"(first at {_when(int(t[overlap[0] + 1]))})")
        jump = np.flatnonzero((t[1:] - e[:-1] > 1e6 / fs) & ((f_[1:] & RED_DISCONTINUITY) == 0))
        if len(jump):
            report.note(sf.tidx, f"{len(jump)} gap(s) between blocks not flagged as discontinuities")
    _check_sizing(report, sf, meta, entries, committed, blocks, fs)
    _check_headers(report, sf, meta, uh_idx, fs)
    return done()


def _check_start_samples(segments, report):
    """index.start-sample: each segment's declared start sample is the number of samples
    the channel's earlier segments hold (meflib's channel-wide numbering)."""
    stored = 0
    for seg in segments:
        d, f = seg.get("declared"), seg.get("found")
        if not d or not f:
            return
        if d["start_sample"] != stored:
            report.note(seg["path"], f"metadata declares start sample {d['start_sample']}; the channel's earlier "
                        f"segments hold {stored} samples [index.start-sample]")
        stored += f["indexed_samples"]


def _check_sizing(report, sf, meta, entries, committed, blocks, fs):
    """The declarations readers size buffers from: block offsets order, entry sizes,
    largest block, difference buffer and contiguous runs (mef3io's sizing.* checks)."""
    s2 = meta.s2
    k = min(int(s2["number_of_blocks"]), committed) if int(s2["number_of_blocks"]) >= 0 else committed
    offs = entries["file_offset"].astype(np.int64)
    if len(offs) > 1 and (np.diff(offs) < 0).any():
        report.problem(sf.tidx, "index entries do not point at increasing offsets [index.block-offsets]")
    unset = (entries["number_of_samples"] == _U4_NO_ENTRY) | (entries["block_bytes"] == _U4_NO_ENTRY)
    if unset.any():
        report.problem(sf.tidx, f"{int(unset.sum())} index entr{'y leaves' if unset.sum() == 1 else 'ies leave'} "
                       "its sample or byte count unset [index.entry-counts]")
    if not k:
        return
    n = entries["number_of_samples"][:k].astype(np.int64)
    nbytes = entries["block_bytes"][:k].astype(np.int64)
    declared_bytes = int(s2["maximum_block_bytes"])
    if declared_bytes <= 0 or declared_bytes < int(nbytes.max()):
        report.problem(sf.tmet, f"metadata declares at most {declared_bytes} bytes per block; a block holds "
                       f"{int(nbytes.max())} [sizing.block-maxima]")
    declared_diff = int(s2["maximum_difference_bytes"])
    found_diff = blocks.get("max_difference_bytes", 0)
    if declared_diff == _U4_NO_ENTRY:
        report.note(sf.tmet, "maximum difference bytes is unset (no entry) [sizing.difference-bytes]")
    elif declared_diff == 0 or declared_diff < found_diff:
        report.problem(sf.tmet, f"metadata declares {declared_diff} maximum difference bytes, a block needs "
                       f"{found_diff} (meflib sizes its decoding buffer from it) [sizing.difference-bytes]")
    found = dict(zip(("maximum_contiguous_blocks", "maximum_contiguous_block_bytes", "maximum_contiguous_samples"),
                     metadata.contiguous_stats(entries["RED_block_flags"][:k].astype(np.uint8), nbytes, n)))
    for field, value in found.items():
        declared = int(s2[field])
        if declared <= 0:  # meflib-based writers (pymef, mef_tools) leave some of these at 0
            report.note(sf.tmet, f"metadata leaves {field} unset ({declared}); the index has {value} "
                        "[sizing.contiguous]")
        elif declared < value:
            report.problem(sf.tmet, f"metadata declares {field} {declared}, the index has {value} "
                           "[sizing.contiguous]")
        elif declared > value:
            report.note(sf.tmet, f"metadata declares {field} {declared}, more than the {value} of the index "
                        "[sizing.contiguous]")
    period = 1e6 / fs
    duration = int(s2["recording_duration"])
    start, end = to_uutc(meta.uh["start_time"], meta.recording_time_offset), to_uutc(meta.uh["end_time"],
                                                                                      meta.recording_time_offset)
    if start is not None and end is not None and abs(duration - (end - start)) > period + 1:
        report.note(sf.tmet, f"recording duration is {duration} us, the segment spans {end - start} us "
                    "[times.recording-duration]")
    interval = int(s2["block_interval"])
    expected = int(math.floor(int(n.max()) * 1e6 / fs + 0.5))
    if interval <= 0 or abs(interval - expected) > max(period, 0.1 * expected):
        report.note(sf.tmet, f"block interval is {interval} us; the largest block spans {expected} us "
                    "[times.block-interval]")


def _check_headers(report, sf, meta, uh_idx, fs):
    """header.entry-count and header.max-entry-size of the metadata and index files."""
    if int(meta.uh["number_of_entries"]) != 1:
        report.note(sf.tmet, f"the metadata header declares {int(meta.uh['number_of_entries'])} entries, "
                    "not 1 [header.entry-count]")
    for path, uh, size in ((sf.tmet, meta.uh, METADATA_FILE_BYTES), (sf.tidx, uh_idx, TIME_SERIES_INDEX_BYTES)):
        if int(uh["maximum_entry_size"]) != size:
            report.note(path, f"the header declares a largest entry of {int(uh['maximum_entry_size'])} bytes, "
                        f"not {size} [header.max-entry-size]")


def _check_data_crc(path, uh, entries, declared, crc, report):
    """The .tdat body CRC: over the blocks its header declares (our Writer, mef3io) or
    over the whole body (meflib); 0 means "not set"."""
    stored = int(uh["body_crc"])
    if stored == 0:
        return
    k = declared if 0 <= declared <= len(entries) else len(entries)
    stop = int(entries[k - 1]["file_offset"]) + int(entries[k - 1]["block_bytes"]) if k else UNIVERSAL_HEADER_BYTES
    try:  # (the CRC up to the declared blocks, then on to the end of the file)
        at_stop = fileio.file_crc(path, UNIVERSAL_HEADER_BYTES, stop)
        crcs = [at_stop, fileio.file_crc(path, stop, None, crc=at_stop)]
    except FormatError:  # the file ends before the declared blocks do
        crcs = [fileio.file_crc(path, UNIVERSAL_HEADER_BYTES)]
    if stored not in crcs:  # the blocks carry their own CRCs, checked one by one
        crc["bodies"] = "data body CRC differs"
        report.note(path, f"the data file's body CRC ({stored:#010x}) is not that of its blocks; files from "
                    "meflib-based writers (pymef, mef_tools) store such values. Each block's own CRC is checked.")


def _plain(exc, path):
    """An exception's message without the path prefix (the report names the file)."""
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def _crc_failed(crc, exc):
    msg = str(exc)
    if "header CRC" in msg:
        crc["headers"] = "MISMATCH"
    elif "body CRC" in msg:
        crc["bodies"] = "MISMATCH"


def _check_blocks(sf, keys, entries, tdat_size, report, crc, tracker=None):
    """Decode every indexed block (status mode) and compare its header with its entry
    (``tracker``: asked between batches whether to stop, so a long segment cancels too)."""
    nb = len(entries)
    good = np.zeros(nb, bool)
    codes = {}
    offs = entries["file_offset"].astype(np.int64)
    nbytes = entries["block_bytes"].astype(np.int64)
    n = entries["number_of_samples"].astype(np.int64)
    stored_times = entries["start_time"].astype(np.int64)
    iflags = entries["RED_block_flags"].astype(np.uint8)
    inside = (offs >= UNIVERSAL_HEADER_BYTES) & (nbytes >= RED_BLOCK_HEADER_BYTES) & (offs <= tdat_size) & (
        nbytes <= tdat_size - offs
    )
    if (~inside).any():
        k = int((~inside).sum())
        report.problem(sf.tidx, f"{k} index entr{'y points' if k == 1 else 'ies point'} outside the "
                       f"{tdat_size}-byte data file")
        codes["OUTSIDE_DATA_FILE"] = k
    huge = inside & (n > _MAX_BLOCK_SAMPLES)
    if huge.any():
        report.problem(sf.tidx, f"{int(huge.sum())} index entries claim more than {_MAX_BLOCK_SAMPLES} samples")
        codes["TOO_MANY_SAMPLES"] = int(huge.sum())
    todo = np.flatnonzero(inside & ~huge)
    time_mismatch = flag_mismatch = 0
    max_difference_bytes = 0
    i = 0
    with open(sf.tdat, "rb") as f:
        while i < len(todo):
            if tracker is not None:
                tracker.check()
            j, samples, size = i, 0, 0
            while j < len(todo) and (j == i or (samples + n[todo[j]] <= _BATCH_SAMPLES and size + nbytes[todo[j]] <= _BATCH_BYTES)):
                samples += int(n[todo[j]])
                size += int(nbytes[todo[j]])
                j += 1
            ids = todo[i:j]
            i = j
            lo = int(offs[ids].min())
            hi = int((offs[ids] + nbytes[ids]).max())
            f.seek(lo)
            buf = bytearray(f.read(hi - lo))
            rel = offs[ids] - lo
            # block headers against index entries (before any decryption: bytes 0..47 are clear)
            for k, r in zip(ids, rel):
                r = int(r)
                if r + RED_BLOCK_HEADER_BYTES > len(buf):
                    continue
                bt = _INT64.unpack_from(buf, r + RED_START_TIME)[0]
                if bt != stored_times[k]:
                    time_mismatch += 1
                if (buf[r + RED_FLAGS] & RED_DISCONTINUITY) != (iflags[k] & RED_DISCONTINUITY):
                    flag_mismatch += 1
                max_difference_bytes = max(max_difference_bytes, _UINT32.unpack_from(buf, r + RED_DIFFERENCE_BYTES)[0])
            enc = (iflags[ids] & _ENCRYPTED) != 0
            status = np.zeros(len(ids), np.int8)
            if enc.any():
                bad = crypto.decrypt_block_statistics(buf, rel[enc], keys, True, sf.tdat, skip=True)
                status[np.flatnonzero(enc)[bad]] = _red.CRC_MISMATCH
            out = np.zeros(max(samples, 0), np.int32)
            out_off = np.concatenate(([0], np.cumsum(n[ids])[:-1])).astype(np.int64)
            for flag in (False, True):  # encrypted blocks: CRC checked above, on the ciphertext
                part = np.flatnonzero((enc == flag) & (status == 0))
                if len(part):
                    st = np.zeros(len(part), np.int8)
                    _red.decode_blocks(
                        np.frombuffer(buf, np.uint8), rel[part], nbytes[ids[part]], n[ids[part]], out, out_off[part],
                        check_crc=not flag, status=st, allow_encrypted=flag,
                    )
                    status[part] = st
            good[ids] = status == 0
            for c in status[status != 0]:
                name = _red.STATUS_NAMES.get(int(c), str(int(c)))
                codes[name] = codes.get(name, 0) + 1
    bad = nb - int(good.sum())
    if bad:
        listed = ", ".join(f"{v} {k}" for k, v in sorted(codes.items()))
        report.problem(sf.tdat, f"{bad} of {nb} blocks cannot be used ({listed})")
    if time_mismatch:
        report.problem(sf.tdat, f"{time_mismatch} block header(s) carry another start time than their index entry")
    if flag_mismatch:
        report.note(sf.tdat, f"{flag_mismatch} block header(s) disagree with their index entry on the "
                    "discontinuity flag")
    crc["blocks"] = f"{int(good.sum())}/{nb} ok" if nb else "none"
    if codes.get("CRC_MISMATCH"):
        crc["blocks"] += f" ({codes['CRC_MISMATCH']} CRC mismatch)"
    return {"good": good, "status": codes, "max_difference_bytes": max_difference_bytes}


def _check_records(keyring, tree, report):
    levels = [("session", tree.rdat, tree.ridx, None)]
    for name in tree.channels:
        rdat, ridx = tree.channel_records(name)
        levels.append((name, rdat, ridx, name))
        try:
            for sf in tree.segments(name):
                levels.append((f"{name}/{sf.number}", sf.rdat, sf.ridx, name))
        except MefError:
            pass
    for label, rdat, ridx, channel in levels:
        if not os.path.exists(rdat):
            if os.path.exists(ridx):
                report.problem(ridx, "record index without its record data file")
            continue
        try:
            n = len(_records.parse_records_file(fileio.read_file(rdat, "record data"), rdat, keyring=keyring,
                                                owner=channel or ""))
        except PasswordError as exc:
            report.note(rdat, f"records locked: {_plain(exc, rdat)}")
            report.records[label] = "locked"
            continue
        except MefError as exc:
            report.problem(rdat, _plain(exc, rdat))
            report.records[label] = "UNREADABLE"
            continue
        report.records[label] = n
        if os.path.exists(ridx):
            try:
                raw = fileio.read_file(ridx, "record index")
                uh = headers.parse_universal_header(raw, ridx, "ridx")
                headers.check_body_crc(raw, uh, ridx)
                k = int(uh["number_of_entries"])
                if k >= 0 and k != n:
                    report.problem(ridx, f"record index declares {k} records, the data file holds {n}")
            except MefError as exc:
                report.problem(ridx, _plain(exc, ridx))
        else:
            report.note(rdat, "no record index (.ridx) next to the records (readers walk the data file)")


__all__ = ["check_session", "Report", "CHECKS"]
