"""Healing what interrupted writes left: at Writer open, and ``neo-mef3 repair``.

An interrupted write (a killed process, a power cut, Ctrl-C, a cancel) can leave a
hidden temporary file or directory, and an interrupted append can leave a segment whose
files do not agree: blocks after the last index entry, index entries past the count the
header declares (possibly a torn one), headers or metadata that still describe the
state before the append. Repairing a segment is what :mod:`.recovery` already does for
the next append, done at once and with nothing new written:

* every index entry past the declared count whose block is intact and matches it
  exactly is adopted (the interrupted append is *finished* as far as it got); the
  rest -- unindexed bytes, torn or unmatched entries -- is cut off (*rolled back*);
* the index header, the data header and the metadata (section 2's counts, times and
  statistics, rebuilt from the index) are rewritten in the Writer's order, each step
  flushed, the metadata atomically (temporary file, rename).

No block is rewritten: a sample that reads correctly before the repair reads the same
after it. A segment whose committed part is damaged (its index fails its CRC) is left
alone and reported.

A Writer repairs its channels' last segments when it opens a session (if no other
Writer has the session open: :mod:`.lock`) and lists what it did in its summary;
:func:`repair_session` (``neo-mef3 repair``) looks at every segment.
"""

import os

import numpy as np

from .. import fileio
from ..errors import MefError
from ..format import crypto, headers, records
from ..format.layout import RDAT, RECORD_INDEX, RIDX, SESSION_EXT, TS_CHANNEL_EXT, UNIVERSAL_HEADER_BYTES
from . import plan, recovery, segments
from .lock import SessionLock
from .state import WriteSession

__all__ = ["repair", "repair_session", "RepairReport"]


class RepairReport:
    """What :func:`repair_session` did (or, ``dry_run``, would do): ``actions`` and
    ``unrepaired`` as lists of ``(path, sentence)``."""

    def __init__(self, path, dry_run):
        self.path, self.dry_run = path, dry_run
        self.actions, self.unrepaired = [], []

    def text(self):
        verb = "would repair" if self.dry_run else "repaired"
        lines = [f"{verb:<12}{p}: {a}" for p, a in self.actions]
        lines += [f"{'left alone':<12}{p}: {a}" for p, a in self.unrepaired]
        if not lines:
            lines.append("nothing to repair")
        return "\n".join(lines)

    def as_dict(self):
        return {"path": self.path, "dry_run": self.dry_run,
                "actions": [{"path": p, "action": a} for p, a in self.actions],
                "unrepaired": [{"path": p, "problem": m} for p, m in self.unrepaired]}


def _channel_dirs(path):
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        return []
    return [(e[: -len(TS_CHANNEL_EXT)], os.path.join(path, e)) for e in entries
            if e.endswith(TS_CHANNEL_EXT) and not e.startswith(".") and os.path.isdir(os.path.join(path, e))]


def repair(session, all_segments=False, dry_run=False):
    """Repair the session a :class:`~.state.WriteSession` describes; returns
    ``(actions, unrepaired)`` as lists of ``(path, sentence)``. Only the last segment of
    each channel is looked at unless `all_segments`."""
    actions, unrepaired = [], []

    def temporaries(directory):
        for p in fileio.stale_temporaries(directory):
            actions.append((p, "removed the temporary file or directory of an interrupted write"))
            if not dry_run:
                if os.path.isdir(p):
                    fileio.remove_tree(p)
                else:
                    fileio.remove_file(p)

    temporaries(session.path)
    _repair_records(os.path.join(session.path, session.name), dry_run, actions, unrepaired)
    for name, directory in _channel_dirs(session.path):
        temporaries(directory)
        _repair_records(os.path.join(directory, name), dry_run, actions, unrepaired)
        folders = recovery.segment_folders(directory, name)
        numbers = sorted(folders) if all_segments else sorted(folders)[-1:]
        for number in numbers:
            for files in folders[number]:
                temporaries(files.directory)
                _repair_segment(session, files, dry_run, actions, unrepaired)
    return actions, unrepaired


