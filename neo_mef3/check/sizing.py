"""The declarations readers size buffers and grids from (mef3io's ``sizing.*``,
``times.recording-duration``, ``times.block-interval``, ``header.*`` checks): block
offsets and entry counts, largest block, difference buffer, contiguous runs, recording
duration, block interval, and the universal headers' entry count and size."""

import math

import numpy as np

from ..format import metadata
from ..format.layout import METADATA_FILE_BYTES, TIME_SERIES_INDEX_BYTES
from ..format.times import to_uutc

_U4_NO_ENTRY = 0xFFFFFFFF


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
