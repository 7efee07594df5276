"""A model disk for power-loss tests: records a program's file system calls (through
``neo_mef3.fileio``'s primitives) and builds what a disk could hold after the power
failed at any point of them.

Recording (:class:`Recorder`) wraps the writing primitives of ``neo_mef3.fileio``
(``open_write``, ``pwrite_all``, ``truncate``, ``fsync``, ``close``, ``fsync_dir``,
``make_directories``, ``rename``, ``remove_file``, ``remove_tree``): each call is done
for real (so the program runs normally) and logged, resolved to inodes of an in-memory
model of the tree under a root directory; ``fsync`` is logged, not performed (the
model decides what it made durable). :meth:`Recorder.mark` adds markers (e.g. "call i
returned").

A crash (:meth:`Recorder.crash_state`) after the first ``k`` logged operations keeps:

* file data: what the last ``fsync`` of the file before ``k`` made durable, then each
  later write split at 512-byte sector boundaries, each sector kept or lost at random
  (writes are torn and reordered; a kept sector past the end extends the file, and
  bytes never written read as zeros); each later truncation kept or not;
* names: a directory entry made (created, renamed, removed) before the last
  ``fsync_dir`` of its directory is durable; later ones are kept or lost at random,
  each independently (in their order).

:func:`materialize` writes such a state into a real directory. Used by
:mod:`support.power_loss`.
"""

import os

import neo_mef3.fileio as fileio

SECTOR = 512


class _File:
    __slots__ = ("data",)

    def __init__(self, data=b""):
        self.data = bytearray(data)


class _Dir:
    __slots__ = ("entries",)

    def __init__(self):
        self.entries = {}


