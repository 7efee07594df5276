"""Running a conversion command: its warnings and expected errors as short lines on stderr."""

import sys
import warnings

from ..errors import MefError
from .passwords import PasswordUnavailable


def run_reporting(action):
    """Call `action()`; print its summary text, warnings as ``neo-mef3: warning: ...`` and the
    errors a user can fix as ``neo-mef3: error: ...`` (exit code 2)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            summary = action()
        except (MefError, OSError, ValueError, PasswordUnavailable) as exc:
            _print_warnings(caught)
            print(f"neo-mef3: error: {str(exc).replace('pass overwrite=True', 'pass --overwrite')}", file=sys.stderr)
            return 2
    _print_warnings(caught)
    text = summary.get("text") if isinstance(summary, dict) else None
    if text:
        print(text)
    return 0


def _print_warnings(caught):
    seen = set()
    for w in caught:
        message = str(w.message)
        if message not in seen and not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            seen.add(message)
            print(f"neo-mef3: warning: {message}", file=sys.stderr)
