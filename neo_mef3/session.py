"""The MEF 3.0 directory tree: session (``.mefd``) -> channels (``.timd``) -> segments (``.segd``).

Finding files is kept apart from parsing them so that the Reader, the Writer and the
checker agree on what a session contains. Only names are inspected here.
"""

import os
import re

from .errors import FormatError
from .format.layout import RDAT, RIDX, SEGMENT_EXT, SESSION_EXT, TDAT, TIDX, TMET, TS_CHANNEL_EXT

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
        self.directory = os.path.join(channel_dir, base + SEGMENT_EXT)
        self.tmet = os.path.join(self.directory, f"{base}.{TMET}")
        self.tidx = os.path.join(self.directory, f"{base}.{TIDX}")
        self.tdat = os.path.join(self.directory, f"{base}.{TDAT}")
        self.rdat = os.path.join(self.directory, f"{base}.{RDAT}")
        self.ridx = os.path.join(self.directory, f"{base}.{RIDX}")

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
        try:
            entries = sorted(os.listdir(self.path))
        except OSError as exc:
            raise FormatError(f"cannot list the session directory ({exc.strerror})", self.path) from None
        self.channel_dirs = {
            e[: -len(TS_CHANNEL_EXT)]: os.path.join(self.path, e)
            for e in entries
            if e.endswith(TS_CHANNEL_EXT) and os.path.isdir(os.path.join(self.path, e))
        }
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
        try:
            entries = os.listdir(d)
        except OSError as exc:
            raise FormatError(f"cannot list the channel directory ({exc.strerror})", d) from None
        found = []
        for e in entries:
            m = _SEGMENT_RE.match(e)
            if m and m.group("channel") == channel and os.path.isdir(os.path.join(d, e)):
                found.append(int(m.group("number")))
        return [SegmentFiles(d, channel, n) for n in sorted(found)]
