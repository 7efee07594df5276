"""The MEF 3.0 directory tree: session (``.mefd``) -> channels (``.timd``) -> segments (``.segd``).

Finding files is kept apart from parsing them so that the Reader, the Writer and the
checker agree on what a session contains. Only names are inspected here.
"""

import os
import re

from .errors import FormatError
from .format.layout import RDAT, RIDX, SEGMENT_EXT, SESSION_EXT, TDAT, TIDX, TMET, TS_CHANNEL_EXT

_SEP = os.sep
_SEPS = tuple(c for c in (os.sep, os.altsep) if c)
_SEGMENT_RE = re.compile(r"^(?P<channel>.*)-(?P<number>\d{6})\.segd$")


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


class SegmentFiles:
    """Paths of one segment's metadata, index and data files."""

    __slots__ = ("channel", "number", "directory", "tmet", "tidx", "tdat", "rdat", "ridx")

    def __init__(self, channel_dir, channel, number):
        base = f"{channel}-{number:06d}"
        self.channel = channel
        self.number = number
        # plain concatenation: os.path.join costs ~15% of opening a session of 5000 segments
        channel_dir = os.fspath(channel_dir)
        if not channel_dir or channel_dir.endswith(_SEPS):
            self.directory = os.path.join(channel_dir, base + SEGMENT_EXT)
        else:
            self.directory = channel_dir + _SEP + base + SEGMENT_EXT
        stem = self.directory + _SEP + base + "."
        self.tmet = stem + TMET
        self.tidx = stem + TIDX
        self.tdat = stem + TDAT
        self.rdat = stem + RDAT
        self.ridx = stem + RIDX

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
        found = []
        try:
            with os.scandir(self.path) as it:
                for e in it:
                    if e.name.endswith(TS_CHANNEL_EXT):
                        try:
                            if e.is_dir():
                                found.append(e.name)
                        except OSError:
                            pass
        except OSError as exc:
            raise FormatError(f"cannot list the session directory ({exc.strerror})", self.path) from None
        self.channel_dirs = {e[: -len(TS_CHANNEL_EXT)]: os.path.join(self.path, e) for e in sorted(found)}
        if not self.channel_dirs and not base.endswith(SESSION_EXT):
            raise FormatError("not a MEF 3.0 session: no '.timd' channel directories and no '.mefd' suffix", self.path)

    @property
    def channels(self):
        """Channel names sorted by name (not by directory name: 'A-1.timd' sorts before 'A.timd')."""
        return sorted(self.channel_dirs)

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
        d = self.channel_dirs[channel]
        # os.scandir: the entry type comes with the listing (no stat per segment directory;
        # DirEntry.is_dir follows symlinks as os.path.isdir does)
        found = []
        try:
            with os.scandir(d) as it:
                for e in it:
                    m = _SEGMENT_RE.match(e.name)
                    if m and m.group("channel") == channel:
                        try:
                            is_dir = e.is_dir()
                        except OSError:
                            is_dir = False
                        if is_dir:
                            found.append(int(m.group("number")))
        except OSError as exc:
            raise FormatError(f"cannot list the channel directory ({exc.strerror})", d) from None
        return [SegmentFiles(d, channel, n) for n in sorted(found)]
