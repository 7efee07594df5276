"""How to open a Reader again: a small, picklable description of one."""


class ReaderSpec:
    """Where a Reader reads (``location``: a path, or a byte source's ``describe()``) and
    its options (``password``, ``n_threads``, ``check_crc``, ``on_error``,
    ``rounding``, the Reader's constructor arguments). :meth:`open` makes an equivalent
    Reader, e.g. in a worker process.

    It holds the password in memory and never shows it (``repr`` says only whether one
    is set). It is made of plain values, so it pickles -- password included: whoever
    ships it to another process decides where it may go.
    """

    __slots__ = ("location", "password", "n_threads", "check_crc", "on_error", "rounding")

    def __init__(self, location, password="", n_threads=0, check_crc=True, on_error="raise", rounding="nearest"):
        self.location = location
        self.password = password or ""
        self.n_threads = n_threads
        self.check_crc = check_crc
        self.on_error = on_error
        self.rounding = rounding

    def __repr__(self):
        return (f"ReaderSpec({self.location!r}, password={'<set>' if self.password else '<none>'}, "
                f"n_threads={self.n_threads}, check_crc={self.check_crc}, on_error={self.on_error!r}, "
                f"rounding={self.rounding!r})")

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def __eq__(self, other):
        return isinstance(other, ReaderSpec) and self.__getstate__() == other.__getstate__()

    def open(self):
        """A new Reader on the same session with the same options."""
        from .facade import Reader

        return Reader(self.location, password=self.password, n_threads=self.n_threads, check_crc=self.check_crc,
                      on_error=self.on_error, rounding=self.rounding)
