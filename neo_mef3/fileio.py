"""Local file I/O: the package's only reads and writes of whole files and byte ranges.

Reading turns an ``OSError`` into a :class:`~neo_mef3.errors.FormatError` naming the
file. Writing follows one discipline everywhere: a file that replaces another is written
complete under a temporary name (``.<name>.neo_mef3-tmp``, which no reader lists),
flushed, then renamed over it, and the directory is flushed after the rename. With
``durable=False`` the order is kept and the flushes (``fsync``) are left out.

Every change a write makes to the disk goes through the few primitives of the
"writing" part below (:func:`open_write`, :func:`pwrite_all`, :func:`truncate`,
:func:`fsync`, :func:`close`, :func:`fsync_dir`, :func:`make_directories`,
:func:`rename`, :func:`remove_file`, :func:`remove_tree`), looked up as attributes of
this module at call time: the crash tests replace :func:`fsync` and :func:`pwrite_all`
to stop a write between its steps, and the power-loss campaign (``fuzz/powerloss.py``)
wraps all of them to record a write's system calls and replay them onto a model disk.
"""

import os
import shutil

from ._red import crc32
from .errors import FormatError

#: suffix of the temporary files and directories of a write in progress
TMP_SUFFIX = ".neo_mef3-tmp"
#: a CRC-32 before any byte (the value meflib's running CRCs start from)
CRC_START = 0xFFFFFFFF
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_O_WRITE = os.O_RDWR | getattr(os, "O_BINARY", 0)


# --- reading -------------------------------------------------------------------------
def read_file(path, what="", expected=None):
    """The whole file at `path` (FormatError naming it, and `what` it is, if unreadable).

    ``os.open``/``os.read``: about half the cost of ``open().read()`` for the small
    metadata and index files a session has thousands of. With `expected` (the size
    such a file has) there is no ``fstat``: a read of ``expected + 1`` bytes that comes
    back short is the whole file; one that does not is followed by more reads.
    """
    what = f"{what} file" if what else "file"
    try:
        fd = os.open(path, _O_READ)
    except FileNotFoundError:
        raise FormatError(f"{what} is missing", path) from None
    except OSError as exc:
        raise FormatError(f"cannot read {what} ({exc.strerror})", path) from None
    try:
        want = (os.fstat(fd).st_size if expected is None else expected) + 1  # more reads only if it grew
        chunk = os.read(fd, want)
        if len(chunk) < want:  # a short read of a regular file: its end
            return chunk
        chunks = [chunk]
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FormatError(f"cannot read {what} ({exc.strerror})", path) from None
    finally:
        os.close(fd)


def open_read(path):
    """A file descriptor for positional reads (:func:`os.pread`); OSError if it cannot open."""
    return os.open(path, _O_READ)


def pread(path, n, offset=0):
    """Up to `n` bytes of the file at `path` from `offset` (OSError as raised)."""
    fd = os.open(path, _O_READ)
    try:
        return os.pread(fd, n, offset)
    finally:
        os.close(fd)


def size(path):
    """The file's size in bytes, or None when it cannot be looked at."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def file_crc(path, start, stop=None, crc=CRC_START):
    """CRC-32 of bytes [start, stop) of a file (stop None: to its end), continuing `crc`.

    FormatError when the file ends before `stop`.
    """
    with open(path, "rb") as f:
        f.seek(start)
        left = None if stop is None else stop - start
        while left is None or left > 0:
            buf = f.read(1 << 24 if left is None else min(left, 1 << 24))
            if not buf:
                if left is None:
                    break
                raise FormatError(f"file ends before byte {stop}", path)
            crc = crc32(buf, crc=crc)
            if left is not None:
                left -= len(buf)
    return crc


# --- writing -------------------------------------------------------------------------
def fsync(fd, durable=True):
    """Flush a file's data to the disk (nothing without `durable`): a write's step boundary."""
    if durable:
        os.fsync(fd)


def fsync_dir(path, durable=True):
    """Flush a directory (new or renamed entries); silently skipped where unsupported."""
    if not durable:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def open_write(path, create=False):
    """A file descriptor for positional writes; `create` makes (or empties) the file."""
    if create:
        return os.open(path, _O_WRITE | os.O_CREAT | os.O_TRUNC, 0o644)
    return os.open(path, _O_WRITE)


def pwrite_all(fd, data, offset):
    """Write all of `data` at `offset` (``os.pwrite`` may write less per call)."""
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def truncate(fd, end):
    """Set the file's size to `end` bytes."""
    os.ftruncate(fd, end)


