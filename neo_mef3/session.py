"""The MEF 3.0 directory tree: session (``.mefd``) -> channels (``.timd``) -> segments (``.segd``).

Finding files is kept apart from parsing them so that the Reader, the Writer and the
checker agree on what a session contains. Only names (and, in :func:`scan_channel`,
the raw bytes and sizes of a segment's small files) are looked at here.
"""

import collections
import os
import pathlib
import re
import struct

import numpy as np

from .errors import FormatError
from ._red import crc32
from .format.layout import (
    LITTLE_ENDIAN_CODE,
    MEF_VERSION,
    RDAT,
    RIDX,
    SEGMENT_EXT,
    SESSION_EXT,
    TDAT,
    TIDX,
    TMET,
    TMET_SECTION_LEVELS,
    TS_CHANNEL_EXT,
    UH_BODY_CRC,
    UH_BYTE_ORDER,
    UH_FILE_TYPE,
    UH_HEADER_CRC,
    UH_VERSION_MAJOR,
    UNIVERSAL_HEADER_BYTES,
    VIDEO_CHANNEL_EXT,
)

try:  # the system calls of a channel scan made in C, outside the GIL (POSIX)
    from . import _scan
except ImportError:  # pragma: no cover - platforms without it use the Python scan
    _scan = None

_SEP = os.sep
_SEPS = tuple(c for c in (os.sep, os.altsep) if c)
# <channel>-NNNNNN.segd: ASCII digits (what _scan accepts; \d would take any Unicode
# digit, and a number read from those names would not give back the name). MEF writes six
# (``ch1-000000.segd``); other writers spell the number unpadded (``ch1-0.segd``): any
# 1..10 digits naming a number MEF's int32 segment number holds are read, the folder's
# digit count (its *width*) kept so that the files inside are found by the same spelling.
_SEGMENT_RE = re.compile(r"(?P<channel>.*)-(?P<number>[0-9]{1,10})\.segd", re.DOTALL)
#: the digits MEF writes in a segment folder's name
STANDARD_WIDTH = 6
_MAX_SEGMENT_NUMBER = 2**31 - 1

#: record-file flags of :class:`ChannelScan`
HAS_RDAT = 1
HAS_RIDX = 2

ChannelScan = collections.namedtuple(
    "ChannelScan",
    "numbers heads fields first lengths plain index_sizes record_flags channel_record_flags widths",
    defaults=(None,),
)
ChannelScan.__doc__ = """What :func:`scan_channel` found in one channel directory.

Per segment (``numbers``, sorted), from its ``.tmet``: ``lengths[i]`` the bytes read
(``metadata_bytes + 1``: the file is longer; negative: an errno), ``heads[i]`` its first
``keep`` bytes, ``fields[i, j]`` the 8 bytes at ``field_offsets[j]`` (int64),
``plain[i]`` 1 for an intact, unencrypted ``.tmet`` (see :func:`_plain_tmet_py`; None
without ``fs_offset``); ``index_sizes[i]`` the ``.tidx`` size (negative: an errno) and
``record_flags[i]`` HAS_RDAT | HAS_RIDX (None unless probed). ``first``: the first
segment's whole ``.tmet`` (None unless read whole). ``channel_record_flags``: the
channel's own record files (None unless probed)."""


def looks_like_session(path):
    """True for a path that names a MEF 3.0 session: ``*.mefd`` (any case; also a URL),
    or a directory holding a channel directory (``*.timd``). For choosing a reader, not
    for validating: opening the session says what is wrong with it."""
    try:
        p = pathlib.Path(path)
    except TypeError:
        return False
    if p.suffix.lower() == SESSION_EXT:
        return True
    try:
        return p.is_dir() and any(c.suffix.lower() == TS_CHANNEL_EXT and c.is_dir() for c in p.iterdir())
    except OSError:
        return False


