"""``neo-mef3 check``: what a session holds, and whether its declarations agree with its data.

For every segment of every channel the checker compares what the metadata declares
(blocks, samples, time range, discontinuities) with what is found: the index entries
(committed ones and those an interrupted append left past the declared count), the RED
blocks that decode with a good CRC, the samples they hold, their time range and
discontinuity flags. It verifies every CRC (headers, bodies, blocks), that the three
files of a segment belong together, and that each block's header agrees with its index
entry; it reports bytes after the last indexed block, torn index entries, leftover
temporary directories of an interrupted write, gaps in segment numbering and records
files that do not parse. Nothing is written.

It uses the Reader's pieces (the session tree, ``format``'s parsing of headers, indices
and records files, a ``crypto.KeyRing``, the RED decoder in status mode); there is no
second parser.

>>> report = check_session("subject.mefd")
>>> report.exit_code        # 0 consistent, 1 problems found, 2 unusable input
>>> print(report.text())

Exit codes: 0 when every declaration agrees with the data, 1 when problems were found
(damage, an interrupted write, inconsistent declarations), 2 when the input cannot be
checked at all (not a session, or a missing or wrong password).

The modules: ``facade`` (:func:`check_session`), ``report`` (:class:`Report`),
``catalogue`` (:data:`CHECKS`), and one per level of the session: ``tree`` (the session
directory), ``channel``, ``segment`` (its three files, declarations against data),
``interrupted`` (what an interrupted append left), ``sizing`` (the declarations readers
size buffers from), ``blocks`` (every RED block, the data file's CRC) and ``records``.
"""

from .catalogue import CHECKS
from .facade import check_session
from .report import Report

__all__ = ["check_session", "Report", "CHECKS"]
