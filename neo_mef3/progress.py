"""Progress reports and cancellation for long operations (copies, checks, figures).

Every long function of the package takes the same two keyword arguments:

``progress``
    ``None`` or ``False``: silent. ``True``: a tqdm bar on stderr. A callable:
    called as ``progress(done, total)`` (ints, in the operation's own unit: bytes for
    copies, samples or segments elsewhere) after each step; ``total`` may be 0 when
    unknown. An operation made of phases (write, then verify) restarts ``done`` at
    each phase.
``cancel``
    ``None``, a callable returning true to stop, or a ``threading.Event`` (anything
    with ``is_set()``). It is looked at between steps; the operation then raises
    :class:`~neo_mef3.errors.CancelledError` after removing what it was writing.

>>> with Tracker(total_bytes, "anonymize", progress=True, cancel=stop_event) as t:
...     for chunk in chunks:
...         t.check()          # raises CancelledError when asked to stop
...         work(chunk)
...         t.advance(len(chunk))
"""

import shutil
import sys

from .errors import CancelledError

__all__ = ["Tracker", "is_cancelled", "terminal_progress"]


def is_cancelled(cancel):
    """True when ``cancel`` (None, a callable or an Event) says stop."""
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if is_set is not None:
        return bool(is_set())
    if callable(cancel):
        return bool(cancel())
    raise TypeError("cancel must be None, a callable or a threading.Event")


def terminal_progress(quiet=False, stream=None):
    """What a command-line tool passes as ``progress``: a bar only on a terminal."""
    stream = stream or sys.stderr
    try:
        return (not quiet) and stream.isatty()
    except (AttributeError, ValueError):
        return False


class Tracker:
    """One operation's progress and cancel checks (see the module docstring)."""

    def __init__(self, total=0, desc="", unit="B", progress=None, cancel=None):
        if progress not in (None, False, True) and not callable(progress):
            raise TypeError("progress must be None, True/False or a callable(done, total)")
        is_cancelled(cancel)  # validates its type now rather than mid-way
        self._progress = progress
        self._cancel = cancel
        self._unit = unit
        self._bar = None
        self.done = 0
        self.total = int(total or 0)
        self.desc = desc
        self._open_bar()

    def _open_bar(self):
        if self._progress is True:
            from tqdm import tqdm

            # (a terminal that reports no size, as a fresh pseudo-terminal does, counts as 80x24:
            # tqdm would otherwise draw nothing)
            size = shutil.get_terminal_size((80, 24))
            self._bar = tqdm(total=self.total or None, desc=self.desc, unit=self._unit,
                             unit_scale=self._unit == "B", unit_divisor=1024 if self._unit == "B" else 1000,
                             file=sys.stderr, leave=False, ncols=size.columns, nrows=size.lines)

    def phase(self, desc, total=0, unit=None):
        """Start the next phase (``done`` back to 0)."""
        self.close()
        self.desc, self.total, self.done = desc, int(total or 0), 0
        if unit is not None:
            self._unit = unit
        self._open_bar()
        self._report()

    def check(self):
        """Raise CancelledError if the operation was asked to stop."""
        if is_cancelled(self._cancel):
            raise CancelledError(f"{self.desc or 'operation'} cancelled")

    def advance(self, n=1):
        """Count ``n`` more units done, report, and check for a cancel."""
        n = int(n)
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        self._report()
        self.check()

    def _report(self):
        if callable(self._progress) and self._progress is not True:
            self._progress(self.done, self.total)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
