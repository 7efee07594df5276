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
    A small picklable value (built of str, int, float, bool, None, tuples and dicts;
    a remote source's holds its storage options, or the fsspec file system it was
    given) from which :func:`open_source` makes an equivalent source in another
    process. It may hold credentials: :func:`redact_description` gives one fit for a
    file or a log, :func:`describe_location` what may be shown.
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
``scan_session(names, probe=False, threads=1, executor=None, first_only=False)``
    The same scans as one :class:`~neo_mef3.session.SessionScan` (a table of all the
    channels' segments), what a Reader opens channels from, using up to `threads`
    threads (the Reader's count; `executor()` gives its pool, for a source whose scan
    runs Python); ``first_only``: each channel's first segment only (what checking
    the password needs). The base class joins what :meth:`scan_channels` gives
    (``session.join_scans``); the local source lists and reads a whole session in two
    passes of the C scan on threads of its own, its segments split evenly.
``change_tokens(paths, threads=1)`` (optional: ``supports_change_tokens()``)
    For the metadata cache (:mod:`neo_mef3.reader.cache`): ``(tokens, newest)``,
    ``tokens`` an int64 array with one row per path ('/'-separated, relative to the
    session, "." itself; files and directories), rows equal exactly when nothing
    changed (a missing path's row is negative); ``newest`` the latest change time in
    ns, or None when the tokens are not times (an ETag does not race with a clock).
    Local: ``(size, mtime_ns, ctime_ns, inode)`` by one ``fstatat`` a path. Listed
    sources (remote stores, archives) give none: their tokens (size, ETag) come only
    with a fresh listing, what a warm open would save. ``use_tree(tree)`` takes a
    listing the cache kept instead of listing the session again.
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
    Release what the source keeps (the Reader closes its RangeFiles itself). A source
    stays usable after it (it opens again what it needs), so one source may serve
    several Readers one after another.

A source owns no threads and no locks (a Reader shares it between its threads; reads
are positional): fork safety stays with the Reader. A source that must own some
registers itself with :mod:`neo_mef3.forksafe`. A remote source uses fsspec's event
loop thread (fsspec's own): in a forked child it makes its file system again when
first used.

The sources
-----------
* :class:`~neo_mef3.source.local.LocalSource`: a local directory. It scans channels
  with the C scan (``neo_mef3._scan``: one directory listing and every ``.tmet`` judged
  in bulk, outside the GIL) and reads with ``os.pread`` on kept file descriptors:
  exactly what the Reader did before the seam existed.
* :class:`~neo_mef3.source.remote.FsspecSource`: a session directory on any fsspec
  file system (S3, HTTP(S), GCS, Azure, ...), listed once and fetched in batches of
  concurrent requests.
* :class:`~neo_mef3.source.archive.ArchiveSource`: a session packed as one
  uncompressed ``.tar`` or ``.zip``, local or remote, read in place.

The last two share :class:`~neo_mef3.source.listed.ListedSource`: the tree from one
listing, ``.tmet`` images fetched in one batch and judged by ``session.channel_scan``.
"""

import os

from .base import ByteSource, RangeFile, merge_ranges
from .local import LocalRangeFile, LocalSource
from .locations import is_archive, is_url, redact_options, shown_url

__all__ = ["ByteSource", "RangeFile", "LocalSource", "LocalRangeFile", "open_source", "merge_ranges", "is_url",
           "is_archive", "shown_url", "redact_options", "describe_location", "redact_description"]


def open_source(location, storage_options=None, fs=None):
    """A ByteSource for `location`: a ByteSource (returned as is), a description made
    by ``ByteSource.describe()``, a local path (str or path-like), or a URL any fsspec
    file system reads (``s3://``, ``https://``, ``gs://``, ``simplecache::s3://``, ...)
    with its ``storage_options``; with ``fs`` (an ``fsspec.AbstractFileSystem``),
    `location` is a path on that file system. A name ending in ``.tar`` or ``.zip`` is
    a packed session, read in place."""
    if isinstance(location, ByteSource):
        if storage_options or fs is not None:
            raise ValueError("storage_options and fs go with a path or URL, not with a ready byte source")
        return location
    if isinstance(location, dict):
        kind = location.get("kind")
        if kind == "local":
            return _local(location["location"])
        if kind == "fsspec":
            return _remote(location["url"], location.get("storage_options"), location.get("fs"))
        raise ValueError(f"unknown byte source kind {kind!r}")
    path = os.fspath(location)
    if fs is not None:
        return _remote(path, storage_options, fs)
    if is_url(path):
        if path.startswith("file://") and not storage_options:
            return _local(path[len("file://"):])  # (the local fast path)
        return _remote(path, storage_options, None)
    if storage_options:
        raise ValueError("storage_options apply to URLs (s3://, https://, ...), not to a local path")
    return _local(path)


def _local(path):
    if is_archive(path) and os.path.isfile(path):
        from .archive import local_archive

        return local_archive(path)
    return LocalSource(path)


def _remote(url, storage_options, fs):
    if is_archive(url.split("::")[-1]):
        from .archive import remote_archive

        return remote_archive(url, storage_options, fs)
    from .remote import FsspecSource

    return FsspecSource(url, storage_options, fs)


def describe_location(location):
    """A location (a path, a URL, a ``describe()`` value) as it may be shown or logged:
    no credentials, no storage options' values."""
    if isinstance(location, dict):
        shown = location.get("url") or location.get("location")
        return shown_url(shown) if isinstance(shown, str) and is_url(shown) else shown
    if isinstance(location, ByteSource):
        return location.location
    if isinstance(location, str) and is_url(location):
        return shown_url(location)
    return location


def redact_description(location):
    """A ``describe()`` value fit for a file or a log: storage options' secrets and a
    given file system (which carries its own) left out, the URL shown without
    credentials. Opening it uses the credentials of the environment it is opened in."""
    if not isinstance(location, dict) or location.get("kind") != "fsspec":
        return location
    out = {"kind": "fsspec", "url": shown_url(location["url"])}
    if location.get("storage_options"):
        out["storage_options"] = {k: v for k, v in redact_options(location["storage_options"]).items()
                                  if v == location["storage_options"][k]}
    return out
