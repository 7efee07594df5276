"""Make neo aware of MEF3IO / MEF3RawIO.

neo (0.14) keeps fixed lists of its IOs (``neo.io.iolist``, ``neo.io.io_by_extension``,
``neo.rawio.rawiolist``) and reads no entry points, so ``import neo_mef3`` calls
:func:`register` to add ours. Code that imported neo first is covered too: the lists are
module globals that ``get_io``/``get_rawio`` look up at call time.

Registration is idempotent and only appends: neo's own IOs keep their order and their
entries in ``io_by_extension``. ``neo.rawio.get_rawio`` is wrapped so that a ``.mefd``
directory (whose files sit in sub-directories neo's own lookup does not scan) resolves
to MEF3RawIO; every other path goes to neo's original function unchanged.
"""

import functools

from .io import MEF3IO
from .rawio import MEF3RawIO
from .session import looks_like_session

__all__ = ["register", "MEF3IO", "MEF3RawIO"]

_registered = False


def register():
    """Register MEF3IO with ``neo.io`` and MEF3RawIO with ``neo.rawio`` (idempotent)."""
    global _registered
    if _registered:
        return
    import neo.io
    import neo.rawio

    # neo.io
    if MEF3IO not in neo.io.iolist:
        neo.io.iolist.append(MEF3IO)
    for ext in MEF3IO.extensions:
        lst = neo.io.io_by_extension.setdefault(ext.lower(), [])
        if MEF3IO not in lst:
            lst.append(MEF3IO)
    neo.io.MEF3IO = MEF3IO

    # neo.rawio
    if MEF3RawIO not in neo.rawio.rawiolist:
        neo.rawio.rawiolist.append(MEF3RawIO)
    neo.rawio.MEF3RawIO = MEF3RawIO
    original = neo.rawio.get_rawio
    if not getattr(original, "_neo_mef3_wrapped", False):

        @functools.wraps(original)
        def get_rawio(filename_or_dirname, *args, **kwargs):
            if looks_like_session(filename_or_dirname):
                exclusive = kwargs.get("exclusive_rawio", args[0] if args else True)
                return MEF3RawIO if exclusive else [MEF3RawIO]
            return original(filename_or_dirname, *args, **kwargs)

        get_rawio._neo_mef3_wrapped = True
        get_rawio._neo_mef3_original = original
        neo.rawio.get_rawio = get_rawio
    _registered = True


register()
