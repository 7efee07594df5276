"""MEF 3.0 two-level passwords and AES-128 section encryption.

A password becomes 16 key bytes: the low byte of each Unicode character (at most 15
characters), zero padded. The universal header keeps two validation fields:

* level 1: ``SHA-256(l1_bytes)[:16]``
* level 2: ``SHA-256(l2_bytes)[:16] XOR l1_bytes``

so the level-2 password alone recovers the level-1 key. Metadata section 2 is
encrypted with the level-1 key, section 3 and record bodies with the level-2 key,
each as AES-128 in ECB mode over 16-byte blocks.

Password strings and key bytes never appear in a repr or an exception message.
"""

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import PasswordError
from .layout import ENCRYPTION_BLOCK_BYTES, MAX_PASSWORD_CHARACTERS, PASSWORD_BYTES

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
