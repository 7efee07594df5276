"""``check_session``: open what can be checked (a local session directory, or a local
copy of a packed or remote one), validate the password as the Reader does, and walk the
session level by level into a :class:`Report`."""

import os
import warnings

from ..errors import CancelledError, MefError, PasswordError
from ..format import crypto
from ..progress import Tracker
from ..reader import Reader
from ..session import SessionTree
from ..source import describe_location, is_url, open_source
from ..source.copy import local_copy
from .report import Report
from .tree import _check_tree


def check_session(path, password="", progress=None, cancel=None, storage_options=None):
    """Check a session; returns a :class:`Report` (never raises a MefError, except
    CancelledError when ``cancel`` says stop; ``progress``: see neo_mef3.progress).

    ``path``: a session directory, a packed ``.mefd.tar``/``.mefd.zip``, a URL (with
    ``storage_options``) or a ByteSource. Every byte is read either way: a session that
    is not a local directory is first copied whole into a temporary directory (the
    report names its files where they are)."""
    if storage_options is not None or not isinstance(path, (str, os.PathLike)) or is_url(os.fspath(path)) \
            or os.path.isfile(path):
        return _check_copy(path, password, progress, cancel, storage_options)
    report = Report(os.fspath(path))
    try:
        tree = SessionTree(path)
        report.path = tree.path
    except MefError as exc:
        return report.unusable(exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = Reader(tree.path, password=password, n_threads=1)
        except MefError as exc:  # (a wrong or missing password too)
            return report.unusable(exc)
    total = 0
    for name in tree.channels:
        try:
            total += len(tree.segments(name))
        except MefError:
            pass
    # (the Reader was opened to validate the password as it does)
    with reader, Tracker(total, "check", unit="segments", progress=progress, cancel=cancel) as tracker:
        try:
            _check_tree(crypto.KeyRing(password), tree, report, tracker)
        except PasswordError as exc:
            report.unusable(exc)
    return report


def _check_copy(location, password, progress, cancel, storage_options):
    """A packed or remote session, checked on a local copy; the report names its files
    where they are."""
    try:
        source = open_source(location, storage_options)
        where = source.list_session().path
    except MefError as exc:
        return Report(str(describe_location(location))).unusable(exc)
    try:
        with local_copy(source) as local:
            report = check_session(local, password, progress, cancel)
    except MefError as exc:
        if isinstance(exc, CancelledError):
            raise
        return Report(where).unusable(exc)
    finally:
        if source is not location:
            source.close()
    report.relocate(local, where)
    return report
