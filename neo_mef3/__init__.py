"""neo_mef3: MEF 3.0 (Multiscale Electrophysiology Format) for the Python ephys ecosystem."""

from .errors import (  # noqa: F401
    CrcError,
    FormatError,
    MefError,
    PasswordError,
    UnknownChannelError,
    WriteConflictError,
)

__version__ = "0.1.0"
