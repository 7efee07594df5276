"""neo_mef3: MEF 3.0 (Multiscale Electrophysiology Format) for the Python ephys ecosystem."""

from .errors import (  # noqa: F401
    CrcError,
    FormatError,
    MefError,
    PasswordError,
    RangeError,
    UnknownChannelError,
    WriteConflictError,
)

from .reader import Reader  # noqa: E402,F401

__version__ = "0.1.0"
from ._neo_registration import MEF3IO, MEF3RawIO  # noqa: E402,F401  (registers them with neo)
