"""The byte-source seam: every byte of a session a Reader reads comes through here.

A :class:`ByteSource` answers for one session: it lists the tree, scans channels, reads
small files whole (one, or many in a batch), sizes and probes files, and opens data
files for byte-range reads (:class:`RangeFile`). The Reader's logic (what to read, how
to judge and decode it) never touches storage itself, so a new kind of storage is a new
ByteSource and nothing else. :func:`open_source` turns what a user passes (a path, a
description, a ready source) into one.

Contract
--------
Paths are the strings the source's own :class:`~neo_mef3.session.SessionTree` and
:class:`~neo_mef3.session.SegmentFiles` make (``tree.segment_files``), never built by
the caller; a source only has to understand its own.

``location``
    The session's path or URL, as shown in messages (never a secret).
``describe()``
    A small picklable value (built of str, int, float, bool, None, tuples and dicts)
    from which :func:`open_source` makes an equivalent source in another process.
``list_session()``
    (a) The whole tree in one call: a :class:`~neo_mef3.session.SessionTree` (its
    channels); FormatError when the location is not a session.
``scan_channels(names, probe=False, executor=None, parts=1)``
    One :class:`~neo_mef3.session.ChannelScan` per channel name (or the MefError that
    channel raised, in its place), made with ``metadata_bytes=METADATA_FILE_BYTES``,
    ``keep=headers.SCAN_KEEP``, ``field_offsets=headers.SCAN_FIELDS``,
    ``fs_offset=headers.SCAN_FS_OFFSET``: the segments found, the head and fields of
    every ``.tmet``, the source's judgement of each image (``plain``) and, with
    ``probe``, every ``.tidx`` size and which record files exist. A source may spread
    the work over `executor` (a ``concurrent.futures`` executor, in about `parts`
    pieces) or fetch everything in one batch; the results are the same.
``read_files(paths, what="", expected=None)``
    (b) Many small files whole, in one call: a list with, per path, its bytes or the
    FormatError reading it raised. ``expected`` is the size such a file normally has.
``read_file(path, what="", expected=None)``
    One file whole; FormatError (``"<what> file is missing"``, ``"cannot read <what>
    file (...)"``) naming it.
``sizes(paths)`` / ``size(path)``
    File sizes in bytes, None for a file that cannot be looked at.
``exists(path)``
    Whether a file is there (records files are optional).
``open(path)``
    (c) A :class:`RangeFile` for byte ranges of one (large) file, kept open until
    closed; OSError when it cannot be opened.
``close()``
    Release what the source keeps (the Reader closes its RangeFiles itself).

A source owns no threads and no locks (a Reader shares it between its threads; reads
are positional): fork safety stays with the Reader. A source that must own some
registers itself with :mod:`neo_mef3.forksafe`.

The local source (:class:`~neo_mef3.source.local.LocalSource`) scans channels with the
C scan (``neo_mef3._scan``: one directory listing and every ``.tmet`` judged in bulk,
outside the GIL) and reads with ``os.pread`` on kept file descriptors: exactly what the
Reader did before the seam existed.
"""

import os

from .base import ByteSource, RangeFile
from .local import LocalRangeFile, LocalSource

__all__ = ["ByteSource", "RangeFile", "LocalSource", "LocalRangeFile", "open_source"]


def open_source(location):
    """A ByteSource for `location`: a ByteSource (returned as is), a description made
    by ``ByteSource.describe()``, or a local path (str or path-like)."""
    if isinstance(location, ByteSource):
        return location
    if isinstance(location, dict):
        kind = location.get("kind")
        if kind == "local":
            return LocalSource(location["location"])
        raise ValueError(f"unknown byte source kind {kind!r}")
    return LocalSource(os.fspath(location))
