"""The file steps of a write: a new segment, or an append to the last one.

A new segment (and a new channel) is assembled in a hidden temporary directory, flushed
and renamed into place. An append extends the segment's files in the order the package
docstring of :mod:`neo_mef3.writer` lists, each step flushed (``fileio.fsync``) before
the next, so that a crash at any point leaves a session every reader opens.
"""

import os

import numpy as np

from .. import _red, fileio
from ..errors import CancelledError
from ..format import headers, metadata
from ..format.layout import (
    METADATA_FILE_BYTES,
    SEGMENT_EXT,
    TDAT,
    TIDX,
    TIME_SERIES_INDEX_BYTES,
    TMET,
    UNIVERSAL_HEADER_BYTES,
)
from ..format.times import to_stored
from ..fileio import CRC_START
from ..session import SegmentFiles
from .encode import BodyWriter, encode, index_entries
from .state import SegmentState


def new_segment(session, chan, number, blocks, ufact, fs, end_time, rto, describe, on_chunk=None):
    """Write segment `number` of channel `chan` (a ChannelState) holding `blocks`
    (counts, starts, nsamp, times, flags) and make it the channel's last.

    ``describe(seg)`` sets the new segment's descriptive metadata (sections s2/s3)
    before its ``.tmet`` is built; ``on_chunk(n)`` is called after each encoded chunk of
    `n` samples (progress; it may raise to stop: the temporary directory is removed).
    """
    counts, starts, nsamp, times, flags = blocks
    new_channel = not os.path.isdir(chan.directory)
    seg_name = f"{chan.name}-{number:06d}"
    if new_channel:
        tmp_root = fileio.temporary_path(chan.directory)
        tmp_seg = os.path.join(tmp_root, seg_name + SEGMENT_EXT)
    else:
        tmp_root = fileio.temporary_path(os.path.join(chan.directory, seg_name + SEGMENT_EXT))
        tmp_seg = tmp_root
    if os.path.exists(tmp_root):
        fileio.remove_tree(tmp_root)
    fileio.make_directories(tmp_seg)
    try:
        seg = SegmentState()
        seg.number = number
        seg.fs = fs
        seg.ufact = ufact
        seg.rto = rto
        seg.start_sample = chan.total_samples
        seg.start_time = int(times[0])
        seg.end_time = end_time
        tmp_files = SegmentFiles.in_directory(tmp_seg, chan.name, number)
        common = dict(start=to_stored(seg.start_time, rto), end=to_stored(end_time, rto), segment_number=number,
                      channel=chan.name, session=session.name, level_uuid=headers.new_uuid(), fields=session.fields)

        # .tdat: header placeholder, blocks, final header
        fd = fileio.open_write(tmp_files.tdat, create=True)
        try:
            tdat_body = BodyWriter(fd, UNIVERSAL_HEADER_BYTES, CRC_START)
            encoded = encode(counts, starts, nsamp, times, flags, rto, tdat_body, session.threads, on_chunk)
            seg.tdat_header = _new_header(TDAT, len(starts), int(nsamp.max()), common, tdat_body.crc)
            fileio.pwrite_all(fd, seg.tdat_header, 0)
            fileio.fsync(fd, session.durable)
        finally:
            fileio.close(fd)
        seg.tdat_crc = tdat_body.crc
        seg.indexed_end = tdat_body.pos

        # .tidx start_sample is segment-relative (spec, meflib; pymef's sample reads add
        # the segment's channel-wide section-2 start_sample to it)
        seg.index = index_entries(UNIVERSAL_HEADER_BYTES, 0, nsamp, encoded, flags)
        seg.max_difference_bytes = encoded.max_difference_bytes
        body = seg.index.tobytes()
        seg.tidx_crc = _red.crc32(body)
        seg.tidx_header = _new_header(TIDX, len(seg.index), TIME_SERIES_INDEX_BYTES, common, seg.tidx_crc)
        fileio.write_new_file(tmp_files.tidx, [seg.tidx_header, body], session.durable)

        seg.s2 = metadata.new_section2(fs, ufact, session.units)
        seg.s3 = metadata.new_section3(rto)
        describe(seg)
        seg.fill_section2()
        uuid = headers.new_uuid()
        tmet_header = headers.build_universal_header(TMET, n_entries=1, max_entry=METADATA_FILE_BYTES,
                                                     file_uuid=uuid, provenance_uuid=uuid, **common)
        seg.tmet_raw = metadata.build_tmet(tmet_header, seg.s2, seg.s3, session.keys, path=session.path)
        fileio.write_new_file(tmp_files.tmet, [seg.tmet_raw], session.durable)
        fileio.fsync_dir(tmp_seg, session.durable)
        if new_channel:
            fileio.fsync_dir(tmp_root, session.durable)
            fileio.rename(tmp_root, chan.directory)
            fileio.fsync_dir(session.path, session.durable)
        else:
            fileio.rename(tmp_root, os.path.join(chan.directory, seg_name + SEGMENT_EXT))
            fileio.fsync_dir(chan.directory, session.durable)
    except BaseException:
        fileio.remove_tree(tmp_root)
        raise
    seg.files = SegmentFiles(chan.directory, chan.name, number)
    seg.sizes = seg.fingerprint()
    chan.last = seg


