"""Silence the reference implementations, which print and warn on ordinary calls."""
import contextlib
import io
import warnings


@contextlib.contextmanager
def quiet():
    """Swallow what the block prints to stdout and every warning it issues."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
