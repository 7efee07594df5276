"""The metadata cache: a warm open serves a session's channels and ``info()`` from a
snapshot of what the last open scanned, without listing the session or reading its
metadata files.

``Reader(path, cache="auto")`` keeps the snapshot in a per-user cache directory
(``$XDG_CACHE_HOME/neo_mef3``, else ``~/.cache/neo_mef3``; ``~/Library/Caches/neo_mef3``
on macOS, ``%LOCALAPPDATA%\\neo_mef3\\Cache`` on Windows), named after the session's
location; ``cache="/path/s.cache"`` keeps it where asked. A Reader with a cache that is
missing or stale opens the whole session at once (every channel scanned, probed) and
writes a new snapshot.

What a snapshot holds: the names of the channel and video channel directories, the
scan table of every channel (``session.SessionScan``: the segments and how their
folders spell their numbers, each ``.tmet``'s universal header and the few fields the
Reader reads, the scan's judgement, the ``.tidx`` sizes and which record files exist),
the whole first ``.tmet`` of each channel whose sections are not encrypted, and a
change token of every file and directory of the session (``ByteSource.change_tokens``:
size, modification and change times and inode of a local file). So it holds the bytes
the session's files hold, never anything decrypted: an encrypted session's metadata
stays as encrypted as on disk (its sections are decrypted again, with the Reader's
password, at every open), its password validation fields are checked against the
Reader's password as from disk, and no password is written anywhere.

When a snapshot is used: only when the file is whole and unmodified (an HMAC-SHA256
over all of it, keyed by a secret of the user's own made on first use, so that a file
damaged, cut short, edited or made by another user or machine is recognised), of this
format and package version, made for this session (its location), and every token is
the same now (any change of size or time of any file or directory, an append by the
Writer included, and any file or segment added or removed). A damaged or foreign
snapshot is ignored with a :class:`~neo_mef3.errors.MefWarning`; a stale one is
replaced silently. A session that changed within two seconds before it was scanned is
not cached (a file system's clock may not tell a second change apart), and neither is
one with a channel that could not be listed. Snapshots are written atomically
(temporary file, rename).

Only sources that give change tokens are cached (:meth:`MetadataCache.for_reader`
gives None otherwise): local session directories. Remote stores and packed sessions
(``source.listed``) are not: a store tells that nothing changed only in a fresh
listing of the session, the request a warm open would save.
"""

import hashlib
import hmac
import json
import os
import secrets
import struct
import sys
import time
import warnings

import numpy as np

from .. import fileio
from ..errors import MefWarning
from ..session import HAS_RDAT, HAS_RIDX, SessionScan, SessionTree

MAGIC = b"neo_mef3 metadata cache\n"
FORMAT = 1
_MAC_BYTES = 32
_HEAD = struct.Struct("<I")
#: a session changed less than this before its scan is not cached (coarse file clocks)
SETTLE_NS = 2_000_000_000
_KEY_FILE = "key"


def default_directory():
    """The per-user cache directory of neo_mef3 (made when first written to)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(os.path.join("~", "AppData", "Local"))
        return os.path.join(base, "neo_mef3", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser(os.path.join("~", "Library", "Caches", "neo_mef3"))
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = os.path.expanduser(os.path.join("~", ".cache"))
    return os.path.join(base, "neo_mef3")


def _package_version():
    try:
        from importlib.metadata import version

        return version("neo_mef3")
    except Exception:  # (an in-place development build)
        return "dev"


def _user_key(directory):
    """The user's secret (32 bytes) that signs snapshots, made on first use (mode 0600)."""
    path = os.path.join(directory, _KEY_FILE)
    try:
        with open(path, "rb") as f:
            key = f.read()
        if len(key) == 32:
            return key
    except OSError:
        pass
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = fileio.temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    try:  # (two processes making it at once: the first one's key stays)
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    with open(path, "rb") as f:
        return f.read()


