"""neo.io for MEF 3.0: :class:`MEF3IO` reads (through :class:`~neo_mef3.rawio.MEF3RawIO`,
lazy proxies included) and writes neo Blocks.

Writing (:meth:`MEF3IO.write_block`) is :mod:`neo_mef3.block_writer`: a window at a
time, each channel at its own precision (the source's gain for lazy signals with raw
counts), neo Segments as MEF segments, Events and Epochs as records (``docs/neo.md``).
"""

import os
import threading
import warnings
from datetime import datetime
from typing import Any, Callable, Dict, Optional, Union

from neo.core import AnalogSignal, Block, Epoch, Event, Segment
from neo.io.baseio import BaseIO
from neo.io.basefromrawio import BaseFromRaw

from . import block_writer
from .block_writer import DEFAULT_REC_DATETIME, choose_conversion_factor  # noqa: F401  (public here too)
from .errors import MefWarning, PasswordError
from .neo_proxies import explain_time_slices
from .rawio import MEF3RawIO
from .source import describe_location, is_url
from .writer import Writer as NativeWriter

__all__ = ["MEF3IO", "DEFAULT_REC_DATETIME", "choose_conversion_factor"]


class MEF3IO(MEF3RawIO, BaseFromRaw):
    """Read and write MEF 3.0 sessions with neo.

    Parameters
    ----------
    dirname : str or path-like
        The ``.mefd`` session directory. It need not exist yet when only writing.
    password : str or None
        Password for reading an encrypted session (level 2 gives records and subject
        identity, level 1 the signals only).
    keep_original_times : bool
        Read times as seconds since the Unix epoch instead of since the session start.
    n_threads : int
        Decoding threads (0 = all cores).
    check_crc : bool
        Verify RED block CRCs while reading.
    storage_options, fs
        Reading a session from a URL (``s3://``, ``https://``, ...) or a packed
        ``.mefd.tar``: see :class:`MEF3RawIO`. Writing is local only.

    Examples
    --------
    >>> import neo_mef3, neo
    >>> block = neo.io.get_io("session.mefd").read_block(lazy=True)
    >>> neo_mef3.MEF3IO("copy.mefd").write_block(block)
    """

    name = "MEF3IO"
    description = "MEF 3.0 (Multiscale Electrophysiology Format) sessions, read and written by neo_mef3"
    extensions = MEF3RawIO.extensions
    mode = "dir"
    is_readable = True
    is_writable = True
    supported_objects = [Block, Segment, AnalogSignal, Event, Epoch]
    readable_objects = [Block, Segment]
    writeable_objects = [Block]
    _prefered_signal_group_mode = "group-by-same-units"

    #: see the module docstring
    default_rec_datetime = DEFAULT_REC_DATETIME
    #: the Writer class write_block uses (None: neo_mef3.writer.Writer)
    writer_class = None

    def __init__(self, dirname: Union[str, "os.PathLike[str]"], password: Optional[str] = None,
                 keep_original_times: bool = False, n_threads: int = 0, check_crc: bool = True,
                 storage_options: Optional[dict] = None, fs: Any = None, on_error: str = "raise") -> None:
        MEF3RawIO.__init__(
            self,
            dirname=dirname,
            password=password,
            keep_original_times=keep_original_times,
            n_threads=n_threads,
            check_crc=check_crc,
            storage_options=storage_options,
            fs=fs,
            on_error=on_error,
        )
        if self._remote():  # (opened at the first read: nothing is fetched before one)
            BaseIO.__init__(self, self.dirname)
        elif os.path.exists(self.dirname):
            try:
                BaseFromRaw.__init__(self, self.dirname)
            except PasswordError as exc:
                # neo.io.get_io tries the next IO and ends in "Could not identify IO": say why
                warnings.warn(f"MEF3IO cannot open {self.dirname}: {exc} (pass password=..., e.g. "
                              "neo.io.get_io(path, password=...))", MefWarning, stacklevel=2)
                raise
        else:  # a session to be written
            BaseIO.__init__(self, self.dirname)

    def _remote(self):
        return self.fs is not None or is_url(self.dirname)

    def _ensure_header(self):
        if not self.is_header_parsed:
            self.parse_header()

    def read_block(self, *args: Any, **kwargs: Any) -> Block:
        self._ensure_header()
        block = BaseFromRaw.read_block(self, *args, **kwargs)
        explain_time_slices(block.segments, range(len(block.segments)), self._segment_ranges(), self.dirname)
        return block

    def read_segment(self, *args: Any, **kwargs: Any) -> Segment:
        self._ensure_header()
        segment = BaseFromRaw.read_segment(self, *args, **kwargs)
        index = kwargs.get("seg_index", args[1] if len(args) > 1 else 0)
        explain_time_slices([segment], [index], self._segment_ranges(), self.dirname)
        return segment

    def _segment_ranges(self):
        return [(self.segment_t_start(0, g), self.segment_t_stop(0, g)) for g in range(self.header["nb_segment"][0])]

    # ------------------------------------------------------------------ writing ----
    def write_block(self, block: Block, overwrite: bool = False, rec_datetime: Optional[datetime] = None,
                    password1: str = "", password2: str = "", block_length: Optional[int] = None,
                    progress: Union[None, bool, Callable[[int, int], Any]] = None,
                    cancel: Union[None, Callable[[], bool], threading.Event] = None) -> Dict[str, Any]:
        """Write a neo Block as a MEF 3.0 session at ``dirname``.

        Parameters
        ----------
        block : neo.Block
            Lazy proxies are read window by window (memory stays at a few blocks per
            channel); a source that gives raw counts and a gain is stored as those counts.
        overwrite : bool
            Replace an existing session (otherwise an existing non-empty session is an
            error).
        rec_datetime : datetime or None
            Absolute time of t = 0; default ``block.rec_datetime``, else
            :data:`DEFAULT_REC_DATETIME` with a WriteWarning. Naive datetimes are UTC.
        password1, password2 : str
            Encrypt the session (give both, as MEF requires).
        block_length : int or None
            RED block length in samples (None: the writer's default).
        progress, cancel
            :mod:`neo_mef3.progress` (samples over every channel). A cancel raises
            CancelledError between windows; what was written stays a valid session (the
            windows written so far), as after any interrupted write.

        Returns
        -------
        dict
            ``channels`` (MEF name -> ``units_conversion_factor`` of its first segment,
            ``units_conversion_factors`` of all, units, rate), ``segment_shifts_s``,
            ``inexact`` (channels stored coarser than their precision) and
            ``writer_summaries`` (units -> :attr:`neo_mef3.Writer.summary`).
        """
        if self._remote():
            raise ValueError(f"{describe_location(self.dirname)}: MEF3IO writes local sessions only; write locally, "
                             "then pack and upload (neo-mef3 pack, docs/remote.md)")
        path = self.dirname
        if os.path.exists(path) and not overwrite:
            if not os.path.isdir(path) or os.listdir(path):
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        try:
            return block_writer.write_block(
                self.writer_class or NativeWriter, path, block, overwrite=overwrite, rec_datetime=rec_datetime,
                password1=password1, password2=password2, block_length=block_length, progress=progress,
                cancel=cancel, default_rec_datetime=self.default_rec_datetime)
        finally:
            # the session changed: re-read the header on the next read
            self.header = None
            self.is_header_parsed = False
