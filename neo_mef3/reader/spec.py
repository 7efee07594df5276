"""How to open a Reader again: a small, picklable description of one."""

from ..source import describe_location, redact_description


class ReaderSpec:
    """Where a Reader reads (``location``: a path, or a byte source's ``describe()``) and
    its options (``password``, ``n_threads``, ``check_crc``, ``on_error``,
    ``rounding``, ``cache``, the Reader's constructor arguments). :meth:`open` makes an equivalent
    Reader, e.g. in a worker process.

    It holds the password (and, for a remote session, the storage options with their
    credentials) in memory and never shows them: ``repr`` names the location without
    credentials and says only whether a password is set. It is made of plain values,
    so it pickles -- secrets included, for a worker process to reopen the session:
    whoever ships it decides where it may go. :meth:`redacted` gives a spec without
    them, fit for a file or a log (it opens with the credentials of wherever it is
    opened).
    """

    __slots__ = ("location", "password", "n_threads", "check_crc", "on_error", "rounding", "cache")

    def __init__(self, location, password="", n_threads=0, check_crc=True, on_error="raise", rounding="nearest",
                 cache=None):
        self.location = location
        self.password = password or ""
        self.n_threads = n_threads
        self.check_crc = check_crc
        self.on_error = on_error
        self.rounding = rounding
        self.cache = None if cache is None else (cache if cache == "auto" else str(cache))

    def __repr__(self):
        return (f"ReaderSpec({describe_location(self.location)!r}, password={'<set>' if self.password else '<none>'}, "
                f"n_threads={self.n_threads}, check_crc={self.check_crc}, on_error={self.on_error!r}, "
                f"rounding={self.rounding!r}" + (f", cache={self.cache!r})" if self.cache is not None else ")"))

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        self.cache = None  # (a spec pickled before the cache existed)
        for k, v in state.items():
            setattr(self, k, v)

    def __eq__(self, other):
        return isinstance(other, ReaderSpec) and self.__getstate__() == other.__getstate__()

    def redacted(self):
        """This spec without the password and without the storage options' secrets (and
        without a given file system, which carries its own)."""
        return ReaderSpec(redact_description(self.location), "", self.n_threads, self.check_crc, self.on_error,
                          self.rounding, self.cache)

    def open(self):
        """A new Reader on the same session with the same options."""
        from .facade import Reader

        return Reader(self.location, password=self.password, n_threads=self.n_threads, check_crc=self.check_crc,
                      on_error=self.on_error, rounding=self.rounding, cache=self.cache)
