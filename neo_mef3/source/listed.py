"""Sources that know a session's whole tree from one listing: remote stores, archives.

:class:`ListedSource` implements the seam for any storage that can (1) list every file
of a session at once, with the sizes it knows, (2) fetch many byte ranges in one batch
and (3) give byte ranges of one file. It judges fetched ``.tmet`` images with
``session.channel_scan``, exactly as the C scan judges local ones; it answers
``sizes`` and ``exists`` from the listing (no request; sizes a listing lacks are
asked for in one batch); and it keeps the metadata images a scan fetched that the
Reader may read again (to decrypt them, to report what is wrong, or for the sections of
a segment other than a channel's first), so that each is fetched once.

The listing is a snapshot taken when the session is opened: a file added later is not
seen, as for a Reader that has already scanned a local channel.
"""

import errno
import os

import numpy as np

from ..errors import FormatError, MefError, RemoteError, RemoteNotFoundError
from ..format import headers
from ..format.layout import (
    METADATA_FILE_BYTES,
    RDAT,
    RIDX,
    SESSION_EXT,
    TDAT,
    TIDX,
    TS_CHANNEL_EXT,
    UNIVERSAL_HEADER_BYTES,
)
from ..session import SessionTree, channel_scan, record_flags, segments_in
from .base import ByteSource, RangeFile, read_merged

#: at most this many bytes of fetched ``.tmet`` images are kept for the Reader to read
#: again (a segment's sections beyond its header and fields are parsed when asked for)
KEEP_BYTES = 64 << 20
#: the other channels' ``.tmet`` files fetched with the first scan, at most (a session's
#: ``info()`` of every channel then costs no round trip per channel; a Reader of one
#: channel of a session of thousands of segments fetches a few MB more, not all)
PREFETCH_FILES = 256


class Listing:
    """A session's files as session-relative POSIX paths: ``files`` (path -> size in
    bytes, None where the listing did not say) and ``dirs`` (every directory, those
    only implied by a file's path included)."""

    def __init__(self, files, dirs=()):
        self.files = dict(files)
        self.dirs = {d.strip("/") for d in dirs if d.strip("/")}
        for f in self.files:
            parts = f.split("/")[:-1]
            for k in range(1, len(parts) + 1):
                self.dirs.add("/".join(parts[:k]))
        self._subdirs = {}  # directory -> names of the directories in it
        for d in self.dirs:
            parent, _, name = d.rpartition("/")
            self._subdirs.setdefault(parent, []).append(name)

    def channel_dirs(self):
        """The top-level ``*.timd`` directories."""
        return sorted(d for d in self._subdirs.get("", ()) if d.endswith(TS_CHANNEL_EXT))

    def segment_numbers(self, channel_dir, channel):
        """Sorted numbers of the channel's ``<channel>-NNNNNN.segd`` directories."""
        return self.segment_folders(channel_dir, channel)[0].tolist()

    def segment_folders(self, channel_dir, channel):
        """``(numbers, widths)`` of the channel's segment directories, as
        :func:`~neo_mef3.session.segments_in` gives them (other writers' ``ch1-0.segd``
        spellings included; two directories claiming one number: FormatError)."""
        return segments_in(self._subdirs.get(channel_dir, ()), channel, channel_dir)


