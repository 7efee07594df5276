"""neo_mef3: MEF 3.0 (Multiscale Electrophysiology Format) for the Python ephys ecosystem."""

__version__ = "0.1.0"

import os as _os

#: A small session shipped inside the package (written by meflib): three channels,
#: a gap and records, for trying things before you have a recording of your own.
EXAMPLE_SESSION = _os.path.join(_os.path.dirname(__file__), "data", "example.mefd")

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