def _repair_records(stem, dry_run, actions, unrepaired):
    """A level's ``.ridx`` made to index its ``.rdat`` (a power cut can keep the rename of
    one and not of the other): rebuilt from the ``.rdat``, or removed without one."""
    rdat, ridx = f"{stem}.{RDAT}", f"{stem}.{RIDX}"
    if not os.path.exists(rdat):
        if os.path.exists(ridx):
            actions.append((ridx, "removed a record index without its records file"))
            if not dry_run:
                fileio.remove_files([ridx])
        return
    try:
        image = records.index_of_records_file(fileio.read_file(rdat, "record data"), rdat)
    except MefError as exc:
        unrepaired.append((rdat, f"not repaired: {exc}"))
        return
    try:
        current = fileio.read_file(ridx, "record index")
    except MefError:
        current = None
    if current is not None and _same_index(current, image):
        return
    actions.append((ridx, "rebuilt the record index from the records file" if current is not None
                    else "wrote the missing record index"))
    if not dry_run:
        fileio.replace_file(ridx, image)


def _same_index(current, image):
    """True when an existing ``.ridx`` indexes the same records as `image`: count, and each
    entry's type, time and file offset (writers differ in the encryption byte)."""
    if len(current) != len(image) or len(current) < UNIVERSAL_HEADER_BYTES:
        return False
    try:
        headers.parse_universal_header(current, None, RIDX)
    except MefError:
        return False
    if headers.header_entries(current) != headers.header_entries(image):
        return False
    a = np.frombuffer(current, RECORD_INDEX, offset=UNIVERSAL_HEADER_BYTES)
    b = np.frombuffer(image, RECORD_INDEX, offset=UNIVERSAL_HEADER_BYTES)
    return all(np.array_equal(a[f], b[f]) for f in ("type_string", "time", "file_offset"))


def _repair_segment(session, files, dry_run, actions, unrepaired):
    if not recovery.needs_look(files, session):
        return
    try:
        seg = recovery.recover_segment(files, session)
    except MefError as exc:
        unrepaired.append((files.directory, f"not repaired: {exc}"))
        return
    found = recovery.findings(seg)
    if not found:
        return
    if not seg.n_blocks:
        unrepaired.append((files.directory, "no intact block is indexed; not repaired (" + "; ".join(found) + ")"))
        return
    declared = headers.header_entries(seg.tidx_header)
    adopted = seg.n_blocks - declared
    what = "; ".join(found)
    if adopted > 0:
        what += f" -> {adopted} block(s) of the interrupted append adopted"
    actions.append((files.directory, what + "; headers and metadata rewritten from the index"))
    if not dry_run:
        segments.append(session, seg, plan.NO_BLOCKS, seg.end_time, seg.rto)


def open_session(path, password=""):
    """A :class:`~.state.WriteSession` for repairing the session at `path` (its level-2
    password when encrypted)."""
    path = os.path.abspath(os.fspath(path).rstrip("/\\") or os.fspath(path))
    base = os.path.basename(path)
    name = base[: -len(SESSION_EXT)] if base.endswith(SESSION_EXT) else base
    existing = recovery.existing_fields(path, name)
    fields, keys = crypto.writing_keys("", password, existing, path) if existing is not None and any(
        existing[0]) else (None, None)
    return WriteSession(path, name, fields, keys, True, 1, recovery.existing_rto(path, keys), b"")


def repair_session(path, password="", dry_run=False):
    """Repair every segment of the session at `path` (see the module docstring).

    `password` is the level-2 password of an encrypted session. Raises MefError when
    another Writer has the session open (its append may be in progress) or the session
    cannot be opened. Returns a :class:`RepairReport`.
    """
    session = open_session(path, password)
    report = RepairReport(session.path, dry_run)
    lock = SessionLock(session.path)
    try:
        if not dry_run and not lock.try_exclusive():
            raise MefError("a Writer has the session open; repair it once that Writer is closed", session.path)
        report.actions, report.unrepaired = repair(session, all_segments=True, dry_run=dry_run)
    finally:
        lock.release()
    return report
