"""The MEF 3.0 format layer: byte layouts, headers and metadata, records, time and crypto.

Nothing here walks directories or decodes samples; :mod:`neo_mef3.session` and
:mod:`neo_mef3.reader` build on these pieces.
"""

from . import crc, crypto, headers, layout, records, times  # noqa: F401