def validate_name(name, what="channel name"):
    """Raise ValueError unless `name` is a safe MEF base name (one directory level, fits 255 bytes)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty str")
    if "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"{what} {name!r} contains a path separator or NUL")
    if name in (".", "..") or ".." in name.split("."):
        raise ValueError(f"{what} {name!r} could escape the session directory")
    if name != name.strip() or name.startswith("."):
        raise ValueError(f"{what} {name!r} has leading/trailing spaces or a leading dot")
    if len(name.encode("utf-8")) > 255:
        raise ValueError(f"{what} {name!r} is longer than the 255 UTF-8 bytes a MEF header holds")
    return name


def _path_of(ext):
    """A SegmentFiles property: the path of the segment's ``.ext`` file, made when asked for."""
    return property(lambda self: self._stem + ext, doc=f"Path of the segment's .{ext} file.")


class SegmentFiles:
    """Paths of one segment's metadata, index and data files."""

    __slots__ = ("channel", "number", "directory", "_stem")

    def __init__(self, channel_dir, channel, number, width=STANDARD_WIDTH):
        # (width: the digits of the folder's number as another writer spelled it, see
        # _SEGMENT_RE; the files inside carry the folder's own name, as meflib finds them)
        base = f"{channel}-{number:0{width}d}" if width != STANDARD_WIDTH else f"{channel}-{number:06d}"
        self.channel = channel
        self.number = number
        # plain concatenation, the file paths made when asked for: os.path.join and five
        # eager paths cost ~20% of opening a session of 5000 segments
        channel_dir = os.fspath(channel_dir)
        if not channel_dir or channel_dir.endswith(_SEPS):
            self.directory = os.path.join(channel_dir, base + SEGMENT_EXT)
        else:
            self.directory = channel_dir + _SEP + base + SEGMENT_EXT
        self._stem = self.directory + _SEP + base + "."

    @classmethod
    def in_directory(cls, directory, channel, number):
        """The files of a segment kept in another directory (the Writer's temporary one)."""
        self = cls.__new__(cls)
        self.channel = channel
        self.number = number
        self.directory = os.fspath(directory)
        self._stem = os.path.join(self.directory, f"{channel}-{number:06d}.")
        return self

    tmet = _path_of(TMET)
    tidx = _path_of(TIDX)
    tdat = _path_of(TDAT)
    rdat = _path_of(RDAT)
    ridx = _path_of(RIDX)

    def __repr__(self):
        return f"<SegmentFiles {self.channel}-{self.number:06d}>"


class SessionTree:
    """The channels and segments present under a ``.mefd`` directory."""

    def __init__(self, path):
        path = os.fspath(path)
        self.path = os.path.abspath(path.rstrip("/\\") or path)
        if not os.path.isdir(self.path):
            what = "does not exist" if not os.path.exists(self.path) else "is not a directory"
            raise FormatError(f"not a MEF 3.0 session: the path {what}", self.path)
        base = os.path.basename(self.path)
        self.name = base[: -len(SESSION_EXT)] if base.endswith(SESSION_EXT) else base
        found, videos = [], []
        try:
            with os.scandir(self.path) as it:
                for e in it:
                    if e.name.endswith((TS_CHANNEL_EXT, VIDEO_CHANNEL_EXT)):
                        try:
                            if e.is_dir():
                                (found if e.name.endswith(TS_CHANNEL_EXT) else videos).append(e.name)
                        except OSError:
                            pass
        except OSError as exc:
            raise FormatError(f"cannot list the session directory ({exc.strerror})", self.path) from None
        # (plain concatenation: os.path.join costs a microsecond a channel)
        stem = self.path if self.path.endswith(_SEPS) else self.path + _SEP
        self.channel_dirs = {e[: -len(TS_CHANNEL_EXT)]: stem + e for e in sorted(found)}
        #: video channels (``<name>.vidd``): name -> directory
        self.video_dirs = {e[: -len(VIDEO_CHANNEL_EXT)]: stem + e for e in sorted(videos)}
        self._order = None
        if not self.channel_dirs and not base.endswith(SESSION_EXT):
            raise FormatError("not a MEF 3.0 session: no '.timd' channel directories and no '.mefd' suffix", self.path)

    @classmethod
    def from_listing(cls, path, channel_dirs, video_dirs=None):
        """A tree a byte source listed itself (no file system call): `channel_dirs`
        (and `video_dirs`) map channel names to their directories' paths."""
        self = cls.__new__(cls)
        self.path = path
        base = re.split(r"[\\/]", path.rstrip("/\\"))[-1]
        self.name = base[: -len(SESSION_EXT)] if base.endswith(SESSION_EXT) else base
        self.channel_dirs = dict(channel_dirs)
        self.video_dirs = dict(video_dirs or {})
        self._order = None
        return self

    @property
    def channels(self):
        """Channel names sorted by name (not by directory name: 'A-1.timd' sorts before 'A.timd')."""
        if self._order is None:  # (sorted once: channel_dirs does not change)
            self._order = sorted(self.channel_dirs)
        return list(self._order)

    @property
    def rdat(self):
        return os.path.join(self.path, f"{self.name}.{RDAT}")

    @property
    def ridx(self):
        return os.path.join(self.path, f"{self.name}.{RIDX}")

    def channel_records(self, channel):
        d = self.channel_dirs[channel]
        return os.path.join(d, f"{channel}.{RDAT}"), os.path.join(d, f"{channel}.{RIDX}")

    def segments(self, channel):
        """The channel's segments, sorted by number (directories with other names are ignored)."""
        return segment_folders(self.channel_dirs[channel], channel)

    def segment_files(self, channel, numbers, widths=None):
        """The SegmentFiles of a channel's segments `numbers` (as a scan found them, with
        its ``widths``: the digits of each folder's number, None for MEF's six)."""
        return _folders(self.channel_dirs[channel], channel, numbers, widths)


