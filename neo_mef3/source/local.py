"""The local byte source: a session directory on this machine's file system.

Channels are scanned by :func:`neo_mef3.session.scan_channel` (the C scan where it is
built: the listing and every ``.tmet`` read and judged in C, outside the GIL, so that the
executor's threads scan several channels at once); small files are read with
``fileio.read_file``; data files are kept open and read with ``os.pread``.
"""

import os

import numpy as np

from .. import fileio
from ..errors import MefError
from ..format import headers
from ..format.layout import METADATA_FILE_BYTES
from ..session import SessionTree, path_tokens, scan_channel, scan_session
from .base import ByteSource, RangeFile


class LocalRangeFile(RangeFile):
    """A file descriptor kept open for positional reads (thread-safe, fork-safe)."""

    __slots__ = ("path", "_fd")

    def __init__(self, path):
        self.path = path
        self._fd = fileio.open_read(path)

    def read(self, start, stop):
        return os.pread(self._fd, stop - start, start)

    if hasattr(os, "preadv"):  # (POSIX; elsewhere the base class copies)
        def read_into(self, start, buf):
            view = memoryview(buf).cast("B")
            done = 0
            while done < len(view):
                got = os.preadv(self._fd, [view[done:]], start + done)
                if got == 0:
                    break
                done += got
            return done

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LocalSource(ByteSource):
    """A ``.mefd`` directory on a local file system (see :mod:`neo_mef3.source`)."""

    def __init__(self, path):
        path = os.fspath(path)
        self.location = os.path.abspath(path.rstrip("/\\") or path)
        self._tree = None

    def describe(self):
        return {"kind": "local", "location": self.location}

    def list_session(self):
        if self._tree is None:
            self._tree = SessionTree(self.location)
        return self._tree

    def scan_channels(self, names, probe=False, executor=None, parts=1):
        tree = self.list_session()

        def scan(chunk):
            out = []
            for name in chunk:
                try:
                    out.append(scan_channel(tree.channel_dirs[name], name, METADATA_FILE_BYTES,
                                            keep=headers.SCAN_KEEP, field_offsets=headers.SCAN_FIELDS,
                                            probe=probe, fs_offset=headers.SCAN_FS_OFFSET))
                except MefError as exc:
                    out.append(exc)
            return out

        names = list(names)
        if executor is None or parts <= 1 or len(names) < 2:
            return scan(names)
        # a few chunks per thread: a channel of one segment scans in ~20 us, less than a
        # task hand-off
        chunks = np.array_split(np.array(names, dtype=object), min(len(names), parts))
        return [s for part in executor.map(scan, chunks) for s in part]

    def scan_session(self, names, probe=False, threads=1, executor=None, first_only=False):
        # (the channel directories of a local tree are <name>.timd in the session's; the
        # C scan runs on threads of its own)
        return scan_session(self.list_session().path, names, METADATA_FILE_BYTES, headers.SCAN_KEEP,
                            headers.SCAN_FIELDS, headers.SCAN_FS_OFFSET, probe, threads, first_only)

    def supports_change_tokens(self):
        return True

    def change_tokens(self, paths, threads=1):
        return path_tokens(self.location, paths, threads)

    def use_tree(self, tree):
        self._tree = tree

    def read_files(self, paths, what="", expected=None):
        out = []
        for p in paths:
            try:
                out.append(fileio.read_file(p, what, expected))
            except MefError as exc:
                out.append(exc)
        return out

    def read_file(self, path, what="", expected=None):
        return fileio.read_file(path, what, expected)

    def sizes(self, paths):
        return [fileio.size(p) for p in paths]

    def size(self, path):
        return fileio.size(path)

    def exists(self, path):
        # os.access: half the cost of os.path.exists for an absent file (no exception
        # raised and caught inside), and most segments have no records
        return os.access(path, os.F_OK)

    def open(self, path):
        return LocalRangeFile(path)

    def close(self):
        pass
