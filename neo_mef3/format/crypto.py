"""MEF 3.0 two-level passwords and AES-128 section encryption.

A password becomes 16 key bytes: the low byte of each Unicode character (at most 15
characters), zero padded. The universal header keeps two validation fields:

* level 1: ``SHA-256(l1_bytes)[:16]``
* level 2: ``SHA-256(l2_bytes)[:16] XOR l1_bytes``

so the level-2 password alone recovers the level-1 key. Metadata section 2 is
encrypted with the level-1 key, section 3 and record bodies with the level-2 key,
each as AES-128 in ECB mode over 16-byte blocks.

A :class:`KeyRing` holds a Reader's password and the keys it unlocks for the headers
met in a session; :func:`writing_keys` gives a Writer its validation fields and keys.
Password strings and key bytes never appear in a repr or an exception message.
"""

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .._red import block_header, crc32
from ..errors import FormatError, PasswordError, WriteConflictError
from .layout import (
    ENCRYPTION_BLOCK_BYTES,
    LEVEL_1_ENCRYPTION,
    LEVEL_2_ENCRYPTION,
    MAX_PASSWORD_CHARACTERS,
    PASSWORD_BYTES,
    RED_BLOCK_HEADER_BYTES,
    RED_CRC_START,
    RED_LEVEL_1_ENCRYPTED,
    RED_STATISTICS,
    UH_LEVEL_1_FIELD,
    UH_LEVEL_2_FIELD,
    UH_PASSWORD_FIELDS,
)

LEVEL_0_ACCESS = 0
LEVEL_1_ACCESS = 1
LEVEL_2_ACCESS = 2


def password_bytes(password):
    """The 16 key bytes of a password (terminal byte of each character, zero padded)."""
    if not isinstance(password, str):
        raise TypeError("a MEF password must be a str")
    if not password:
        raise ValueError("a MEF password cannot be empty")
    if len(password) > MAX_PASSWORD_CHARACTERS:
        raise ValueError(f"a MEF password has at most {MAX_PASSWORD_CHARACTERS} characters")
    raw = bytes(ord(ch) & 0xFF for ch in password)
    return raw + bytes(PASSWORD_BYTES - len(raw))


def _sha16(data):
    return hashlib.sha256(data).digest()[:PASSWORD_BYTES]


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def validation_fields(password1, password2):
    """(level-1 field, level-2 field) for a header written with these two passwords."""
    l1 = password_bytes(password1)
    l2 = password_bytes(password2)
    return _sha16(l1), _xor(_sha16(l2), l1)


def is_encrypted_header(level_1_field):
    """True when the universal header carries a password validation field."""
    return any(bytes(level_1_field))


class Keys:
    """Access level and AES keys unlocked by one password; nothing secret in its repr."""

    __slots__ = ("access_level", "_level_1", "_level_2")

    def __init__(self, access_level=LEVEL_0_ACCESS, level_1_key=None, level_2_key=None):
        self.access_level = access_level
        self._level_1 = level_1_key
        self._level_2 = level_2_key

    def key(self, level):
        """The AES key for encryption `level` (1 or 2), or None without that access."""
        return self._level_1 if level == 1 else self._level_2 if level == 2 else None

    def can(self, level):
        return self.access_level >= level and self.key(level) is not None

    def __repr__(self):
        return f"<Keys access_level={self.access_level}>"

    @classmethod
    def for_writing(cls, password1, password2):
        return cls(LEVEL_2_ACCESS, password_bytes(password1), password_bytes(password2))


def unlock(password, level_1_field, level_2_field, path=None):
    """Validate `password` against a header's fields and return the Keys it unlocks.

    An unencrypted header grants level-2 access with no keys needed. A wrong password
    raises PasswordError; so does a missing one on an encrypted header.
    """
    l1_field = bytes(level_1_field)
    l2_field = bytes(level_2_field)
    if not any(l1_field):
        return Keys(LEVEL_2_ACCESS)
    if not password:
        raise PasswordError("the session is encrypted and no password was given", path)
    try:
        pw = password_bytes(password)
    except (ValueError, TypeError) as exc:
        raise PasswordError(f"the password is not valid for this session ({exc})", path) from None
    digest = _sha16(pw)
    if digest == l1_field:
        return Keys(LEVEL_1_ACCESS, level_1_key=pw)
    putative_l1 = _xor(digest, l2_field)
    if _sha16(putative_l1) == l1_field:
        return Keys(LEVEL_2_ACCESS, level_1_key=putative_l1, level_2_key=pw)
    raise PasswordError("the password is wrong for this session (matches neither level)", path)


def header_fields(header):
    """(level-1, level-2) password validation fields of a universal header: raw bytes
    (at least its 1024) or a UNIVERSAL_HEADER record."""
    if not isinstance(header, (bytes, bytearray, memoryview)):
        header = header.tobytes()
    return bytes(header[UH_LEVEL_1_FIELD]), bytes(header[UH_LEVEL_2_FIELD])


