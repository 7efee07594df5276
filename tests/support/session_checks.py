"""Checks on a written session as a whole: mef3io's Validator verdict, and a digest of
every file (to show that something left a session untouched)."""
import glob
import hashlib
import os


def assert_valid(path, password=""):
    """mef3io.Validator: no error, no warning, nothing skipped; only the documented info.

    The one finding allowed is informational: ``header.max-entry-size`` for ``.tdat``,
    where we follow the MEF 3.0 specification and meflib (the number of samples in the
    largest block) and mef3io reads the field as the largest block's byte count.
    """
    import mef3io

    rep = mef3io.Validator(str(path), password=password).validate()
    assert rep.segments_checked > 0
    assert not rep.skipped, [str(s) for s in rep.skipped]
    bad = [str(f) for f in rep.findings if f.severity in ("error", "warning")]
    assert not bad, "\n".join(bad)
    for f in rep.infos:
        assert f.check_id == "header.max-entry-size" and f.field.startswith("data"), str(f)
    return rep


def tree_digest(path):
    """sha256 of every file under path (relative name -> digest)."""
    out = {}
    for f in sorted(glob.glob(os.path.join(str(path), "**", "*"), recursive=True)):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                out[os.path.relpath(f, str(path))] = hashlib.sha256(fh.read()).hexdigest()
    return out
