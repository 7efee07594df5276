"""What the ``neo-mef3`` commands do, as library functions.

Each module is one operation on whole sessions -- ``anonymize``, ``rekey``, ``cut``,
``merge``, ``records_table``, ``inventory``, ``plot`` -- built on the public Reader,
Writer and format layer, plus the pieces they share: ``rewrite`` (a file-by-file copy
that never touches samples), ``copy`` (a sample-exact copy through Reader and Writer),
``verify``, ``atomic`` (outputs published by a rename), ``access`` (passwords) and
``when`` (times as typed). Long functions take ``progress=`` and ``cancel=`` (see
:mod:`neo_mef3.progress`). Nothing here is imported by ``import neo_mef3``.
"""