class KeyRing:
    """The Keys one password unlocks, for every pair of validation fields a session shows.

    A session's files normally all carry the same two fields: the password is validated
    once per pair (two SHA-256s) and the same Keys handed out after. The password is held
    in memory only, for the life of the ring; no repr or message shows it.
    """

    __slots__ = ("_password", "_keys")

    def __init__(self, password=""):
        self._password = password or ""
        self._keys = {}

    def __repr__(self):
        return f"<KeyRing {len(self._keys)} header(s) unlocked>"

    @property
    def password(self):
        """The password the ring was made with (to open the session again elsewhere)."""
        return self._password

    def known(self, header):
        """The Keys already unlocked for a raw header's fields, or None (no validation)."""
        return self._keys.get(bytes(header[UH_PASSWORD_FIELDS])) if len(header) >= UH_PASSWORD_FIELDS.stop else None

    def for_header(self, header, path=None):
        """The Keys for a header (raw bytes or record); PasswordError when the password
        does not open it (wrong, or missing for an encrypted file)."""
        l1, l2 = header_fields(header)
        keys = self._keys.get(l1 + l2)
        if keys is None:
            keys = self._keys[l1 + l2] = unlock(self._password, l1, l2, path)
        return keys


def writing_keys(password1, password2, existing=None, path=None):
    """(validation fields, Keys) a Writer writes with, or (None, None) unencrypted.

    `existing`: the (level-1, level-2) validation fields of a session that already has
    files, or None for a new one. A new session is encrypted with two different
    passwords or not at all; an existing encrypted one needs its level-2 password (a
    level-1 password given too is checked); an unencrypted one takes no passwords.
    """
    p1, p2 = password1 or "", password2 or ""
    if existing is None or not any(existing[0]):
        if existing is not None and (p1 or p2):
            raise WriteConflictError("the session is not encrypted; passwords cannot be added to it", path)
        if bool(p1) != bool(p2):
            raise ValueError("give both passwords (encrypted session) or neither; MEF has no level-1-only files")
        if not p1:
            return None, None
        if password_bytes(p1) == password_bytes(p2):  # (raises ValueError on empty / too long)
            raise ValueError("password2 must differ from password1 (it would unlock only level 1)")
        return validation_fields(p1, p2), Keys.for_writing(p1, p2)
    if not p2:
        raise PasswordError("the session is encrypted: appending needs password2 (the level-2 password)", path)
    keys = unlock(p2, existing[0], existing[1], path)
    if keys.access_level < LEVEL_2_ACCESS:
        raise PasswordError("password2 is not this session's level-2 password", path)
    if p1 and password_bytes(p1) != bytes(keys.key(1)):
        raise PasswordError("password1 is not this session's level-1 password", path)
    return existing, keys


def check_written_with(header, fields, path=None):
    """Raise unless a file's header carries the validation `fields` a Writer writes with
    (None: unencrypted): a file of another session or password must not be extended."""
    found = header_fields(header)
    mine = fields if fields is not None else (bytes(PASSWORD_BYTES), bytes(PASSWORD_BYTES))
    if found != tuple(mine):
        if not any(found[0]):
            raise WriteConflictError("this file is not encrypted, the session being written is", path)
        if fields is None:
            raise PasswordError("this file is encrypted; the Writer has no passwords", path)
        raise PasswordError("this file was written with other passwords", path)


def _cipher(key):
    return Cipher(algorithms.AES(bytes(key)), modes.ECB())


def decrypt(data, key):
    """AES-128-ECB decrypt whole 16-byte blocks of `data`; a trailing partial block is kept."""
    data = bytes(data)
    whole = len(data) - len(data) % ENCRYPTION_BLOCK_BYTES
    dec = _cipher(key).decryptor()
    return dec.update(data[:whole]) + dec.finalize() + data[whole:]


def encrypt(data, key):
    """AES-128-ECB encrypt whole 16-byte blocks of `data`; a trailing partial block is kept."""
    data = bytes(data)
    whole = len(data) - len(data) % ENCRYPTION_BLOCK_BYTES
    enc = _cipher(key).encryptor()
    return enc.update(data[:whole]) + enc.finalize() + data[whole:]


def decrypt_block_statistics(buf, offsets, keys, check_crc=True, path=None, skip=False):
    """Decrypt, in place, the statistics of the encrypted RED blocks at `offsets` in `buf`
    (a bytearray), each block's CRC (taken over the encrypted bytes) checked first.

    A block failing its CRC raises FormatError naming `path`, or with
    `skip` is left encrypted and its position in `offsets` returned (a list). Blocks
    whose level `keys` cannot open raise PasswordError.
    """
    bad = []
    for k, off in enumerate(offsets):
        off = int(off)
        head = block_header(bytes(buf[off : off + RED_BLOCK_HEADER_BYTES]))
        end = off + int(head["block_bytes"])
        if check_crc and crc32(bytes(buf[off + RED_CRC_START : end])) != int(head["crc"]):
            if skip:
                bad.append(k)
                continue
            raise FormatError(f"encrypted RED block at byte {off} fails its CRC", path)
        level = LEVEL_1_ENCRYPTION if head["flags"] & RED_LEVEL_1_ENCRYPTED else LEVEL_2_ENCRYPTION
        if not keys.can(level):
            raise PasswordError(f"RED blocks are level-{level} encrypted; this password does not unlock them", path)
        region = slice(off + RED_STATISTICS.start, off + RED_STATISTICS.stop)
        buf[region] = decrypt(bytes(buf[region]), keys.key(level))
    return bad
