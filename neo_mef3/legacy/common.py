"""What the drop-in's reader and writer share: pymef's path rules, the native Reader
opened as pymef opens a session, and mef_tools' printed messages (with a LegacyWarning)."""

import os
import warnings
from typing import List, Union

import numpy as np

from ..errors import PasswordError
from ..reader import Reader

PathLike = Union[str, "os.PathLike[str]"]
#: a channel name, an ``np.int64`` index, or a list/array of those (mef_tools' picking)
Channels = Union[str, np.int64, List[Union[str, np.int64]], np.ndarray]


class LegacyWarning(UserWarning):
    """mef_tools would have returned ``None`` (or given up) and printed a message.

    The drop-in returns the same value and prints the same message; this warning makes
    the event visible to code that does not read stdout.
    """


def _say(message, warn=False, stacklevel=3):
    """Print `message` as mef_tools does; with `warn` also issue a LegacyWarning."""
    print(message)
    if warn:
        warnings.warn(message.strip(), LegacyWarning, stacklevel=stacklevel)


def _session_dir(session_path):
    """pymef's path rules: a trailing '/', the '.mefd' suffix (returns the path without '/')."""
    path = os.fspath(session_path)
    if not path.endswith("/"):
        path += "/"
    if ".mefd" != path[-6:-1]:
        raise ValueError("Session path must end with .mefd suffix!")
    return path


def _open_reader(path, password, storage_options=None):
    """A native Reader with pymef's password error ('MEF password is invalid')."""
    try:
        return Reader(path, password=password or "", rounding="meflib", storage_options=storage_options)
    except PasswordError:
        raise PasswordError("MEF password is invalid") from None
