"""How the Reader fared on a damaged session, judged against the undamaged session's
read (the ground truth):

raise mode (``Reader(path)``, everything read: info, segments, toc, samples, records)
    ``same``            identical results
    ``error:<Class>``   a MefError whose message names a file of the session
    ``unnamed:<Class>`` a MefError that names no file of the session        (a failure)
    ``collateral:<C>``  a MefError, and undamaged channels no longer read   (a failure)
    ``wrong``           different results and no error (silently wrong)    (a failure)
    ``exception:<T>``   any other exception, MemoryError included           (a failure)
skip mode (``Reader(path, on_error="skip")``, the same windows)
    ``full``            everything the undamaged session holds
    ``partial``         a subset, and a MefWarning said what was skipped
    ``error:<Class>``   a MefError (only whole-session problems should give one)
    ``wrong``           a valid sample that differs, or data left out without a
                        warning                                              (a failure)
    ``exception:<T>``                                                         (a failure)

CRC-consistent ("crafted") cases have no ground truth -- the file says something
else, consistently -- so for them ``accepted`` replaces ``same``/``wrong``: the Reader
returned data without an error; only crashes, hangs and non-MefError exceptions count
against it there.
"""

import os
import warnings

import numpy as np

#: outcome prefixes that are failures (``crash``, ``hang`` and ``harness`` come from support.isolated)
FAILURE_PREFIXES = ("wrong", "exception", "unnamed", "collateral", "crash", "hang", "harness")


def _reader():
    import neo_mef3
    import neo_mef3.errors  # noqa: F401  (MefWarning lives there)

    return neo_mef3


def read_everything(path, password="", windows=None, check_crc=True):
    """Everything a careful user reads, in raise mode (see module docstring)."""
    neo_mef3 = _reader()
    got = {}
    with neo_mef3.Reader(path, password=password, check_crc=check_crc) as r:
        got["channels"] = list(r.channels)
        got["records"] = r.records()
        for ch in r.channels:
            raw = r.read_raw(ch)
            entry = {
                "info": r.info(ch),
                "segments": [{k: v for k, v in s.items() if k != "path"} for s in r.segments(ch)],
                "toc": r.toc(ch),
                "samples": raw["samples"],
                "valid": raw["valid"],
                "start": raw["start_uutc"],
                "records": r.records(ch),
            }
            if windows and ch in windows:
                w = r.read_raw(ch, *windows[ch])
                entry["w_samples"], entry["w_valid"] = w["samples"], w["valid"]
            got[ch] = entry
    return got


def windows_of(baseline):
    """Per channel, the window [t0, t1) of its default read."""
    out = {}
    for ch in baseline["channels"]:
        e = baseline[ch]
        fs = e["info"]["sampling_frequency"]
        out[ch] = (int(e["start"]), int(e["start"]) + int(round(len(e["samples"]) * 1e6 / fs)))
    return out


def _equal(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and np.array_equal(x, y)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_equal(a, b) for a, b in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y):
        return True
    return x == y


def equal(a, b):
    return _equal(a, b)


def others_intact(path, password, baseline, windows, touched):
    """The channels no damaged file belongs to still read exactly (None) -- or why not."""
    neo_mef3 = _reader()
    hit = {t.split(os.sep)[0][: -len(".timd")] for t in touched if t and t.split(os.sep)[0].endswith(".timd")}
    try:
        with neo_mef3.Reader(path, password=password) as r:
            for ch in baseline["channels"]:
                if ch in hit:
                    continue
                got = r.read_raw(ch, *windows[ch])
                if not (np.array_equal(got["samples"], baseline[ch]["w_samples"])
                        and np.array_equal(got["valid"], baseline[ch]["w_valid"])):
                    return f"{ch} reads differently"
    except neo_mef3.PasswordError as exc:  # a damaged header can leave no channel to check it by
        return None if len(baseline["channels"]) == len(hit) else f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def classify_raise(path, password, baseline, windows, crafted=False, touched=()):
    """Outcome of reading the damaged session in raise mode."""
    neo_mef3 = _reader()
    try:
        got = read_everything(path, password, windows)
    except neo_mef3.MefError as exc:
        msg = str(exc)
        if path not in msg:
            return f"unnamed:{type(exc).__name__}", msg
        why = None if crafted else others_intact(path, password, baseline, windows, touched)
        if why:
            return f"collateral:{type(exc).__name__}", f"{msg} -- and undamaged channels suffer: {why}"
        return f"error:{type(exc).__name__}", msg
    except RecursionError as exc:  # pragma: no cover - reported as a failure
        return "exception:RecursionError", str(exc)[:300]
    except Exception as exc:  # noqa: BLE001 - everything else is a failure to report
        return f"exception:{type(exc).__name__}", f"{exc!s}"[:500]
    if equal(got, baseline):
        return "same", ""
    if crafted:
        return "accepted", ""
    diff = [k for k in set(got) | set(baseline) if not _equal(got.get(k), baseline.get(k))]
    return "wrong", f"differs in {sorted(map(str, diff))[:6]}"


def classify_skip(path, password, baseline, windows, crafted=False):
    """Outcome of reading the damaged session with on_error="skip"."""
    neo_mef3 = _reader()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with neo_mef3.Reader(path, password=password, on_error="skip") as r:
                complete = r.channels == baseline["channels"]
                for ch in baseline["channels"]:
                    if ch not in r.channels:
                        continue
                    t0, t1 = windows[ch]
                    got = r.read_raw(ch, t0, t1)
                    ref_s, ref_v = baseline[ch]["w_samples"], baseline[ch]["w_valid"]
                    ok = got["valid"] == 1
                    if len(got["samples"]) != len(ref_s):
                        if crafted:  # a crafted rate changes the window's length
                            complete = False
                            continue
                        return "wrong", f"{ch}: {len(got['samples'])} samples, expected {len(ref_s)}"
                    if not crafted:
                        if not (ref_v[ok] == 1).all() or not np.array_equal(got["samples"][ok], ref_s[ok]):
                            return "wrong", f"{ch}: a valid sample differs from the undamaged session"
                    if not np.array_equal(got["valid"], ref_v):
                        complete = False
                levels = [(None, baseline["records"])]
                levels += [(ch, baseline[ch]["records"]) for ch in r.channels if ch in baseline["channels"]]
                for ch, ref in levels:
                    recs = r.records(ch)
                    if not _equal(recs, ref):
                        complete = False
                        if not crafted and not all(any(_equal(x, y) for y in ref) for x in recs):
                            return "wrong", f"records of {ch or 'the session'} that the undamaged session lacks"
                skipped = list(r.skipped)
        warned = [w for w in caught if issubclass(w.category, neo_mef3.errors.MefWarning)]
    except neo_mef3.MefError as exc:
        return f"error:{type(exc).__name__}", str(exc)
    except Exception as exc:  # noqa: BLE001
        return f"exception:{type(exc).__name__}", f"{exc!s}"[:500]
    if complete:
        return "full", ""
    if crafted:
        return "accepted", ""
    if not skipped or not warned:
        return "wrong", "data left out without a MefWarning / Reader.skipped entry"
    return "partial", f"{len(skipped)} skipped"
