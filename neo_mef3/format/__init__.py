"""The MEF 3.0 format layer: what every byte of a session means, as pure functions.

:mod:`.layout` (byte layouts, constants, offsets by name), :mod:`.headers` (universal
headers, ``.tmet`` and ``.tidx`` parsing, header building), :mod:`.metadata` (``.tmet``
building), :mod:`.fields` (the descriptive metadata fields), :mod:`.records` and
:mod:`.record_bodies` (records files and bodies), :mod:`.times` (stored times),
:mod:`.crypto` (passwords, keys, AES) and :mod:`.crc` (MEF's CRC-32). Nothing here walks directories or decodes
samples; the byte source, the Reader, the Writer and the checker build on these pieces.
"""

from . import crc, crypto, fields, headers, layout, metadata, record_bodies, records, times  # noqa: F401
