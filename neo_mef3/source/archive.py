"""A session packed as one uncompressed archive (``x.mefd.tar``, ``x.mefd.zip``), read
in place -- a local file or one object on a store -- without unpacking.

The members' offsets come from the archive's own index: a zip's central directory (at
its end), or the index member ``neo-mef3 pack`` writes at the start of a tar
(:data:`PACK_INDEX`: every member's data offset and size). A tar without one (made
by another tool) is walked header by header. After that every read is a byte range of
the archive; small files next to each other come in one range.

A member's header is checked the first time its bytes are fetched (in the same range):
a zip's local header gives where its data starts, a packed tar's header must announce
the size its index gives. Compressed or encrypted members are refused.
"""

import json
import os
import struct
import tarfile
import zipfile

from ..errors import FormatError, MefError
from ..format.layout import SESSION_EXT, TS_CHANNEL_EXT
from .listed import Listing, ListedRangeFile, ListedSource

#: the index member ``neo-mef3 pack`` writes into a tar, right after the session
#: directory and inside it (a dot file: a session unpacked with ``tar`` lists no such channel)
PACK_INDEX = ".neo_mef3-pack-index.json"
PACK_FORMAT = "neo_mef3-pack"
PACK_VERSION = 1
#: members' ranges closer than this are fetched in one request
MERGE_GAP = 64 << 10
#: bytes read ahead while walking headers
READ_AHEAD = 64 << 10
_ZIP_LOCAL = struct.Struct("<4s5H3I2H")
_ZIP_LOCAL_MAGIC = b"PK\x03\x04"
_TAR_BLOCK = 512


def pack_index_bytes(dirs, files):
    """The index member's content: directories, and ``(name, data offset, size)`` of
    every file (names as in the archive)."""
    return json.dumps({"format": PACK_FORMAT, "version": PACK_VERSION, "dirs": list(dirs),
                       "files": [list(f) for f in files]}, separators=(",", ":")).encode()


class _Spans:
    """A read-only file object over a RangeFile of `size` bytes for ``tarfile`` and
    ``zipfile``: each read outside what was fetched fetches ``READ_AHEAD`` bytes more."""

    def __init__(self, container, size):
        self.container, self.size, self.pos = container, size, 0
        self.spans = []

    def prefetch(self, lo, hi):
        self.spans.append((lo, self.container.read(lo, min(hi, self.size))))

    def seekable(self):
        return True

    def readable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = max(0, offset + (0, self.pos, self.size)[whence])
        return self.pos

    def read(self, n=-1):
        a = min(self.pos, self.size)
        b = self.size if n is None or n < 0 else min(self.size, a + n)
        for start, data in reversed(self.spans):
            if start <= a and b <= start + len(data):
                out = data[a - start: b - start]
                break
        else:
            data = self.container.read(a, min(self.size, max(b, a + READ_AHEAD)))
            self.spans = self.spans[-7:] + [(a, data)]
            out = data[: b - a]
        self.pos = a + len(out)
        return out


class _Member:
    __slots__ = ("name", "size", "data", "head", "guess", "check")

    def __init__(self, name, size, data=None, head=None, guess=0, check=None):
        self.name, self.size, self.data, self.head, self.guess, self.check = name, size, data, head, guess, check


