"""Which Writer may repair a session: an advisory lock on the session directory.

Every open :class:`~neo_mef3.Writer` holds a shared ``flock`` on the ``.mefd`` directory
for its lifetime. Repairing what an interrupted write left (at open, or ``neo-mef3
repair``) needs the lock exclusively: a session another Writer has open may be in the
middle of an append that only looks interrupted. Where ``flock`` does not exist the
lock always succeeds.
"""

import os

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["SessionLock"]


class SessionLock:
    """A shared or exclusive advisory lock on a session directory (released by :meth:`release`)."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.exclusive = False
        if fcntl is not None:
            try:
                self.fd = os.open(path, os.O_RDONLY)
            except OSError:
                self.fd = None

    def try_exclusive(self):
        """Take the lock exclusively if no one else holds it; True on success."""
        if self.fd is None:
            return True
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        self.exclusive = True
        return True

    def share(self):
        """Hold the lock shared (after an exclusive hold, or waiting for a repairer to finish)."""
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
        self.exclusive = False

    def release(self):
        if self.fd is not None:
            try:
                os.close(self.fd)  # (closing drops the flock)
            except OSError:
                pass
            self.fd = None

    def __del__(self):
        self.release()
