"""Outputs that appear whole or not at all.

A command that writes a session or a file builds it under a hidden temporary
directory next to the final name (``.<name>.neo_mef3-partial-<pid>-<token>/<name>``,
same file system, so the last step is a rename) and renames it into place only when
complete. An exception, a cancel, Ctrl-C or SIGTERM removes the temporary directory; a
SIGKILL leaves it behind (hidden, never under the final name) and the next run for
the same output removes leftovers whose process is gone. An existing output is
refused unless ``overwrite=True``; it is then replaced only once the new one is
complete.
"""

import contextlib
import os
import secrets
import shutil

from ..errors import MefError, OutputExistsError

__all__ = ["atomic_output", "check_output_outside", "PARTIAL_TAG"]

#: marks the temporary directory of an output being written
PARTIAL_TAG = ".neo_mef3-partial-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent, base):
    """Leftovers of earlier runs for the same output whose process has died.

    A run killed between its two final renames (the old output moved aside, the new one
    complete but not yet in place) is finished instead: the new output is put in place.
    """
    prefix = f".{base}{PARTIAL_TAG}"
    final = os.path.join(parent, base)
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            stale = os.path.join(parent, name)
            done = os.path.join(stale, base)
            if os.path.lexists(os.path.join(stale, f".{base}.replaced")) and os.path.lexists(done) \
                    and not os.path.lexists(final):
                os.rename(done, final)
            shutil.rmtree(stale, ignore_errors=True)


def _normalized(path):
    path = os.fspath(path)
    return os.path.abspath(path.rstrip("/\\") or path)


@contextlib.contextmanager
def atomic_output(final, overwrite=False, replacing_input=False):
    """Yield a temporary path with the same base name as ``final``; publish it on success.

    The caller creates a file or a directory at the yielded path. ``overwrite`` allows
    replacing an existing ``final``; ``replacing_input`` says that ``final`` is the
    operation's own input (an in-place rewrite), which is then replaced only after the
    new version is complete.
    """
    final = _normalized(final)
    parent, base = os.path.split(final)
    if not base:
        raise MefError("an output needs a name", final)
    if not os.path.isdir(parent):
        raise MefError("the output's directory does not exist", parent)
    exists = os.path.lexists(final)
    if exists and not (overwrite or replacing_input):
        raise OutputExistsError("the output exists; pass --overwrite (overwrite=True) to replace it", final)
    _remove_stale(parent, base)
    tmpdir = os.path.join(parent, f".{base}{PARTIAL_TAG}{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(tmpdir)
    try:
        inner = os.path.join(tmpdir, base)
        yield inner
        if not os.path.lexists(inner):
            raise MefError("the operation produced no output", final)
        if os.path.lexists(final):
            os.rename(final, os.path.join(tmpdir, f".{base}.replaced"))
        os.rename(inner, final)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def check_output_outside(output, inputs):
    """MefError when an output would be one of the inputs or lie inside one (inputs that
    are not local paths -- URLs, byte sources -- cannot hold it)."""
    from ..source import is_url

    out = _normalized(output)
    for src in inputs:
        if not isinstance(src, (str, os.PathLike)) or is_url(os.fspath(src)):
            continue
        src = _normalized(src)
        if out == src or out.startswith(src.rstrip(os.sep) + os.sep):
            raise MefError(f"the output lies in or on an input session ({src})", out)