def _encode_images(images, size):
    """The first images as runs of non-zero bytes (a ``.tmet`` is mostly zeros):
    ``(rows, runs, blob)``: the images' rows, per run ``(position, length)`` in the
    images laid end to end (int64), and the runs' bytes."""
    rows = sorted(images)
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.int64), b""
    flat = np.frombuffer(b"".join(images[r] for r in rows), np.uint8)
    nz = np.flatnonzero(flat)
    if not len(nz):
        return np.array(rows, np.int64), np.zeros((0, 2), np.int64), b""
    # a run stops at a gap of more than 32 zero bytes, or at the end of an image
    cut = np.flatnonzero((np.diff(nz) > 32) | (nz[1:] // size != nz[:-1] // size))
    starts = np.concatenate(([nz[0]], nz[cut + 1]))
    ends = np.concatenate((nz[cut], [nz[-1]])) + 1
    keep = np.concatenate([np.arange(s, e) for s, e in zip(starts.tolist(), ends.tolist())])
    return np.array(rows, np.int64), np.stack([starts, ends - starts], 1), flat[keep].tobytes()


def _decode_images(rows, runs, blob, size):
    flat = np.zeros(len(rows) * size, np.uint8)
    if len(runs):
        starts, lengths = runs[:, 0], runs[:, 1]
        total = int(lengths.sum())
        if (starts < 0).any() or (lengths <= 0).any() or (starts + lengths > len(flat)).any() or total != len(blob):
            raise ValueError("image runs outside the images")
        at = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths) + np.arange(total)
        flat[at] = np.frombuffer(blob, np.uint8)
    images = flat.reshape(len(rows), size)
    return {row: images[k].tobytes() for k, row in enumerate(rows.tolist())}


def session_paths(tree, scan):
    """Every directory and file of the session a snapshot depends on, as '/'-separated
    paths relative to the session ("." itself)."""
    root = tree.path
    cut = len(root) + (0 if root.endswith(("/", os.sep)) else 1)

    def rel(p):
        return p[cut:].replace(os.sep, "/")

    paths = [".", rel(tree.rdat), rel(tree.ridx)]
    for i, name in enumerate(scan.names):
        paths.append(rel(tree.channel_dirs[name]))
        own = None if scan.channel_record_flags is None else int(scan.channel_record_flags[i])
        if own:
            rdat, ridx = tree.channel_records(name)
            paths += [rel(p) for p, flag in ((rdat, HAS_RDAT), (ridx, HAS_RIDX)) if own & flag]
        a, b = int(scan.starts[i]), int(scan.starts[i + 1])
        widths = None if scan.widths is None else scan.widths[a:b]
        for j, files in enumerate(tree.segment_files(name, scan.numbers[a:b].tolist(), widths)):
            paths += [rel(files.directory), rel(files.tmet), rel(files.tidx), rel(files.tdat)]
            flags = int(scan.record_flags[a + j])
            paths += [rel(p) for p, flag in ((files.rdat, HAS_RDAT), (files.ridx, HAS_RIDX)) if flags & flag]
    return paths


class MetadataCache:
    """One snapshot file of one session (see the module docstring); `source` gives the
    change tokens. :meth:`load` gives ``(tree, scan)`` or None, :meth:`save` writes."""

    def __init__(self, path, source, threads=1, key_directory=None):
        self.path = path
        self.source = source
        self.threads = threads
        self._key_directory = key_directory or default_directory()

    @classmethod
    def for_reader(cls, cache, source, threads=1):
        """The cache a Reader's ``cache=`` argument names, or None when the source gives
        no change tokens (it cannot be validated)."""
        if not source.supports_change_tokens():
            return None
        if cache == "auto":
            ident = json.dumps(source.describe(), sort_keys=True).encode()
            name = hashlib.sha256(ident).hexdigest()[:32] + ".cache"
            return cls(os.path.join(default_directory(), name), source, threads)
        return cls(os.fspath(cache), source, threads)

    def _warn(self, problem):
        warnings.warn(f"neo_mef3.Reader: the metadata cache {self.path} is ignored: {problem}", MefWarning,
                      stacklevel=4)

    # --- reading ---------------------------------------------------------------------
    def load(self):
        """``(tree, scan)`` from a valid snapshot, or None (missing, stale, of another
        version: silently; damaged or foreign: with a MefWarning)."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn(f"it cannot be read ({exc.strerror})")
            return None
        try:
            got = self._parse(data)
        except (ValueError, KeyError, TypeError, IndexError, struct.error, UnicodeDecodeError) as exc:
            self._warn(f"it is damaged ({exc})")
            return None
        if got is None:
            return None
        header, arrays = got
        if header.get("location") != self.source.describe():
            self._warn("it was made for another session")
            return None
        tokens, _ = self.source.change_tokens(arrays["paths"], self.threads)
        if tokens is None or not np.array_equal(tokens, arrays["tokens"]):
            return None  # (the session changed: a new snapshot replaces it)
        return self._scan(header, arrays)

    def _parse(self, data):
        """``(header, arrays)`` of a snapshot, None for another format or version;
        ValueError for anything damaged or not signed with the user's key."""
        if len(data) < len(MAGIC) + _HEAD.size + _MAC_BYTES or not data.startswith(MAGIC):
            raise ValueError("not a neo_mef3 metadata cache, or cut short")
        body, mac = data[:-_MAC_BYTES], data[-_MAC_BYTES:]
        key = _user_key(self._key_directory)
        if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), mac):
            raise ValueError("its signature does not match (damaged, or made by another user or machine)")
        (n,) = _HEAD.unpack_from(body, len(MAGIC))
        start = len(MAGIC) + _HEAD.size
        header = json.loads(body[start : start + n].decode("utf-8"))
        if header.get("format") != FORMAT or header.get("package") != _package_version():
            return None
        base = start + n
        arrays = {}
        for name, dtype, shape, offset, nbytes in header["arrays"]:
            count = int(np.prod(shape)) if shape else 1
            if offset < 0 or base + offset + nbytes > len(body) or np.dtype(dtype).itemsize * count != nbytes:
                raise ValueError(f"array {name!r} lies outside the file")
            arrays[name] = np.frombuffer(body, dtype, count, base + offset).reshape(shape)
        arrays["paths"] = bytes(arrays["paths"]).decode("utf-8").split("\0")
        return header, arrays

    def _scan(self, header, a):
        names = header["names"]
        location = self.source.location
        tree = SessionTree.from_listing(location, {n: os.path.join(location, d) for n, d in zip(names, header["dirs"])},
                                        {n: os.path.join(location, d) for n, d in header["videos"].items()})
        images = _decode_images(a["image_rows"], a["image_runs"], bytes(a["image_blob"]), header["metadata_bytes"])
        scan = SessionScan(names, [None] * len(names), a["starts"], a["numbers"], a["heads"], a["fields"],
                           a["lengths"], a["plain"], images, a["index_sizes"], a["record_flags"],
                           a["channel_record_flags"], a["widths"] if len(a["widths"]) else None)
        return tree, scan

    # --- writing ---------------------------------------------------------------------
    def save(self, tree, scan, started_ns, metadata_bytes):
        """Write a snapshot of `scan` (a probed SessionScan of every channel of `tree`),
        made after `started_ns` (time.time_ns()); nothing when the session changed since
        shortly before then, or a channel could not be listed. True when written."""
        if any(e is not None for e in scan.errors) or scan.index_sizes is None:
            return False
        paths = session_paths(tree, scan)
        tokens, newest = self.source.change_tokens(paths, self.threads)
        if tokens is None or (newest is not None and newest >= started_ns - SETTLE_NS):
            return False
        # the whole first images of channels whose metadata is not encrypted (as on disk)
        images = {row: img for row, img in scan.images.items() if scan.plain[row]}
        rows, runs, blob = _encode_images(images, metadata_bytes)
        arrays = {
            "starts": np.asarray(scan.starts, np.int64), "numbers": scan.numbers, "heads": scan.heads,
            "fields": scan.fields, "lengths": scan.lengths, "plain": scan.plain, "index_sizes": scan.index_sizes,
            "record_flags": scan.record_flags, "channel_record_flags": scan.channel_record_flags,
            "widths": np.zeros(0, np.uint8) if scan.widths is None else scan.widths,
            "image_rows": rows, "image_runs": runs, "image_blob": np.frombuffer(blob, np.uint8),
            "paths": np.frombuffer("\0".join(paths).encode("utf-8"), np.uint8), "tokens": tokens,
        }
        manifest, chunks, at = [], [], 0
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            raw = arr.tobytes()
            manifest.append([name, arr.dtype.str, list(arr.shape), at, len(raw)])
            chunks.append(raw)
            at += len(raw)
        header = {
            "format": FORMAT, "package": _package_version(), "location": self.source.describe(),
            "made": time.time_ns(), "metadata_bytes": metadata_bytes, "names": list(scan.names),
            "dirs": [os.path.basename(tree.channel_dirs[n]) for n in scan.names],
            "videos": {n: os.path.basename(d) for n, d in tree.video_dirs.items()}, "arrays": manifest,
        }
        head = json.dumps(header, separators=(",", ":")).encode("utf-8")
        body = b"".join([MAGIC, _HEAD.pack(len(head)), head] + chunks)
        try:
            key = _user_key(self._key_directory)
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fileio.replace_file(self.path, body + hmac.new(key, body, hashlib.sha256).digest(), durable=False)
        except OSError as exc:
            warnings.warn(f"neo_mef3.Reader: the metadata cache {self.path} cannot be written ({exc})", MefWarning,
                          stacklevel=4)
            return False
        return True

