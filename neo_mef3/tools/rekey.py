"""Copies of a session with other passwords: encrypt, decrypt, or change them.

The copy is made by :mod:`neo_mef3.tools.rewrite` (samples, times, metadata and records
as stored): metadata section 2 is encrypted with the new level-1 key and section 3 with
the level-2 key, record bodies with the level-2 key (``encrypt`` also encrypts record
bodies the source left plain, as pymef writes them), the statistics of encrypted RED
blocks are re-encrypted, and every validation field and CRC is recomputed. Decrypting
leaves everything plain. The copy is compared with the source, read with the new
password, before it is published.
"""

import os

from ..format.layout import SESSION_EXT
from ..progress import Tracker
from .access import new_keys, unlock_session
from .atomic import atomic_output, check_output_outside
from .rewrite import Edits, rewrite_session
from .verify import compare_sessions

__all__ = ["rekey_session"]


def rekey_session(src, dst, *, password="", new_password1="", new_password2="", overwrite=False,
                  progress=None, cancel=None):
    """Write ``src`` to ``dst`` with passwords ``new_password1``/``new_password2``
    (both empty: unencrypted). ``password`` is the source's level-2 password (empty for
    an unencrypted source). Returns the rewrite's counts and the destination."""
    src = os.path.abspath(os.fspath(src).rstrip("/\\"))
    dst = os.path.abspath(os.fspath(dst).rstrip("/\\"))
    check_output_outside(dst, [src])
    base = os.path.basename(dst)
    if not base.endswith(SESSION_EXT):
        raise ValueError(f"the output must be a {SESSION_EXT} directory: {dst}")
    keys = unlock_session(src, password, need_level=2)
    fields, keys_out = new_keys(new_password1, new_password2)
    edits = Edits(session_name=base[: -len(SESSION_EXT)], rekey=True, new_fields=fields, new_keys=keys_out,
                  encrypt_plain_records=keys_out is not None)
    with Tracker(progress=progress, cancel=cancel) as tracker:
        with atomic_output(dst, overwrite=overwrite) as tmp:
            result = rewrite_session(src, tmp, keys, edits, tracker)
            compare_sessions(src, tmp, tracker, src_password=password, dst_password=new_password2 or "")
    result.update(destination=dst, encrypted=keys_out is not None)
    return result
