"""The session level: leftovers of interrupted writes in the session directory, every
channel in turn, then the records files of every level."""

import os

from .channel import _check_channel
from .records import _check_records
from .report import _note_temporaries


def _check_tree(keyring, tree, report, tracker=None):
    _note_temporaries(report, tree.path, sorted(os.listdir(tree.path)))
    if not tree.channels:
        report.note(tree.path, "the session has no channels")
    for name in tree.channels:
        report.channels.append(_check_channel(keyring, tree, name, report, tracker))
    _check_records(keyring, tree, report)
