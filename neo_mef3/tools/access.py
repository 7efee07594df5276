"""A session's passwords as the tools need them: is it encrypted, what a password
unlocks, and password strings a Writer accepts for an existing session's keys."""

from ..errors import MefError, PasswordError
from ..format import crypto, headers
from ..format.layout import UNIVERSAL_HEADER_BYTES
from ..source import ByteSource, open_source

__all__ = ["first_header", "is_encrypted", "unlock_session", "writer_passwords", "new_keys"]


def _header_of(source, path):
    f = source.open(path)
    try:
        return headers.parse_universal_header(f.read(0, UNIVERSAL_HEADER_BYTES), path)
    finally:
        f.close()


def _first_header(source):
    tree = source.list_session()
    for name in tree.channels:
        (scan,) = source.scan_channels([name])
        if isinstance(scan, MefError):
            raise scan
        for i, n in enumerate(scan.lengths.tolist()):
            if n >= 0:  # (the first metadata file there: its header came with the scan)
                path = tree.segment_files(name, [int(scan.numbers[i])])[0].tmet
                head = scan.heads[i, : min(n, UNIVERSAL_HEADER_BYTES)].tobytes()
                return headers.parse_universal_header(head, path)
        rdat = tree.channel_records(name)[0]
        if source.exists(rdat):
            return _header_of(source, rdat)
    if source.exists(tree.rdat):
        return _header_of(source, tree.rdat)
    raise MefError("the session holds no metadata or records file", tree.path)


def first_header(location):
    """The universal header (a record) of the session's first metadata or records file
    (`location`: a path, a URL or a ByteSource)."""
    source = open_source(location)
    try:
        return _first_header(source)
    finally:
        if not isinstance(location, ByteSource):
            source.close()


def is_encrypted(path):
    """True when the session's files carry password validation fields."""
    return crypto.is_encrypted_header(first_header(path)["level_1_password_validation_field"])


def unlock_session(path, password, need_level=2):
    """The :class:`~neo_mef3.format.crypto.Keys` a password unlocks (PasswordError below ``need_level``)."""
    from ..source import describe_location

    uh = first_header(path)
    where = describe_location(path)
    keys = crypto.unlock(password or "", uh["level_1_password_validation_field"],
                         uh["level_2_password_validation_field"], where)
    if keys.access_level < need_level:
        raise PasswordError(f"this needs the session's level-{need_level} password", where)
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