class Recorder:
    """Logs the file system calls made through ``neo_mef3.fileio`` under `root`."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.inodes = {0: _Dir()}
        self.initial = {}  # ino -> bytes of files present at the start
        self.initial_entries = {}  # dir ino -> {name: ino} at the start
        self.ops = []
        self._fds = {}
        self._next = 1
        self._load(self.root, 0)
        self._saved = None

    # --- the model's live namespace -----------------------------------------------------
    def _new(self, node):
        ino = self._next
        self._next += 1
        self.inodes[ino] = node
        return ino

    def _load(self, path, ino):
        for e in sorted(os.listdir(path)):
            p = os.path.join(path, e)
            if os.path.isdir(p):
                child = self._new(_Dir())
                self._load(p, child)
            else:
                with open(p, "rb") as f:
                    data = f.read()
                child = self._new(_File(data))
                self.initial[child] = data
            self.inodes[ino].entries[e] = child
        self.initial_entries[ino] = dict(self.inodes[ino].entries)

    def _parts(self, path):
        rel = os.path.relpath(os.path.abspath(path), self.root)
        return [] if rel == "." else rel.split(os.sep)

    def _lookup(self, path):
        ino = 0
        for part in self._parts(path):
            ino = self.inodes[ino].entries[part]
        return ino

    def _parent(self, path):
        parts = self._parts(path)
        return self._lookup(os.path.join(self.root, *parts[:-1])), parts[-1]

    def inside(self, path):
        rel = os.path.relpath(os.path.abspath(path), self.root)
        return not rel.startswith("..")

    # --- wrapping ------------------------------------------------------------------------
    def install(self):
        real = {name: getattr(fileio, name) for name in ("open_write", "pwrite_all", "truncate", "fsync", "close",
                                                         "fsync_dir", "make_directories", "rename", "remove_file",
                                                         "remove_tree")}
        self._saved = real
        rec = self

        def open_write(path, create=False):
            fd = real["open_write"](path, create)
            if rec.inside(path):
                try:
                    ino = rec._lookup(path)
                    if create:
                        rec.ops.append(("truncate", ino, 0))
                except KeyError:
                    d, name = rec._parent(path)
                    ino = rec._new(_File())
                    rec.inodes[d].entries[name] = ino
                    rec.ops.append(("link", d, name, ino))
                rec._fds[fd] = ino
            return fd

        def pwrite_all(fd, data, offset):
            real["pwrite_all"](fd, data, offset)
            ino = rec._fds.get(fd)
            if ino is not None:
                rec.ops.append(("write", ino, offset, bytes(data)))

        def truncate(fd, end):
            real["truncate"](fd, end)
            ino = rec._fds.get(fd)
            if ino is not None:
                rec.ops.append(("truncate", ino, end))

        def fsync(fd, durable=True):
            ino = rec._fds.get(fd)
            if durable and ino is not None:
                rec.ops.append(("fsync", ino))
            elif ino is None:
                real["fsync"](fd, durable)

        def close(fd):
            rec._fds.pop(fd, None)
            real["close"](fd)

        def fsync_dir(path, durable=True):
            if durable and rec.inside(path):
                rec.ops.append(("fsync_dir", rec._lookup(path)))

        def make_directories(path):
            real["make_directories"](path)
            if rec.inside(path):
                ino, parts = 0, rec._parts(path)
                for part in parts:
                    nxt = rec.inodes[ino].entries.get(part)
                    if nxt is None:
                        nxt = rec._new(_Dir())
                        rec.inodes[ino].entries[part] = nxt
                        rec.ops.append(("link", ino, part, nxt))
                    ino = nxt

        def rename(src, dst):
            real["rename"](src, dst)
            if rec.inside(src):
                sd, sname = rec._parent(src)
                dd, dname = rec._parent(dst)
                ino = rec.inodes[sd].entries.pop(sname)
                rec.inodes[dd].entries[dname] = ino
                rec.ops.append(("rename", sd, sname, dd, dname, ino))

        def remove_file(path):
            real["remove_file"](path)
            if rec.inside(path):
                d, name = rec._parent(path)
                ino = rec.inodes[d].entries.pop(name)
                rec.ops.append(("unlink", d, name, ino))

        def remove_tree(path):
            known = rec.inside(path) and os.path.exists(path)
            real["remove_tree"](path)
            if known:
                d, name = rec._parent(path)
                ino = rec.inodes[d].entries.pop(name, None)
                if ino is not None:
                    rec.ops.append(("unlink", d, name, ino))

        for name, fn in dict(open_write=open_write, pwrite_all=pwrite_all, truncate=truncate, fsync=fsync,
                             close=close, fsync_dir=fsync_dir, make_directories=make_directories, rename=rename,
                             remove_file=remove_file, remove_tree=remove_tree).items():
            setattr(fileio, name, fn)

    def uninstall(self):
        for name, fn in (self._saved or {}).items():
            setattr(fileio, name, fn)
        self._saved = None

    def mark(self, label):
        self.ops.append(("mark", label))

    # --- crashes -------------------------------------------------------------------------
    def marks_before(self, k):
        return [op[1] for op in self.ops[:k] if op[0] == "mark"]

    def crash_state(self, k, rng, keep=0.5):
        """(files, dirs, directories): the durable tree after a power cut following op `k`
        (``files``: ino -> bytes, ``dirs``: dir ino -> {name: ino}, ``directories``: the
        inodes that are directories)."""
        ops = self.ops[:k]
        # the last flush of each file and directory
        last_sync, last_dir_sync = {}, {}
        for i, op in enumerate(ops):
            if op[0] == "fsync":
                last_sync[op[1]] = i
            elif op[0] == "fsync_dir":
                last_dir_sync[op[1]] = i
        files = {ino: bytearray(data) for ino, data in self.initial.items()}
        dirs = {ino: dict(entries) for ino, entries in self.initial_entries.items()}

        def durable_name(i, *dir_inos):
            return all(last_dir_sync.get(d, -1) > i for d in dir_inos)

        for i, op in enumerate(ops):
            kind = op[0]
            if kind in ("write", "truncate"):
                ino = op[1]
                data = files.setdefault(ino, bytearray())
                sure = last_sync.get(ino, -1) > i
                if kind == "truncate":
                    if sure or rng.random() < keep:
                        del data[op[2]:]
                    continue
                offset, payload = op[2], op[3]
                pos = 0
                while pos < len(payload):
                    at = offset + pos
                    n = min(len(payload) - pos, SECTOR - at % SECTOR)
                    if sure or rng.random() < keep:
                        if len(data) < at:
                            data.extend(bytes(at - len(data)))
                        data[at:at + n] = payload[pos:pos + n]
                    pos += n
            elif kind == "link":
                _, d, name, ino = op
                if durable_name(i, d) or rng.random() < keep:
                    dirs.setdefault(d, {})[name] = ino
            elif kind == "rename":
                _, sd, sname, dd, dname, ino = op
                if durable_name(i, sd, dd) or rng.random() < keep:
                    if dirs.get(sd, {}).get(sname) == ino:
                        del dirs[sd][sname]
                    dirs.setdefault(dd, {})[dname] = ino
            elif kind == "unlink":
                _, d, name, ino = op
                if durable_name(i, d) or rng.random() < keep:
                    if dirs.get(d, {}).get(name) == ino:
                        del dirs[d][name]
        directories = {ino for ino, node in self.inodes.items() if isinstance(node, _Dir)}
        return files, dirs, directories


def materialize(state, dest):
    """Write a crash state (:meth:`Recorder.crash_state`) under the directory `dest`."""
    files, dirs, directories = state
    os.makedirs(dest, exist_ok=True)

    def walk(ino, path):
        for name, child in dirs.get(ino, {}).items():
            p = os.path.join(path, name)
            if child in directories:
                os.makedirs(p, exist_ok=True)
                walk(child, p)
            else:
                with open(p, "wb") as f:
                    f.write(files.get(child, b""))

    walk(0, dest)


__all__ = ["Recorder", "materialize", "SECTOR"]
