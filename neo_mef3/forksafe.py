"""Fork safety: objects that own threads or locks start afresh in a forked child.

``fork`` copies a process's memory but only the thread that called it. A thread pool
copied into the child still lists its worker threads, so work submitted there waits for
threads that do not exist, and a lock some other thread held at the fork stays held
forever. Parallel jobs fork by default on Linux (SpikeInterface, multiprocessing), so
every object of this package that owns threads or locks registers here and drops them
in the child; pools are created again when next needed. File descriptors survive a
fork and are read with ``pread`` (no shared file position), so they stay valid.
"""

import os
import weakref

_LIVE = weakref.WeakKeyDictionary()  # object -> its reset function


def register(obj, reset):
    """Call ``reset(obj)`` in every child forked while `obj` is alive (e.g. a class's
    ``_after_fork``, which drops its pools and makes its locks afresh)."""
    _LIVE[obj] = reset
    return obj


def _reset_in_child():
    for obj, reset in list(_LIVE.items()):
        reset(obj)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