def segment_number(dirname, channel):
    """The number in a segment directory's name ``<channel>-NNNNNN.segd``, or None for
    a name that is not one of `channel`'s segments (for sources that list on their own)."""
    m = _SEGMENT_RE.fullmatch(dirname)
    if not m or m.group("channel") != channel or int(m.group("number")) > _MAX_SEGMENT_NUMBER:
        return None
    return int(m.group("number"))


def segment_dirnames(channel_dir, channel):
    """``[(number, directory name)]`` of every directory in `channel_dir` named as one of
    `channel`'s segments, however spelled (``ch1-000000.segd``, ``ch1-0.segd``), sorted;
    two for one number are both listed (for code that repairs or refuses them; readers
    use :func:`segment_numbers`, which refuses them)."""
    out = []
    try:
        with os.scandir(channel_dir) as it:
            for e in it:
                n = segment_number(e.name, channel)
                if n is not None:
                    try:
                        if e.is_dir():
                            out.append((n, e.name))
                    except OSError:
                        pass
    except OSError as exc:
        raise FormatError(f"cannot list the channel directory ({exc.strerror})", channel_dir) from None
    return sorted(out)


def segments_in(dirnames, channel, where=None):
    """``(numbers, widths)`` of the segment directories among `dirnames` (names of the
    directories in a channel directory, for sources that list on their own): sorted
    numbers, and the digits each is spelled with (None when all have MEF's six).
    FormatError (naming `where`) when two directories claim one number."""
    found = sorted((segment_number(d, channel), len(d) - len(channel) - 6) for d in dirnames
                   if segment_number(d, channel) is not None)
    numbers = np.array([n for n, _ in found], np.int64)
    return numbers, _one_folder_per_number(numbers, np.array([w for _, w in found], np.uint8), where, channel)


def segment_numbers(channel_dir, channel):
    """Sorted numbers of the ``<channel>-NNNNNN.segd`` directories in a channel directory
    (FormatError when two folders spell the same number, e.g. ``ch1-0.segd`` and
    ``ch1-000000.segd``)."""
    return scan_channel(channel_dir, channel, read_files=False).numbers


def segment_folders(channel_dir, channel):
    """The :class:`SegmentFiles` of a channel directory's segments, sorted by number, with
    the paths as their folders are spelled (see :func:`segment_numbers`)."""
    scan = scan_channel(channel_dir, channel, read_files=False)
    return _folders(channel_dir, channel, scan.numbers.tolist(), scan.widths)


def _folders(channel_dir, channel, numbers, widths):
    if widths is None:
        return [SegmentFiles(channel_dir, channel, number) for number in numbers]
    return [SegmentFiles(channel_dir, channel, number, int(w)) for number, w in zip(numbers, widths)]


