"""Library calls whose warnings a user of the command line should read (a channel coarsened
to fit EDF, a source without a date, missing electrode coordinates)."""

import warnings

from .common import say


def run_warned(args, action):
    """Call `action()`; its warnings go to stderr as ``neo-mef3: warning: ...`` (unless
    --quiet) and the ``text`` of the summary it returns to stdout. Exit code 0."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            summary = action()
        finally:
            seen = set()
            for w in caught:
                message = str(w.message)
                if message not in seen and not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
                    seen.add(message)
                    say(args, f"neo-mef3: warning: {message}")
    if isinstance(summary, dict) and summary.get("text"):
        print(summary["text"])
    return 0