def truncate_after(fd, end):
    """Cut the file to `end` bytes if it is longer (what an interrupted write left)."""
    if os.fstat(fd).st_size > end:
        truncate(fd, end)


def close(fd):
    """Close a descriptor from :func:`open_write`."""
    os.close(fd)


def make_directories(path):
    """Create a directory and its missing parents (``os.makedirs``)."""
    os.makedirs(path)


def rename(src, dst):
    """Rename a file or a directory (``os.replace``: an existing file `dst` is replaced)."""
    os.replace(src, dst)


def remove_file(path):
    """Delete one file."""
    os.remove(path)


def remove_tree(path):
    """Delete a directory and everything in it (what is already gone is skipped)."""
    shutil.rmtree(path, ignore_errors=True)


def create_directory(path, durable=True):
    """Create `path` (and missing parents) so that it survives a power loss: each new
    directory's entry is flushed in its parent. Nothing happens if it exists."""
    path = os.path.abspath(path)
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    if not missing:
        return
    make_directories(path)
    for d in reversed(missing):
        fsync_dir(os.path.dirname(d), durable)


def write_new_file(path, chunks, durable=True):
    """Create (or empty) `path` and write byte chunks to it, flushed before returning."""
    fd = open_write(path, create=True)
    try:
        pos = 0
        for c in chunks:
            pwrite_all(fd, c, pos)
            pos += len(c)
        fsync(fd, durable)
    finally:
        close(fd)


def temporary_path(path):
    """Where a write prepares `path`: ``.<name>.neo_mef3-tmp`` in the same directory."""
    d, base = os.path.split(path)
    return os.path.join(d, f".{base}{TMP_SUFFIX}")


def is_temporary(name):
    """True for the name of a temporary file or directory of a write in progress."""
    return name.endswith(TMP_SUFFIX)


def replace_files(files, durable=True):
    """Atomically replace each path of `files` (path -> list of chunks), in order.

    Every file is complete on disk under its temporary name before the first one
    replaces its predecessor; each rename is flushed (its directory) before the next, so
    that after a power cut the files are replaced in the order given, never a later one
    without the earlier ones.
    """
    temporaries = []
    for path, chunks in files.items():
        tmp = temporary_path(path)
        write_new_file(tmp, chunks, durable)
        temporaries.append((tmp, path))
    for tmp, path in temporaries:
        rename(tmp, path)
        fsync_dir(os.path.dirname(path), durable)


def replace_file(path, data, durable=True):
    """Atomically replace `path` with `data` (temporary file, flush, rename)."""
    replace_files({path: [data]}, durable)


def remove_files(paths, durable=True):
    """Remove the files that exist among `paths`, in order, each removal flushed (its
    directory) before the next."""
    for p in paths:
        if os.path.exists(p):
            remove_file(p)
            fsync_dir(os.path.dirname(p), durable)


def stale_temporaries(directory):
    """Paths of what interrupted writes left in `directory` (hidden temporary names)."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, e) for e in entries if e.startswith(".") and is_temporary(e)]


def remove_stale_temporaries(directory):
    """Delete what interrupted writes left in `directory`; returns the paths removed."""
    found = stale_temporaries(directory)
    for p in found:
        if os.path.isdir(p):
            remove_tree(p)
        else:
            try:
                remove_file(p)
            except OSError:
                pass
    return found
