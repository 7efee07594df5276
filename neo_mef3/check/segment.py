"""The segment level: its three files (metadata, index, data) parsed with the Reader's
own pieces, every block decoded (``blocks.py``), what is found set against what the
metadata declares, then what an interrupted write left (``interrupted.py``) and the
sizing declarations (``sizing.py``)."""

import os

import numpy as np

from .. import fileio
from ..errors import MefError, PasswordError
from ..format import headers
from ..format.layout import RED_DISCONTINUITY, TIME_SERIES_INDEX_BYTES, UNIVERSAL_HEADER_BYTES
from ..format.times import to_uutc, to_uutc_array
from .blocks import _check_blocks, _check_data_crc
from .interrupted import _check_interrupted_write
from .report import _note_temporaries, _plain, _safe, _when
from .sizing import _check_headers, _check_sizing


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
        _note_temporaries(report, sf.directory, sorted(os.listdir(sf.directory)),
                          "temporary file of an interrupted write (ignored)")
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

    # an interrupted write; the data file's body CRC
    declared_dat = int(uh_dat["number_of_entries"])
    _check_interrupted_write(report, sf, dec, found, junk_entries, declared_dat)
    _check_data_crc(sf.tdat, uh_dat, entries, declared_dat, crc, report)

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


def _crc_failed(crc, exc):
    msg = str(exc)
    if "header CRC" in msg:
        crc["headers"] = "MISMATCH"
    elif "body CRC" in msg:
        crc["bodies"] = "MISMATCH"
