"""``on_error="skip"``: what a Reader left out, and the warnings that say so."""

import threading
import warnings

from .. import forksafe
from ..errors import MefWarning


class Skips:
    """The damaged parts a Reader skipped: ``items`` (dicts ``what``, ``path``,
    ``problem``: ``Reader.skipped``) and those not yet reported by a warning.

    ``enabled`` is False with ``on_error="raise"``: the Reader's parts then get no skip
    callback and raise instead.
    """

    def __init__(self, enabled):
        self.enabled = enabled
        self.items = []
        self._pending = []
        self._blocks = set()  # (data file, byte offset) of the RED blocks already reported
        self._lock = threading.Lock()
        forksafe.register(self, Skips._after_fork)

    def _after_fork(self):
        self._lock = threading.Lock()

    def skip(self, what, path, problem):
        """Note a damaged part left out (reported by the next :meth:`warn`)."""
        entry = {"what": what, "path": str(path), "problem": str(problem)}
        with self._lock:
            self.items.append(entry)
            self._pending.append(entry)

    def first_report(self, path, offset):
        """True the first time a RED block (data file, byte offset) is reported."""
        with self._lock:
            if (path, offset) in self._blocks:
                return False
            self._blocks.add((path, offset))
            return True

    def warn(self, source, stacklevel=3):
        """One MefWarning listing what was skipped since the last one (of `source`)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            listed = "; ".join(
                f"{e['what']}: {e['problem'] if e['path'] in e['problem'] else e['path'] + ': ' + e['problem']}"
                for e in pending[:8]
            )
            more = f"; and {len(pending) - 8} more" if len(pending) > 8 else ""
            warnings.warn(
                f"neo_mef3.Reader (on_error='skip') skipped {len(pending)} damaged part(s) of {source}, "
                f"read as gaps (Reader.skipped lists them): {listed}{more}",
                MefWarning,
                stacklevel=stacklevel,
            )
