"""neo_mef3: MEF 3.0 (Multiscale Electrophysiology Format) for the Python ephys ecosystem."""

__version__ = "0.1.0"

from .errors import (  # noqa: F401
    CrcError,
    FormatError,
    MefError,
    MefWarning,
    PasswordError,
    RangeError,
    UnknownChannelError,
    WriteConflictError,
)
from .reader import Reader  # noqa: F401
from .writer import Writer  # noqa: F401
from ._neo_registration import MEF3IO, MEF3RawIO  # noqa: F401,E402  (registers them with neo)
from .legacy import MefReader, MefWriter  # noqa: E402,F401