def _one_folder_per_number(numbers, widths, channel_dir, channel):
    """``widths`` or None when all are six; FormatError when two folders claim one number."""
    if widths is None or not len(numbers):
        return None
    same = np.flatnonzero(numbers[1:] == numbers[:-1])
    if len(same):
        k = int(numbers[same[0]])
        spelled = sorted({f"{channel}-{k:0{int(w)}d}.segd" for w in widths[numbers == k]})
        raise FormatError(
            f"segment folders {' and '.join(spelled)} both claim segment number {k} of channel {channel!r}: "
            f"rename or remove one of them (other readers take them as two segments {k})",
            channel_dir,
        )
    return None if (widths == STANDARD_WIDTH).all() else widths


def scan_channel(channel_dir, channel, metadata_bytes=0, read_files=True, keep=0, field_offsets=(), probe=True,
                 fs_offset=-1):
    """List a channel's segments and (``read_files``) read what opening them needs.

    One pass over the channel's directory and its segments' small files: the start and
    a few fields of every ``.tmet`` (only those are kept), whether each is an intact,
    unencrypted metadata file (with ``fs_offset``, the sampling frequency's offset) and,
    with ``probe``, the size of every ``.tidx`` and which record files exist (a
    :class:`ChannelScan`). In C without the GIL where available (``_scan``), so that
    threads can scan several channels at once; the same in Python elsewhere. Raises
    FormatError when the channel directory cannot be listed; problems with a segment's
    files are left in the result for the caller.
    """
    channel_dir = os.fspath(channel_dir)
    if _scan is not None:
        err, *rest = _scan.scan_channel(
            os.fsencode(channel_dir), os.fsencode(channel), metadata_bytes, read_files,
            UNIVERSAL_HEADER_BYTES, keep, field_offsets, probe, fs_offset,
        )
        if err:
            raise FormatError(f"cannot list the channel directory ({os.strerror(err)})", channel_dir)
        scan = ChannelScan(*rest)
        return scan._replace(widths=_one_folder_per_number(scan.numbers, scan.widths, channel_dir, channel))
    return _scan_channel_py(channel_dir, channel, metadata_bytes, read_files, keep, field_offsets, probe, fs_offset)


def _plain_tmet_py(image, size, fs_offset):
    """Whether a ``.tmet`` image is one ``headers.parse_metadata`` takes as it is (nothing
    to decrypt): whole, type "tmet", version 3, little-endian, both stored CRCs right (or
    0, "not set"), sections 2 and 3 not encrypted, a rate in (0, 1e9]. The reference for
    the C scan's check (``_scan._plain_tmet``)."""
    if len(image) != size or size < TMET_SECTION_LEVELS + 2 or not 0 <= fs_offset <= size - 8:
        return False
    header_crc, body_crc = struct.unpack_from("<II", image, UH_HEADER_CRC)
    if (image[UH_FILE_TYPE] != TMET.encode() + b"\0" or image[UH_VERSION_MAJOR] != MEF_VERSION[0]
            or image[UH_BYTE_ORDER] != LITTLE_ENDIAN_CODE):
        return False
    if max(struct.unpack_from("bb", image, TMET_SECTION_LEVELS)) > 0:
        return False
    if header_crc not in (0, crc32(image[UH_BODY_CRC:UNIVERSAL_HEADER_BYTES])):
        return False
    if body_crc not in (0, crc32(image[UNIVERSAL_HEADER_BYTES:])):
        return False
    fs = struct.unpack_from("<d", image, fs_offset)[0]
    return 0 < fs <= 1e9  # (False for NaN)


def _errno(exc):
    return -(exc.errno or 5)  # (EIO when the OS gave none)


