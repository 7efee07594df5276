"""Ctrl-C during a write: taken at the write's own safe points, never lost.

Python turns SIGINT into a ``KeyboardInterrupt`` at whatever bytecode runs next. During
a long write that may be a weakref callback or a thread pool's bookkeeping, where the
exception is printed as "Exception ignored in ..." and dropped: the write then runs on
to the end. While :func:`deferred` is active (main thread, default SIGINT handler only)
a Ctrl-C only sets a flag; the write looks at it between its steps (:meth:`Stop.check`,
between encoded chunks and quantized pieces) and raises ``KeyboardInterrupt`` there,
where it rolls back what it had started. A second Ctrl-C before the write reaches such
a point raises at once, as Python would.
"""

import contextlib
import signal
import threading

__all__ = ["deferred", "Stop"]


class Stop:
    """The flag a deferred Ctrl-C sets; :meth:`check` raises ``KeyboardInterrupt`` once it is."""

    def __init__(self):
        self.requested = False

    def _handler(self, signum, frame):
        if self.requested:  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        if self.requested:
            self.requested = False
            raise KeyboardInterrupt


_active = threading.local()


@contextlib.contextmanager
def deferred():
    """Defer Ctrl-C to :meth:`Stop.check` points for the duration (re-entrant). Outside the
    main thread, or when the program installed its own SIGINT handler, nothing changes
    (the yielded Stop never fires). A Ctrl-C that arrives after the last check is raised
    when the block ends."""
    outer = getattr(_active, "stop", None)
    if outer is not None:
        yield outer
        return
    stop = Stop()
    installed = False
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, stop._handler)
                installed = True
        except (ValueError, OSError):  # pragma: no cover - no signals here (embedded interpreter)
            pass
    _active.stop = stop
    try:
        yield stop
    finally:
        _active.stop = None
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    stop.check()
