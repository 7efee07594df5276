"""A session as one uncompressed archive (``neo-mef3 pack``) and back (``neo-mef3 unpack``).

On an object store one object of a few GB is cheaper to keep, list and move than the
thousands a session's directory holds, and a Reader reads the archive in place
(:mod:`neo_mef3.source.archive`). A packed session is a ``.tar`` (POSIX pax) or a
``.zip``, never compressed (a window's blocks must stay byte ranges). The members come
in a fixed order -- the session directory, (in a tar) the index of the members,
the other directories, the small files (metadata, indices, records), then
the data files, each group sorted by name -- with fixed times, owners and modes, so
that one session always gives the same archive. The tar's index
(``source.archive.PACK_INDEX``) spares a reader the walk of its headers.

Unpacking accepts only directories and regular files under one session directory;
a member that is a link or a device, or whose name is absolute or leaves that
directory, refuses the whole archive before anything is written. Both directions
write under a temporary name and rename when complete (``tools.atomic``).
"""

import io
import os
import shutil
import stat
import tarfile
import zipfile

from .. import fileio
from ..errors import FormatError, MefError
from ..format.layout import SESSION_EXT, TDAT
from ..progress import Tracker
from ..session import SessionTree
from ..source.archive import PACK_INDEX, pack_index_bytes
from .atomic import atomic_output, check_output_outside

__all__ = ["pack_session", "unpack_session", "ARCHIVE_FORMATS"]

ARCHIVE_FORMATS = ("tar", "zip")
_TAR_FORMAT = tarfile.PAX_FORMAT
_ENCODING = "utf-8"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


def _members(src):
    """(directories, files) of a session directory as (archive name, path, size),
    in the archive's order; temporaries of interrupted writes and links left out."""
    top = os.path.basename(src)
    dirs, small, data = [(top, src, 0)], [], []
    for root, subdirs, names in os.walk(src):
        subdirs[:] = sorted(d for d in subdirs if not fileio.is_temporary(d)
                            and not os.path.islink(os.path.join(root, d)))
        rel = os.path.relpath(root, src)
        base = top if rel == "." else f"{top}/{rel.replace(os.sep, '/')}"
        for d in subdirs:
            dirs.append((f"{base}/{d}", os.path.join(root, d), 0))
        for n in sorted(names):
            p = os.path.join(root, n)
            if fileio.is_temporary(n) or n == PACK_INDEX or not os.path.isfile(p) or os.path.islink(p):
                continue
            (data if n.endswith("." + TDAT) else small).append((f"{base}/{n}", p, os.path.getsize(p)))
    return sorted(dirs), sorted(small) + sorted(data)


def pack_session(src, dst=None, *, overwrite=False, progress=None, cancel=None):
    """Pack the session directory `src` into `dst` (default ``<src>.tar``; a name ending
    ``.zip`` makes a zip). Returns a dict: destination, format, files, bytes."""
    src = os.path.abspath(os.fspath(src).rstrip("/\\"))
    SessionTree(src)  # (FormatError: not a session)
    if not os.path.isdir(src):
        raise FormatError("pack takes a session directory", src)
    dst = os.path.abspath(os.fspath(dst) if dst else src + ".tar")
    kind = dst.lower().rsplit(".", 1)[-1]
    if kind not in ARCHIVE_FORMATS:
        raise ValueError(f"the archive's name must end in .tar or .zip, got {os.path.basename(dst)!r}")
    check_output_outside(dst, [src])
    dirs, files = _members(src)
    total = sum(size for _, _, size in files)
    with Tracker(total, "pack", unit="B", progress=progress, cancel=cancel) as tracker:
        with atomic_output(dst, overwrite=overwrite) as tmp:
            (_write_tar if kind == "tar" else _write_zip)(tmp, dirs, files, tracker)
    return {"destination": dst, "format": kind, "files": len(files), "bytes": total}