def _scan_channel_py(channel_dir, channel, metadata_bytes=0, read_files=True, keep=0, field_offsets=(), probe=True,
                     fs_offset=-1):
    """:func:`scan_channel` in Python: the reference the C scan is tested against."""
    found = []
    try:
        # os.scandir: the entry type comes with the listing; DirEntry.is_dir follows
        # symlinks as os.path.isdir does
        with os.scandir(channel_dir) as it:
            for e in it:
                if segment_number(e.name, channel) is not None:
                    try:
                        if e.is_dir():
                            found.append(e.name)
                    except OSError:
                        pass
    except OSError as exc:
        raise FormatError(f"cannot list the channel directory ({exc.strerror})", channel_dir) from None
    numbers, widths = segments_in(found, channel, channel_dir)
    if not read_files:
        return ChannelScan(numbers, None, None, None, None, None, None, None, None, widths)
    images, sizes, flags = [], [] if probe else None, [] if probe else None
    for files in _folders(channel_dir, channel, numbers.tolist(), widths):
        try:
            fd = os.open(files.tmet, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                images.append(os.read(fd, metadata_bytes + 1))
            finally:
                os.close(fd)
        except OSError as exc:
            images.append(_errno(exc))
        if probe:
            try:
                sizes.append(os.stat(files.tidx).st_size)
            except OSError as exc:
                sizes.append(_errno(exc))
            flags.append(record_flags(os.access(files.rdat, os.F_OK), os.access(files.ridx, os.F_OK)))
    ch_flags = None
    if probe:
        base = os.path.join(channel_dir, channel)
        ch_flags = record_flags(os.access(f"{base}.{RDAT}", os.F_OK), os.access(f"{base}.{RIDX}", os.F_OK))
    return channel_scan(numbers, images, metadata_bytes, keep, field_offsets, fs_offset, sizes, flags, ch_flags,
                        widths)


def record_flags(has_rdat, has_ridx):
    """HAS_RDAT | HAS_RIDX for the record files that exist."""
    return (HAS_RDAT if has_rdat else 0) | (HAS_RIDX if has_ridx else 0)


def channel_scan(numbers, images, metadata_bytes, keep=0, field_offsets=(), fs_offset=-1, index_sizes=None,
                 segment_record_flags=None, channel_record_flags=None, widths=None):
    """A :class:`ChannelScan` from what a byte source fetched, judged in Python exactly as
    the C scan judges it: per segment (``numbers``, sorted) the bytes of its ``.tmet``
    read (up to ``metadata_bytes + 1``) or a negative errno; with a probe, the ``.tidx``
    sizes (or -errno) and record flags (see :func:`record_flags`) of the segments and of
    the channel. For sources that list and fetch on their own (the Python scan, a remote
    source). ``widths``: the digits of each segment folder's number, None for MEF's six."""
    k, offsets = len(numbers), [int(o) for o in field_offsets]
    heads, fields = np.zeros((k, keep), np.uint8), np.zeros((k, len(offsets)), np.int64)
    lengths = np.empty(k, np.int64)
    plain = np.zeros(k, np.uint8) if fs_offset >= 0 else None
    first = None
    for i, got in enumerate(images):
        if isinstance(got, int):  # (an errno: the file could not be read)
            lengths[i] = got
            continue
        lengths[i] = len(got)
        image = got[:metadata_bytes]
        heads[i, : min(keep, len(image))] = np.frombuffer(image[:keep], np.uint8)
        for j, o in enumerate(offsets):
            if o + 8 <= len(image):
                fields[i, j] = int.from_bytes(image[o : o + 8], "little", signed=True)
        if len(got) == metadata_bytes > 0:
            if plain is not None:
                plain[i] = _plain_tmet_py(image, metadata_bytes, fs_offset)
            if i == 0:
                first = bytes(image)
    probed = index_sizes is not None
    return ChannelScan(
        numbers, heads, fields, first, lengths, plain,
        np.array(index_sizes, np.int64) if probed else None,
        np.array(segment_record_flags, np.uint8) if probed else None,
        channel_record_flags if probed else None,
        None if widths is None else np.asarray(widths, np.uint8),
    )


SessionScan = collections.namedtuple(
    "SessionScan",
    "names errors starts numbers heads fields lengths plain images index_sizes record_flags channel_record_flags "
    "widths",
    defaults=(None,),
)
SessionScan.__doc__ = """What a scan of many channels found, one table for all of them.

Channel ``names[i]`` owns the segment rows ``starts[i]:starts[i + 1]`` (``starts`` has
one more item than ``names``); ``errors[i]`` is None or the FormatError with which its
directory could not be listed (then it owns no rows). Per row, as in
:class:`ChannelScan`: ``numbers``, ``heads``, ``fields``, ``lengths``, ``plain`` and,
when probed, ``index_sizes`` and ``record_flags`` (else None). ``images``: row -> the
whole ``.tmet`` image of each channel's first segment (when read whole).
``channel_record_flags`` (uint8 per channel, None unless probed). ``widths`` (uint8
per row): the digits each segment folder's name spells its number with, None when all
have MEF's six; a channel with two folders claiming one number has that FormatError
in ``errors`` (and no rows), as :func:`scan_channel` raises it."""


def join_scans(names, scans):
    """One :class:`SessionScan` of per-channel :class:`ChannelScan` s (or the MefError a
    channel raised, in its place): how a source that scans channel by channel answers
    ``ByteSource.scan_session``."""
    names = list(names)
    good = [s for s in scans if not isinstance(s, Exception)]
    errors = [s if isinstance(s, Exception) else None for s in scans]
    counts = [0 if isinstance(s, Exception) else len(s.numbers) for s in scans]
    starts = np.zeros(len(names) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    probed = bool(good) and all(s.index_sizes is not None for s in good)

    def cat(field, dtype, shape=()):
        parts = [getattr(s, field) for s in good]
        return np.concatenate(parts) if parts else np.zeros((0,) + shape, dtype)

    images = {int(starts[i]): s.first for i, s in enumerate(scans)
              if not isinstance(s, Exception) and s.first is not None}
    flags = None
    if probed:
        flags = np.array([0 if isinstance(s, Exception) else s.channel_record_flags for s in scans], np.uint8)
    keep = good[0].heads.shape[1] if good else 0
    nfields = good[0].fields.shape[1] if good else 0
    widths = None
    if any(s.widths is not None for s in good):
        widths = np.concatenate([np.full(len(s.numbers), STANDARD_WIDTH, np.uint8) if s.widths is None
                                 else np.asarray(s.widths, np.uint8) for s in good])
    return SessionScan(
        names, errors, starts, cat("numbers", np.int64), cat("heads", np.uint8, (keep,)),
        cat("fields", np.int64, (nfields,)), cat("lengths", np.int64), cat("plain", np.uint8), images,
        cat("index_sizes", np.int64) if probed else None, cat("record_flags", np.uint8) if probed else None, flags,
        widths,
    )


def first_segments(scan):
    """The SessionScan of each channel's first segment only (what checking a password needs)."""
    counts = np.diff(scan.starts)
    rows = scan.starts[:-1][counts > 0]
    starts = np.zeros(len(scan.names) + 1, np.int64)
    np.cumsum(counts > 0, out=starts[1:])

    def pick(a):
        return None if a is None else a[rows]

    images = {k: scan.images[int(r)] for k, r in enumerate(rows.tolist()) if int(r) in scan.images}
    return SessionScan(scan.names, scan.errors, starts, pick(scan.numbers), pick(scan.heads), pick(scan.fields),
                       pick(scan.lengths), pick(scan.plain), images, pick(scan.index_sizes), pick(scan.record_flags),
                       scan.channel_record_flags, pick(scan.widths))


def scan_session(session_dir, names, metadata_bytes, keep, field_offsets, fs_offset, probe=False, threads=1,
                 first_only=False):
    """:func:`scan_channel` for many channels of one session in two passes: every channel
    directory listed, then every segment's ``.tmet`` read and judged (and, with
    ``probe``, its ``.tidx`` sized and its record files looked for), both in C on up to
    `threads` threads (the second pass splits the session's segments evenly, however
    they are spread over channels). A :class:`SessionScan`; the channel directories are
    ``<name>.timd`` in `session_dir`. ``first_only``: each channel's first segment only.
    Without the C scan, channel by channel in Python (the same results)."""
    names = list(names)
    if _scan is None:
        scans = []
        for name in names:
            try:
                scans.append(_scan_channel_py(os.path.join(session_dir, name + TS_CHANNEL_EXT), name, metadata_bytes,
                                              True, keep, field_offsets, probe, fs_offset))
            except FormatError as exc:
                scans.append(exc)
        scan = join_scans(names, scans)
        return first_segments(scan) if first_only else scan
    sdir = os.fsencode(session_dir)
    bnames = [os.fsencode(n) for n in names]
    ext = TS_CHANNEL_EXT.encode()
    bdirs = [n + ext for n in bnames]
    err, errnos, counts, keys, ch_flags = _scan.list_channels(sdir, bdirs, bnames, probe, threads)
    if err:
        raise FormatError(f"cannot list the session directory ({os.strerror(err)})", session_dir)
    errors = [None] * len(names)
    for i in np.flatnonzero(errnos).tolist():
        errors[i] = FormatError(f"cannot list the channel directory ({os.strerror(int(errnos[i]))})",
                                os.path.join(session_dir, names[i] + TS_CHANNEL_EXT))
    keys, counts = _refuse_twin_folders(session_dir, names, keys, counts, errors)
    if first_only:
        ends = np.cumsum(counts)
        keys = keys[(ends - counts)[counts > 0]]
        counts = np.minimum(counts, 1)
    starts = np.zeros(len(names) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    numbers = keys >> 8
    widths = (keys & 0xFF).astype(np.uint8)
    total = len(numbers)
    offsets = np.ascontiguousarray(field_offsets, np.int64)
    heads = np.empty((total, keep), np.uint8)
    fields = np.empty((total, len(offsets)), np.int64)
    lengths = np.empty(total, np.int64)
    plain = np.empty(total, np.uint8)
    whole = np.zeros(total, np.uint8)
    whole[starts[:-1][counts > 0]] = 1
    channel_of = np.repeat(np.arange(len(names), dtype=np.int64), counts)
    index_sizes = np.empty(total, np.int64) if probe else None
    record_flags = np.empty(total, np.uint8) if probe else None
    err, images = _scan.read_segments(sdir, bdirs, bnames, channel_of, keys, 0, total, metadata_bytes,
                                      UNIVERSAL_HEADER_BYTES, keep, offsets, fs_offset, heads, fields, lengths, plain,
                                      whole, index_sizes, record_flags, threads)
    if err:
        raise FormatError(f"cannot open the session directory ({os.strerror(err)})", session_dir)
    return SessionScan(names, errors, starts, numbers, heads, fields, lengths, plain, images, index_sizes,
                       record_flags, ch_flags, None if (widths == STANDARD_WIDTH).all() else widths)


def _refuse_twin_folders(session_dir, names, keys, counts, errors):
    """``(keys, counts)`` of a listing of many channels (the C scan's ``number << 8 |
    digits``) without the channels where two folders claim one number: those get the
    FormatError :func:`scan_channel` raises in `errors` and no rows."""
    numbers = keys >> 8
    channel_of = np.repeat(np.arange(len(names), dtype=np.int64), counts)
    twins = np.flatnonzero((numbers[1:] == numbers[:-1]) & (channel_of[1:] == channel_of[:-1]))
    if not len(twins):
        return keys, counts
    ends = np.cumsum(counts)
    bad = np.unique(channel_of[twins])
    for c in bad.tolist():
        a, b = int(ends[c] - counts[c]), int(ends[c])
        try:
            _one_folder_per_number(numbers[a:b], (keys[a:b] & 0xFF).astype(np.uint8),
                                   os.path.join(session_dir, names[c] + TS_CHANNEL_EXT), names[c])
        except FormatError as exc:
            errors[c] = exc
    counts = counts.copy()
    counts[bad] = 0
    return keys[~np.isin(channel_of, bad)], counts


def path_tokens(session_dir, paths, threads=1):
    """``(tokens, newest)``: per path ('/'-separated, relative to `session_dir`, "." for
    itself) an int64 row ``(size, mtime_ns, ctime_ns, inode)`` (``(-errno, 0, 0, 0)``
    for one that cannot be looked at), links followed; ``newest`` the latest of those
    times. In C on up to `threads` threads where built (one ``fstatat`` a path)."""
    if _scan is not None:
        err, tokens = _scan.stat_paths(os.fsencode(session_dir), os.fsencode("\0".join(paths)), threads)
        if err:
            raise FormatError(f"cannot open the session directory ({os.strerror(err)})", session_dir)
    else:
        tokens = np.zeros((len(paths), 4), np.int64)
        for i, p in enumerate(paths):
            try:
                st = os.stat(os.path.join(session_dir, *p.split("/")))
                tokens[i] = st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
            except OSError as exc:
                tokens[i, 0] = _errno(exc)
    newest = int(tokens[:, 1].max()) if len(tokens) else 0
    return tokens, newest
