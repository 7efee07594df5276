"""What the checker found: :class:`Report` (problems, notes, per-channel details; text
and JSON), and the wording helpers every level uses (times, printable paths, messages)."""

import datetime
import json
import os

from .. import fileio

#: the note on a leftover temporary directory of an interrupted write
_LEFTOVER_DIRECTORY = ("temporary directory of an interrupted write (readers ignore it; the next Writer on the "
                       "session removes it)")


def _when(uutc):
    """A uUTC time as a UTC date for the report ("-" when unknown)."""
    if uutc is None:
        return "-"
    try:
        dt = datetime.datetime.fromtimestamp(uutc / 1e6, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{uutc} us"
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _safe(s):
    """A path or name printable on any terminal (non-UTF-8 bytes escaped)."""
    return str(s).encode("utf-8", "backslashreplace").decode("utf-8")


def _plain(exc, path):
    """An exception's message without the path prefix (the report names the file)."""
    msg = str(exc)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def _note_temporaries(report, directory, entries, message=_LEFTOVER_DIRECTORY):
    """A note on each of `entries` (names in `directory`) that an interrupted write left."""
    for e in entries:
        if fileio.is_temporary(e):
            report.note(os.path.join(directory, e), message)


class Report:
    """The checker's findings: ``problems`` and ``notes`` (lists of (path, message)),
    per-channel details in ``channels`` and records counts in ``records``."""

    def __init__(self, path):
        self.path = path
        self.usable = True
        self.fatal = None
        self.channels = []
        self.records = {}
        self.problems = []
        self.notes = []

    def problem(self, where, message):
        self.problems.append((_safe(where), _safe(message)))

    def note(self, where, message):
        self.notes.append((_safe(where), _safe(message)))

    def unusable(self, exc):
        """The input cannot be checked at all (exit code 2) because of `exc`."""
        self.usable, self.fatal = False, _safe(exc)
        return self

    @property
    def exit_code(self):
        if not self.usable:
            return 2
        return 1 if self.problems else 0

    @property
    def consistent(self):
        return self.usable and not self.problems

    def as_dict(self):
        return {
            "path": _safe(self.path),
            "usable": self.usable,
            "fatal": self.fatal,
            "exit_code": self.exit_code,
            "channels": self.channels,
            "records": self.records,
            "problems": [{"path": p, "message": m} for p, m in self.problems],
            "notes": [{"path": p, "message": m} for p, m in self.notes],
        }

    def json(self):
        return json.dumps(self.as_dict(), indent=1, default=str)

    def relocate(self, old, new):
        """Paths under `old` (a local copy) named under `new` (where the session is)."""
        def moved(p):
            return new + p[len(old):] if isinstance(p, str) and (p == old or p.startswith(old + os.sep)) else p

        self.path = moved(self.path)
        self.problems = [(moved(p), m) for p, m in self.problems]
        self.notes = [(moved(p), m) for p, m in self.notes]
        for ch in self.channels:
            ch["path"] = moved(ch.get("path"))
            for s in ch.get("segments", ()):
                s["path"] = moved(s.get("path"))

    def text(self):
        out = [f"session   {_safe(self.path)}"]
        if not self.usable:
            out.append(f"result    UNUSABLE: {self.fatal}")
            return "\n".join(out)
        out.append(f"channels  {len(self.channels)}")
        for ch in self.channels:
            fs = ch.get("sampling_frequency")
            rate = f"{fs:.6g} Hz" if fs else "rate ?"
            out.append(f"  {_safe(ch['name'])}  {rate}  {len(ch['segments'])} segment(s)  {ch['verdict']}")
            for s in ch["segments"]:
                out.append(f"    segment {s['number']}  {_safe(os.path.basename(s['path']))}  {s['verdict']}")
                d, f = s.get("declared"), s.get("found")
                if d:
                    out.append(
                        f"      declared  {d['blocks']} blocks  {d['samples']} samples  "
                        f"{_when(d['start_time'])} .. {_when(d['end_time'])}  {d['discontinuities']} discontinuities"
                    )
                if f:
                    out.append(
                        f"      found     {f['index_entries']} index entries ({f['committed_entries']} committed, "
                        f"{f['uncommitted_entries']} uncommitted)  {f['good_blocks']} good blocks, "
                        f"{f['bad_blocks']} bad  {f['samples']} samples  "
                        f"{_when(f['start_time'])} .. {_when(f['end_time'])}  {f['discontinuities']} discontinuities"
                    )
                    out.append(
                        f"      CRCs      {s['crc']}   tail: {f['tail_bytes']} bytes after the last indexed block, "
                        f"{f['torn_index_bytes']} bytes of a torn index entry"
                    )
        if self.records:
            out.append("records   " + ", ".join(f"{_safe(k)}: {v}" for k, v in self.records.items()))
        for p, m in self.notes:
            out.append(f"note      {p}: {m}")
        for p, m in self.problems:
            out.append(f"PROBLEM   {p}: {m}")
        verdict = "consistent" if not self.problems else f"{len(self.problems)} problem(s) found"
        out.append(f"result    {verdict}")
        return "\n".join(out)
