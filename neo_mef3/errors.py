"""The package's exception hierarchy.

Every problem with a MEF session is a :class:`MefError` (a ``RuntimeError``), so one
``except neo_mef3.MefError`` catches anything the format can throw at a caller.
Messages name the file and the problem; they never contain a password.
"""


class MefError(RuntimeError):
    """Base class of every error raised for a MEF 3.0 session."""

    def __init__(self, message, path=None):
        self.path = None if path is None else str(path)
        if self.path and self.path not in message:
            message = f"{self.path}: {message}"
        super().__init__(message)


class FormatError(MefError):
    """A file is not MEF 3.0, is truncated, or holds values that cannot be right."""


class CrcError(FormatError):
    """A stored CRC-32 does not match the bytes it protects."""


class PasswordError(MefError):
    """A password is missing, wrong, or does not grant the access asked for."""


class WriteConflictError(MefError):
    """A write would contradict what the session already holds (rate, factor, overlap)."""


class RangeError(MefError, ValueError):
    """A time window or argument that cannot be served (inverted range, absurd size)."""


class OutputExistsError(MefError, FileExistsError):
    """An output (a session, a figure, a table) already exists and overwriting was not asked for."""


class CancelledError(MefError):
    """A long operation stopped because its ``cancel`` callable or event said so.

    Whatever it was writing is removed; its input is untouched (see
    :mod:`neo_mef3.progress` and :mod:`neo_mef3.tools.atomic`).
    """


class RemoteError(MefError):
    """A store (S3, HTTP, any fsspec file system) did not serve a file's bytes, after
    the store client's own retries. The message names the file's URL (never a
    credential). A Reader with ``on_error="skip"`` never skips a file for this: the
    data may be intact, the transfer failed."""


class RemoteAccessError(RemoteError):
    """The store refused access (HTTP 401/403, S3 AccessDenied): credentials missing,
    wrong or without the permission to read."""


class RemoteTimeoutError(RemoteError):
    """The store did not answer in time (connection or read timeout)."""


class RemoteConnectionError(RemoteError):
    """The connection failed or was dropped, or a response ended before the bytes it
    announced (a truncated transfer)."""


class RemoteNotFoundError(FormatError):
    """A file of a remote session is not there (HTTP 404, S3 NoSuchKey): to the session
    it is a missing file, as on a local disk."""


class MefWarning(UserWarning):
    """Something in a session was left out or looks wrong, and reading went on.

    ``Reader(..., on_error="skip")`` issues one when it skips a damaged channel, segment,
    block or records file (``Reader.skipped`` lists them), and ``neo_mef3.check`` for
    findings that are not errors.
    """


class MixedRatesError(MefError, ValueError):
    """Channels of different sampling rates asked for as one array (the message lists
    the rates and their channels)."""


class WriteWarning(MefWarning):
    """A write went on but did something its caller may not have meant: a time that is
    implausible as uUTC (seconds given?), nothing to store (all NaN), a Block without a
    recording date."""


class PrecisionWarning(WriteWarning):
    """Values were stored coarser than their own resolution (the message names the error
    bound): a precision pinned by the caller, or values int32 cannot hold finely enough."""


class ClampedSamplesWarning(WriteWarning):
    """Values (+-inf, or beyond int32 at a precision the caller pinned) were stored as the
    nearest storable count; the write's result counts them (``clamped``)."""


class UnknownChannelError(MefError, KeyError):
    """A channel name that the session does not contain."""

    def __str__(self):  # KeyError would otherwise repr() the message
        return RuntimeError.__str__(self)


__all__ = [
    "MefError",
    "FormatError",
    "CrcError",
    "PasswordError",
    "WriteConflictError",
    "UnknownChannelError",
    "RangeError",
    "OutputExistsError",
    "CancelledError",
    "MixedRatesError",
    "RemoteError",
    "RemoteAccessError",
    "RemoteTimeoutError",
    "RemoteConnectionError",
    "RemoteNotFoundError",
    "MefWarning",
    "WriteWarning",
    "PrecisionWarning",
    "ClampedSamplesWarning",
]