def _clean(name):
    """A member name as a relative POSIX path, or None for one that leaves the archive."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or name.startswith("/") or ".." in parts:
        return None
    return "/".join(parts)


def _tar_members(spans, where):
    """(files {name: _Member}, dirs) of a tar: from its pack index, else walked."""
    try:
        tf = tarfile.open(fileobj=spans, mode="r:")
    except tarfile.TarError as exc:
        raise FormatError(f"not a readable tar archive ({exc})", where) from None
    first = tf.next()
    if first is not None and first.isdir():  # (the session directory, then the index)
        first = tf.next()
    if first is not None and first.isreg() and first.name.rsplit("/", 1)[-1] == PACK_INDEX:
        try:
            index = json.loads(tf.extractfile(first).read())
            if index.get("format") != PACK_FORMAT or index.get("version") != PACK_VERSION:
                raise ValueError("unknown index")
            files = {}
            for name, offset, size in index["files"]:
                files[name] = _Member(name, int(size), head=int(offset) - _TAR_BLOCK, guess=_TAR_BLOCK,
                                      check=_check_tar_header)
            return files, set(index["dirs"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"the archive's pack index cannot be read ({exc})", where) from None
    files, dirs = {}, set()
    try:
        for m in tf:
            if m.isreg():
                files[m.name] = _Member(m.name, m.size, data=m.offset_data)
            elif m.isdir():
                dirs.add(m.name)
    except tarfile.TarError as exc:
        raise FormatError(f"the tar archive is damaged ({exc})", where) from None
    return files, dirs


def _check_tar_header(member, head):
    try:
        info = tarfile.TarInfo.frombuf(head[:_TAR_BLOCK], "utf-8", "surrogateescape")
    except tarfile.TarError as exc:
        raise FormatError(f"no tar header before member {member.name!r} where the pack index puts it ({exc})")
    if info.size != member.size or not info.isreg():
        raise FormatError(f"the tar header before member {member.name!r} does not match the pack index")
    return member.head + _TAR_BLOCK


def _zip_members(spans, where):
    spans.prefetch(max(0, spans.size - (64 << 10) - 22), spans.size)  # (the end records, often the directory)
    try:
        zf = zipfile.ZipFile(spans)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FormatError(f"not a readable zip archive ({exc})", where) from None
    files, dirs = {}, set()
    for info in zf.infolist():
        if info.is_dir():
            dirs.add(info.filename)
            continue
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise FormatError(f"member {info.filename!r} is compressed or encrypted; a session archive must be "
                              "stored as is (neo-mef3 pack makes one)", where)
        name_bytes = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
        files[info.filename] = _Member(info.filename, info.file_size, head=info.header_offset,
                                       guess=_ZIP_LOCAL.size + len(name_bytes) + len(info.extra),
                                       check=_check_zip_header)
    return files, dirs


def _check_zip_header(member, head):
    if len(head) < _ZIP_LOCAL.size:
        raise FormatError(f"the archive ends inside the local header of member {member.name!r}")
    magic, _, flags, method, _, _, _, _, _, nlen, xlen = _ZIP_LOCAL.unpack_from(head)
    if magic != _ZIP_LOCAL_MAGIC or method != zipfile.ZIP_STORED or flags & 0x1:
        raise FormatError(f"no stored, unencrypted zip member {member.name!r} where the directory puts it")
    return member.head + _ZIP_LOCAL.size + nlen + xlen


class ArchiveSource(ListedSource):
    """A session in a tar or zip archive (see the module docstring): ``opener()`` gives
    a RangeFile of the archive (local or remote) and its size, ``location`` is its path
    or URL as shown, ``description`` what reopens it elsewhere. After :meth:`close`
    the archive is opened again when next read."""

    def __init__(self, opener, location, description, read_piece_bytes=None):
        super().__init__(location)
        self.read_piece_bytes = read_piece_bytes
        self._opener = opener
        self._container = None
        self.archive_size = None
        self._description = description
        self._members = None

    @property
    def container(self):
        if self._container is None:
            self._container, self.archive_size = self._opener()
        return self._container

    def describe(self):
        return self._description

    def _list(self):
        container = self.container
        spans = _Spans(container, self.archive_size)
        reader = _zip_members if self.location.lower().endswith(".zip") else _tar_members
        try:
            files, dirs = reader(spans, self.location)
        except (OSError, EOFError) as exc:
            raise FormatError(f"cannot read the archive ({exc})", self.location) from None
        names = {}
        for name, m in files.items():
            rel = _clean(name)
            if rel is not None and rel.rsplit("/", 1)[-1] != PACK_INDEX:
                names[rel] = m
        dirs = {d for d in (_clean(d) for d in dirs) if d}
        tops = {n.split("/", 1)[0] for n in list(names) + list(dirs)}
        sessions = sorted(t for t in tops if t.endswith(SESSION_EXT) and (t in dirs or any(
            n.startswith(t + "/") for n in names)))
        if len(sessions) == 1:
            top, prefix = sessions[0], sessions[0] + "/"
        elif any(t.endswith(TS_CHANNEL_EXT) for t in tops):
            base = self.location.rstrip("/").rsplit("/", 1)[-1]
            top, prefix = base[: base.rfind(".")], ""
        else:
            raise FormatError("the archive holds no MEF 3.0 session (no one '.mefd' directory, no channels)",
                              self.location)
        self._members = {n[len(prefix):]: m for n, m in names.items() if n.startswith(prefix)}
        listing = Listing({rel: m.size for rel, m in self._members.items()},
                          [d[len(prefix):] for d in dirs if d.startswith(prefix)])
        return listing, f"{self.location}/{top}"

    def _fetch(self, gets, stats):
        ranges, plan = [], []
        for rel, a, b in gets:
            m = self._members[rel]
            b = m.size if b is None else min(b, m.size)
            a = min(a, b)
            if m.data is not None:
                ranges.append((m.data + a, m.data + b))
            else:  # (its header too, checked, which says where the data starts)
                ranges.append((m.head, m.head + m.guess + b))
            plan.append((rel, m, a, b))
        try:
            datas = self.container.read_ranges(ranges, MERGE_GAP)
        except MefError as exc:
            return [exc] * len(gets), [self._listing.files.get(r) for r in stats]
        except OSError as exc:
            err = FormatError(f"cannot read the archive ({exc.strerror})", self.location)
            return [err] * len(gets), [self._listing.files.get(r) for r in stats]
        out = []
        for (rel, m, a, b), data in zip(plan, datas):
            if m.data is None:
                try:
                    m.data = data_at = m.check(m, data)
                except FormatError as exc:
                    out.append(FormatError(str(exc), self.shown_path(rel)))
                    continue
                skip = data_at - m.head
                if skip + b <= len(data):
                    data = data[skip + a: skip + b]
                else:  # (a header longer than the directory said)
                    data = self.container.read(m.data + a, m.data + b)
            out.append(data)
        return out, [self._listing.files.get(r) for r in stats]

    def _open_file(self, rel, size):
        return ListedRangeFile(self, rel, size)

    def close(self):
        super().close()
        container, self._container = self._container, None
        if container is not None:
            container.close()


def local_archive(path):
    """An ArchiveSource on a local archive file."""
    from .local import LocalRangeFile

    path = os.path.abspath(path)

    def opener():
        try:
            return LocalRangeFile(path), os.path.getsize(path)
        except OSError as exc:
            raise FormatError(f"not a MEF 3.0 session: cannot open the archive ({exc.strerror})", path) from None

    source = ArchiveSource(opener, path, {"kind": "local", "location": path})
    source._container, source.archive_size = opener()  # (an archive that cannot be opened fails here)
    return source


def remote_archive(url, storage_options=None, fs=None):
    """An ArchiveSource on an archive object of a store (one request for its size)."""
    from .remote import RemoteFile

    container = RemoteFile(url, storage_options, fs)
    return ArchiveSource(lambda: (container, container.size), container.path, container.describe(),
                         container.read_piece_bytes)
