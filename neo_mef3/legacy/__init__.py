"""Drop-in replacement for ``mef_tools.io`` (mef_tools 1.2.3): :class:`MefReader`, :class:`MefWriter`.

Lab code written against the legacy stack keeps working with one changed import::

    # from mef_tools.io import MefReader, MefWriter
    from neo_mef3 import MefReader, MefWriter

Both classes keep mef_tools' call shapes, defaults, return types and shapes, printed
messages and failure modes (which exception, or ``None`` plus a message). They are thin
layers over the native :class:`neo_mef3.Reader` and :class:`neo_mef3.Writer`; this package
only reproduces the legacy *semantics* (channel picking, default windows, NaN-gap
splitting, precision inference and quantization, annotation merging) and never touches
the file format itself.

Where mef_tools returns ``None`` and prints a message (a refused append, a bad setter
value, a failed annotation read), the drop-in returns the same value, prints the same
message and also issues a :class:`LegacyWarning`, so new code can catch it.

The differences kept on purpose are listed, each with its measurement or test, in
``docs/legacy.md``.

The modules: ``reader`` (:class:`MefReader`), ``writer`` (:class:`MefWriter`, with its
``annotations`` and ``knobs``), ``metadata`` (mef_tools' metadata dicts), ``quantize``
(mef_tools' quantization and gap splitting), ``records`` (records as pymef gives them),
``info`` (pymef's basic channel info) and ``common`` (paths, the native Reader, messages).
"""

from .common import LegacyWarning
from .reader import MefReader
from .writer import MefWriter

__all__ = ["MefReader", "MefWriter", "LegacyWarning"]