def _new_header(file_type, n_entries, max_entry, common, body_crc):
    uuid = headers.new_uuid()
    header = headers.build_universal_header(file_type, n_entries=n_entries, max_entry=max_entry, file_uuid=uuid,
                                            provenance_uuid=uuid, **common)
    return headers.seal(header, body_crc)


def append(session, seg, blocks, end_time, rto, on_chunk=None, before_commit=None):
    """Append `blocks` (counts, starts, nsamp, times, flags; possibly none, to complete an
    interrupted append) to segment `seg` (a SegmentState), in five flushed steps.

    ``on_chunk(n)`` is called after each encoded chunk and ``before_commit()`` once the
    blocks are written, before the first index entry is: either may raise
    KeyboardInterrupt or CancelledError to stop the append, which then cuts the data
    file back to its committed blocks (the segment is as before the call). Once the
    index is being extended the append runs to its end.
    """
    counts, starts, nsamp, times, flags = blocks
    files = seg.files
    durable = session.durable
    # .tidx start_sample continues the segment's own numbering: segment-relative in our
    # files and meflib's, channel-wide in mef3io's
    if seg.n_blocks:
        first_sample = int(seg.index[-1]["start_sample"]) + int(seg.index[-1]["number_of_samples"])
    else:
        first_sample = 0
    # 1. RED blocks after the last indexed block
    fd = fileio.open_write(files.tdat)
    try:
        tdat_body = BodyWriter(fd, seg.indexed_end, seg.tdat_crc)
        try:
            encoded = encode(counts, starts, nsamp, times, flags, rto, tdat_body, session.threads, on_chunk)
            fileio.truncate_after(fd, tdat_body.pos)  # bytes a crashed append left behind
            fileio.fsync(fd, durable)
            if before_commit is not None:
                before_commit()
        except (KeyboardInterrupt, CancelledError):
            # stopped before any index entry: the unindexed bytes go (readers ignore them anyway;
            # any other failure leaves them, as a crash would, to the next Writer's repair)
            fileio.truncate_after(fd, seg.indexed_end)
            fileio.fsync(fd, durable)
            raise
    finally:
        fileio.close(fd)
    new_entries = index_entries(seg.indexed_end, first_sample, nsamp, encoded, flags)
    index = np.concatenate((seg.index, new_entries))
    start_stored, end_stored = to_stored(seg.start_time, rto), to_stored(end_time, rto)
    # 2. index entries after the committed ones, 3. index header
    body = new_entries.tobytes()
    tidx_crc = _red.crc32(body, crc=seg.tidx_crc)
    fd = fileio.open_write(files.tidx)
    try:
        at = UNIVERSAL_HEADER_BYTES + seg.n_blocks * TIME_SERIES_INDEX_BYTES
        fileio.pwrite_all(fd, body, at)
        fileio.truncate_after(fd, at + len(body))
        fileio.fsync(fd, durable)
        tidx_header = headers.patch_header(seg.tidx_header, number_of_entries=len(index), start_time=start_stored,
                                           end_time=end_stored, maximum_entry_size=TIME_SERIES_INDEX_BYTES)
        headers.seal(tidx_header, tidx_crc)
        _rewrite_header(fd, seg.tidx_header, tidx_header)
        fileio.fsync(fd, durable)
    finally:
        fileio.close(fd)
    # 4. data header
    max_samples = int(max(int(index["number_of_samples"].max()), 1))
    tdat_header = headers.patch_header(seg.tdat_header, number_of_entries=len(index), start_time=start_stored,
                                       end_time=end_stored, maximum_entry_size=max_samples)
    headers.seal(tdat_header, tdat_body.crc)
    fd = fileio.open_write(files.tdat)
    try:
        _rewrite_header(fd, seg.tdat_header, tdat_header)
        fileio.fsync(fd, durable)
    finally:
        fileio.close(fd)
    # 5. metadata
    seg.index = index
    seg.indexed_end = tdat_body.pos
    seg.tdat_crc = tdat_body.crc
    seg.tidx_crc = tidx_crc
    seg.tdat_header = tdat_header
    seg.tidx_header = tidx_header
    seg.end_time = end_time
    seg.max_difference_bytes = max(seg.max_difference_bytes, encoded.max_difference_bytes)
    seg.fill_section2()
    tmet_header = headers.patch_header(seg.tmet_raw, end_time=end_stored, start_time=start_stored,
                                       number_of_entries=1, maximum_entry_size=METADATA_FILE_BYTES)
    seg.tmet_raw = metadata.build_tmet(tmet_header, seg.s2, None, session.keys, previous=seg.tmet_raw,
                                       path=session.path)
    fileio.replace_file(files.tmet, seg.tmet_raw, durable)
    seg.sizes = seg.fingerprint()


#: the bytes of a header rewritten in place: the fields an append changes (CRCs, times,
#: counts) all lie in the first disk sector, so that a power cut mid-write leaves either
#: the old header or the new one, never a mix of the two
HEADER_SECTOR = 512


def _rewrite_header(fd, old, new):
    """Write the first sector of a universal header over the old one (the rest is unchanged)."""
    if bytes(old[HEADER_SECTOR:UNIVERSAL_HEADER_BYTES]) != bytes(new[HEADER_SECTOR:UNIVERSAL_HEADER_BYTES]):
        fileio.pwrite_all(fd, new, 0)  # (not an append's header: written whole)
    else:
        fileio.pwrite_all(fd, bytes(new[:HEADER_SECTOR]), 0)
