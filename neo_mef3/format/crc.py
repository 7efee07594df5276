"""MEF's CRC-32 (Koopman polynomial, start 0xFFFFFFFF, no final XOR), as a public name.

``crc32(data, crc=0xFFFFFFFF)`` continues from ``crc`` so a large file can be summed in
pieces. It is the codec's implementation (see ``neo_mef3._red``); tools that rewrite
headers, blocks or records outside the format layer use it from here.
"""

from .._red import crc32  # noqa: F401

__all__ = ["crc32"]
