"""A session's passwords as the tools need them: is it encrypted, what a password
unlocks, and password strings a Writer accepts for an existing session's keys."""

import os

from ..errors import MefError, PasswordError
from ..format import crypto, headers
from ..format.layout import UNIVERSAL_HEADER_BYTES
from ..session import SessionTree

__all__ = ["first_header", "is_encrypted", "unlock_session", "writer_passwords", "new_keys"]


def _candidates(tree):
    for name in tree.channels:
        for sf in tree.segments(name):
            yield sf.tmet
        yield tree.channel_records(name)[0]
    yield tree.rdat


def first_header(path):
    """The universal header (a record) of the session's first metadata or records file."""
    tree = SessionTree(path)
    for candidate in _candidates(tree):
        if os.path.isfile(candidate):
            with open(candidate, "rb") as f:
                raw = f.read(UNIVERSAL_HEADER_BYTES)
            return headers.parse_universal_header(raw, candidate)
    raise MefError("the session holds no metadata or records file", tree.path)


def is_encrypted(path):
    """True when the session's files carry password validation fields."""
    return crypto.is_encrypted_header(first_header(path)["level_1_password_validation_field"])


def unlock_session(path, password, need_level=2):
    """The :class:`~neo_mef3.format.crypto.Keys` a password unlocks (PasswordError below ``need_level``)."""
    uh = first_header(path)
    keys = crypto.unlock(password or "", uh["level_1_password_validation_field"],
                         uh["level_2_password_validation_field"], os.fspath(path))
    if keys.access_level < need_level:
        raise PasswordError(f"this needs the session's level-{need_level} password", os.fspath(path))
    return keys


def _as_string(key):
    text = "".join(chr(b) for b in bytes(key).rstrip(b"\x00"))
    if crypto.password_bytes(text) != bytes(key):  # a character whose low byte is 0
        raise PasswordError("the session's password cannot be given to a Writer as a string")
    return text


def writer_passwords(path, password):
    """``(password1, password2)`` strings for a Writer producing a session with the same
    passwords as ``path`` (``("", "")`` when it is not encrypted). Needs level 2."""
    if not is_encrypted(path):
        return "", ""
    keys = unlock_session(path, password, need_level=2)
    return _as_string(keys.key(1)), _as_string(keys.key(2))


def new_keys(password1, password2):
    """(validation fields, Keys) for a session written with two new passwords, or
    (None, None) for none; the rules of :class:`neo_mef3.Writer`."""
    password1, password2 = password1 or "", password2 or ""
    if not password1 and not password2:
        return None, None
    if not (password1 and password2):
        raise ValueError("give both passwords (an encrypted session) or neither")
    if crypto.password_bytes(password1) == crypto.password_bytes(password2):
        raise ValueError("the level-2 password must differ from the level-1 password")
    return crypto.validation_fields(password1, password2), crypto.Keys.for_writing(password1, password2)