class ListedSource(ByteSource):
    """The seam for a listable store (see the module docstring).

    A subclass sets ``location`` and implements :meth:`_list` (the :class:`Listing` and
    the session directory's path as shown), :meth:`_fetch` (a batch of ranges and
    sizes: bytes, sizes, or the MefError each raised, naming the file) and
    :meth:`_open_file` (a :class:`RangeFile`).
    """

    def __init__(self, location):
        self.location = location
        self._tree = None
        self._listing = None
        self._kept = {}  # relative path -> the bytes (or error) a scan fetched, for one more read
        self._kept_bytes = 0
        self._prefetched = False  # (the metadata of every channel fetched with the first scan)
        self._records_fetched = False  # (every records file fetched with the first one asked for)
        self._heads = {}  # data file -> its universal header, fetched with its index
        self._widths = {}  # channel -> the digits of its segment folders' numbers (None: MEF's six)

    # --- what a subclass provides -----------------------------------------------------
    def _list(self):
        """(Listing, the session directory's path as its tree shows it)."""
        raise NotImplementedError

    def _fetch(self, gets, stats):
        """One batch: for each ``(rel, start, stop)`` of `gets` (``stop`` None: to the
        end) its bytes, for each relative path of `stats` its size; each an exception
        (a MefError naming the file) where that failed."""
        raise NotImplementedError

    def _open_file(self, rel, size):
        raise NotImplementedError

    # --- paths ------------------------------------------------------------------------
    def shown_path(self, rel):
        """The path of a session-relative file as the tree makes it (and errors name it)."""
        return self.list_session().path + os.sep + rel.replace("/", os.sep)

    def _rel(self, path):
        root = self.list_session().path
        if not path.startswith(root) or path[len(root): len(root) + 1] not in (os.sep, "/"):
            raise ValueError(f"{path!r} is not a path of the session {root!r}")
        rel = path[len(root) + 1:]
        return rel.replace(os.sep, "/") if os.sep != "/" else rel

    # --- the seam -------------------------------------------------------------------
    def list_session(self):
        if self._tree is None:
            listing, root = self._list()
            base = root.rstrip("/").rsplit("/", 1)[-1]
            names = listing.channel_dirs()
            if not names and not base.endswith(SESSION_EXT):
                raise FormatError("not a MEF 3.0 session: no '.timd' channel directories and no '.mefd' suffix",
                                  root)
            self._listing = listing
            self._tree = SessionTree.from_listing(
                root, {d[: -len(TS_CHANNEL_EXT)]: root + os.sep + d for d in names})
        return self._tree

    def _plan_or_error(self, name):
        try:
            return self._plan(name)
        except MefError as exc:
            return exc

    def _plan(self, name):
        """(name, channel dir, segment numbers, per segment its .tmet, .tidx, .rdat, .ridx,
        .tdat) as relative paths."""
        tree = self.list_session()
        cdir = self._rel(tree.channel_dirs[name])
        numbers, widths = self._listing.segment_folders(cdir, name)
        numbers = numbers.tolist()
        self._widths[name] = widths
        segs = [tuple(self._rel(p) for p in (f.tmet, f.tidx, f.rdat, f.ridx, f.tdat))
                for f in tree.segment_files(name, numbers, widths)]
        return name, cdir, numbers, segs

    def _metadata_requests(self, plans, budget):
        """The .tmet fetches (within `budget` bytes) and the sizes the listing lacks
        (HTTP: the index's and the data file's, known then when blocks are read)."""
        files = self._listing.files
        gets, stats = [], []
        for _, _, _, segs in plans:
            for tmet, tidx, _, _, tdat in segs:
                if tmet in files and tmet not in self._kept:
                    if budget < METADATA_FILE_BYTES:
                        return gets, stats
                    budget -= METADATA_FILE_BYTES
                    gets.append((tmet, 0, METADATA_FILE_BYTES + 1))
                stats += [r for r in (tidx, tdat) if r in files and files[r] is None]
        return gets, stats

    def scan_channels(self, names, probe=False, executor=None, parts=1):
        tree = self.list_session()
        files = self._listing.files
        plans = [self._plan_or_error(name) for name in names]
        gets, stats = self._metadata_requests([p for p in plans if not isinstance(p, MefError)], float("inf"))
        extra = []
        if not self._prefetched:  # the first scan also fetches the other channels' metadata
            self._prefetched = True
            asked = set(names)
            others = [p for p in (self._plan_or_error(n) for n in tree.channels if n not in asked)
                      if not isinstance(p, MefError)]
            budget = min(KEEP_BYTES - self._kept_bytes, PREFETCH_FILES * METADATA_FILE_BYTES)
            extra, extra_stats = self._metadata_requests(others, budget)
            stats += extra_stats
        fetched, sized = self._fetch(gets + extra, stats) if gets or extra or stats else ([], [])
        images = {rel: got for (rel, _, _), got in zip(gets, fetched)}
        for (rel, _, _), got in zip(extra, fetched[len(gets):]):
            self._keep(rel, got)
        images.update(self._kept)
        sizes = dict(zip(stats, sized))
        for rel, size in sizes.items():
            if isinstance(size, int):
                files[rel] = size
        out = []
        for plan in plans:
            if isinstance(plan, MefError):  # (two segment folders claiming one number)
                out.append(plan)
                continue
            name, cdir, numbers, segs = plan
            try:
                out.append(self._scan_one(name, cdir, numbers, segs, images, sizes, probe))
            except MefError as exc:
                out.append(exc)
        return out

    def _keep(self, rel, image):
        """Keep a whole ``.tmet`` image (within KEEP_BYTES) for its one further read."""
        if (isinstance(image, bytes) and len(image) <= METADATA_FILE_BYTES and rel not in self._kept
                and self._kept_bytes + len(image) <= KEEP_BYTES):
            self._kept[rel] = image
            self._kept_bytes += len(image)

    def _scan_one(self, name, cdir, numbers, segs, images, sizes, probe):
        files = self._listing.files
        got = []
        for tmet, _, _, _, _ in segs:
            image = images.get(tmet) if tmet in files else None
            if image is None:
                got.append(-errno.ENOENT)
            elif isinstance(image, RemoteNotFoundError):
                got.append(-errno.ENOENT)
            elif isinstance(image, RemoteError):
                raise image  # (a transfer failed: the channel cannot be judged)
            elif isinstance(image, Exception):
                got.append(-errno.EIO)
                self._kept[tmet] = image  # (read_file raises it, with the reason)
            else:
                got.append(image)
        index_sizes = flags = ch_flags = None
        if probe:
            index_sizes = []
            for _, tidx, _, _, _ in segs:
                size = sizes.get(tidx, files.get(tidx)) if tidx in files else -errno.ENOENT
                if isinstance(size, RemoteError) and not isinstance(size, RemoteNotFoundError):
                    raise size
                if isinstance(size, int) and tidx in files:
                    files[tidx] = size
                index_sizes.append(size if isinstance(size, int) else -errno.ENOENT)
            flags = [record_flags(rdat in files, ridx in files) for _, _, rdat, ridx, _ in segs]
            base = f"{cdir}/{name}"
            ch_flags = record_flags(f"{base}.{RDAT}" in files, f"{base}.{RIDX}" in files)
        scan = channel_scan(np.array(numbers, np.int64), got, METADATA_FILE_BYTES, headers.SCAN_KEEP,
                            headers.SCAN_FIELDS, headers.SCAN_FS_OFFSET, index_sizes, flags, ch_flags,
                            self._widths.get(name))
        for (tmet, _, _, _, _), image in zip(segs, got):
            self._keep(tmet, image)
        return scan

    def read_files(self, paths, what="", expected=None):
        self.list_session()
        files = self._listing.files
        out = [None] * len(paths)
        todo = []
        label = f"{what} file" if what else "file"
        for i, p in enumerate(paths):
            rel = self._rel(p)
            kept = self._kept.pop(rel, None)
            if kept is not None:
                out[i] = kept
                self._kept_bytes -= len(kept) if isinstance(kept, bytes) else 0
            elif rel not in files:
                out[i] = FormatError(f"{label} is missing", p)
            else:
                todo.append((i, rel))
        if todo:
            gets = [(rel, 0, files[rel]) for _, rel in todo]
            extra = self._companions([rel for _, rel in todo])
            fetched, _ = self._fetch(gets + extra, [])
            for (i, _), got in zip(todo, fetched):
                out[i] = got
            for (rel, _, _), got in zip(extra, fetched[len(gets):]):
                if isinstance(got, bytes) and rel.endswith(TDAT):
                    self._heads[rel] = got
                elif isinstance(got, bytes):
                    self._kept[rel] = got
                    self._kept_bytes += len(got)
        return out

    def _companions(self, rels):
        """What the Reader asks for next, fetched in the same batch: with a ``.tidx`` its
        data file's header (checked before the first block is read); with the first
        records file, every records file of the session (a Reader's records come
        level by level, file by file)."""
        files = self._listing.files
        out = []
        for rel in rels:
            if rel.endswith(TIDX):
                tdat = rel[: -len(TIDX)] + TDAT
                if tdat in files and tdat not in self._heads:
                    out.append((tdat, 0, UNIVERSAL_HEADER_BYTES))
        if not self._records_fetched and any(rel.endswith(RDAT) for rel in rels):
            self._records_fetched = True
            budget = KEEP_BYTES // 4
            for rel, size in sorted(files.items()):
                if rel.endswith(RDAT) and rel not in rels and rel not in self._kept and (size or 0) <= budget:
                    budget -= size or 0
                    out.append((rel, 0, size))
        return out

    def take_head(self, rel, stop):
        """The first `stop` bytes of a data file, if its header came with its index (once)."""
        head = self._heads.pop(rel, None) if stop <= UNIVERSAL_HEADER_BYTES else None
        return None if head is None else head[:stop]

    def sizes(self, paths):
        self.list_session()
        files = self._listing.files
        rels = [self._rel(p) for p in paths]
        unknown = sorted({r for r in rels if r in files and files[r] is None})
        if unknown:
            _, sized = self._fetch([], unknown)
            for r, size in zip(unknown, sized):
                if isinstance(size, RemoteError) and not isinstance(size, RemoteNotFoundError):
                    raise size
                if isinstance(size, int):
                    files[r] = size
        return [files.get(r) for r in rels]

    def exists(self, path):
        self.list_session()
        return self._rel(path) in self._listing.files

    def open(self, path):
        self.list_session()
        rel = self._rel(path)
        if rel not in self._listing.files:
            raise FileNotFoundError(errno.ENOENT, "No such file", path)
        size = self._listing.files[rel]
        if size is None:  # (asked for once: a read past the end is an error on some stores)
            size = self.sizes([path])[0]
        return self._open_file(rel, size)

    def files(self):
        """Every file of the session: ``(path, size or None)``, paths as the tree makes them."""
        self.list_session()
        return [(self.shown_path(rel), size) for rel, size in sorted(self._listing.files.items())]

    def directories(self):
        """Every directory under the session's, as the tree makes their paths."""
        self.list_session()
        return [self.shown_path(d) for d in sorted(self._listing.dirs)]

    def close(self):
        self._kept.clear()
        self._kept_bytes = 0
        self._heads.clear()


class ListedRangeFile(RangeFile):
    """Byte ranges of one file of a :class:`ListedSource`, each batch of ranges one
    ``_fetch`` (merged ranges, fetched together)."""

    def __init__(self, source, rel, size):
        self.source = source
        self.rel = rel
        self.size = size
        self.path = source.shown_path(rel)

    def read(self, start, stop):
        if start == 0:
            head = self.source.take_head(self.rel, stop)
            if head is not None:
                return head
        return self.read_ranges([(start, stop)])[0]

    def read_ranges(self, ranges, merge_gap=0):
        def fetch(spans):
            fetched, _ = self.source._fetch([(self.rel, lo, hi) for lo, hi in spans], [])
            for data in fetched:
                if isinstance(data, Exception):
                    raise data
            return fetched

        return read_merged(ranges, merge_gap, self.size, fetch)

    def close(self):
        pass