def _tar_info(name, size=0, is_dir=False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.size = 0 if is_dir else size
    info.mode = 0o755 if is_dir else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _header_bytes(info):
    return len(info.tobuf(_TAR_FORMAT, _ENCODING, "surrogateescape"))


def _padded(n):
    return -(-n // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _tar_layout(top, dirs, files):
    """The index member's bytes and every file's data offset: the index's own size
    moves everything after it, so the layout is computed until it holds still."""
    index_name = f"{top}/{PACK_INDEX}"
    dir_infos = [_tar_info(name, is_dir=True) for name, _, _ in dirs]
    file_infos = [_tar_info(name, size) for name, _, size in files]
    size = 0
    while True:  # (the session directory, the index, the other directories, the files)
        pos = _header_bytes(dir_infos[0]) + _header_bytes(_tar_info(index_name, size)) + _padded(size)
        for info in dir_infos[1:]:
            pos += _header_bytes(info)
        offsets = []
        for info in file_infos:
            pos += _header_bytes(info)
            offsets.append(pos)
            pos += _padded(info.size)
        index = pack_index_bytes([name for name, _, _ in dirs],
                                 [(name, off, s) for (name, _, s), off in zip(files, offsets)])
        if len(index) == size:
            return index_name, index, dir_infos, file_infos, offsets
        size = len(index)


def _write_tar(path, dirs, files, tracker):
    top = dirs[0][0]
    index_name, index, dir_infos, file_infos, offsets = _tar_layout(top, dirs, files)
    with tarfile.open(path, "w", format=_TAR_FORMAT, encoding=_ENCODING, errors="surrogateescape") as tf:
        tf.addfile(dir_infos[0])
        tf.addfile(_tar_info(index_name, len(index)), io.BytesIO(index))
        for info in dir_infos[1:]:
            tf.addfile(info)
        for info, (_, p, _) in zip(file_infos, files):
            with open(p, "rb") as f:
                tf.addfile(info, f)
            tracker.advance(info.size)
    with tarfile.open(path, "r:", encoding=_ENCODING, errors="surrogateescape") as tf:  # (the index says true)
        written = {m.name: m.offset_data for m in tf if m.isreg()}
    for (name, _, _), off in zip(files, offsets):
        if written.get(name) != off:
            raise MefError(f"the tar's member {name!r} is not where its index says (a bug: please report it)", path)


def _write_zip(path, dirs, files, tracker):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, _, _ in dirs:
            info = zipfile.ZipInfo(name + "/", _ZIP_TIME)
            info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
            zf.writestr(info, b"")
        for name, p, size in files:
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = size
            with open(p, "rb") as f, zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
                shutil.copyfileobj(f, out, _CHUNK)
            tracker.advance(size)


# --- unpacking -----------------------------------------------------------------------
def _refuse(src, name, why):
    raise FormatError(f"refusing to unpack: member {name!r} {why}; nothing was written", src)


def _checked_name(src, name):
    clean = name.replace("\\", "/")
    while clean.startswith("./"):
        clean = clean[2:]
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts or not parts:
        _refuse(src, name, "has an absolute name or one that leaves the session directory")
    return "/".join(parts)


def _archive_entries(src, kind):
    """[(name, is_dir, size, opener)] of an archive, every member checked first."""
    out = []
    if kind == "tar":
        tf = tarfile.open(src, "r:", encoding=_ENCODING, errors="surrogateescape")
        for m in tf:
            if not (m.isreg() or m.isdir()):
                _refuse(src, m.name, "is a link or a special file")
            out.append((_checked_name(src, m.name), m.isdir(), m.size, lambda m=m: tf.extractfile(m)))
        return out, tf
    zf = zipfile.ZipFile(src)
    for info in zf.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # (0: the zip says no file type)
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            _refuse(src, info.filename, "is a link or a special file")
        out.append((_checked_name(src, info.filename), info.is_dir(), info.file_size,
                    lambda info=info: zf.open(info)))
    return out, zf


def unpack_session(src, dst_dir=None, *, overwrite=False, progress=None, cancel=None):
    """Unpack the session archive `src` into the directory `dst_dir` (default: the
    archive's own); returns a dict: destination (the session directory), files, bytes."""
    src = os.path.abspath(os.fspath(src))
    kind = src.lower().rsplit(".", 1)[-1]
    if kind not in ARCHIVE_FORMATS:
        raise ValueError(f"unpack takes a .tar or .zip archive, got {os.path.basename(src)!r}")
    try:
        entries, archive = _archive_entries(src, kind)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"not a readable {kind} archive ({exc})", src) from None
    with archive:
        tops = {name.split("/", 1)[0] for name, _, _, _ in entries}
        if len(tops) == 1 and next(iter(tops)).endswith(SESSION_EXT):
            top, prefix = tops.pop(), ""
        else:  # (a session packed without its directory: named after the archive)
            top, prefix = os.path.basename(src)[: -len(kind) - 1], None
            if not top.endswith(SESSION_EXT):
                raise FormatError("the archive holds no one '.mefd' session directory", src)
        final = os.path.join(os.path.abspath(dst_dir or os.path.dirname(src)), top)
        files = [e for e in entries if not e[1] and e[0].rsplit("/", 1)[-1] != PACK_INDEX]
        total = sum(size for _, _, size, _ in files)
        with Tracker(total, "unpack", unit="B", progress=progress, cancel=cancel) as tracker:
            with atomic_output(final, overwrite=overwrite) as tmp:
                os.mkdir(tmp)
                for name, is_dir, size, opener in entries:
                    rel = name if prefix is None else name.split("/", 1)[1] if "/" in name else ""
                    if name.rsplit("/", 1)[-1] == PACK_INDEX or not rel:
                        continue
                    target = os.path.join(tmp, *rel.split("/"))
                    if is_dir:
                        os.makedirs(target, exist_ok=True)
                        continue
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with opener() as f, open(target, "xb") as out:
                        shutil.copyfileobj(f, out, _CHUNK)
                    tracker.advance(size)
                SessionTree(tmp)  # (FormatError: what came out is not a session)
    return {"destination": final, "files": len(files), "bytes": total}
