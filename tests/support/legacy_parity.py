"""The parity harness of the legacy drop-in (``neo_mef3.legacy``) against ``mef_tools.io``
1.2.3 (used by test_legacy_parity, test_legacy_cross and test_legacy_differences).

A script is a piece of mef_tools-style lab code, ``script(api, rec, workdir)``.
:func:`run_script` runs it with a given (MefReader, MefWriter) pair and records every
call: the return value (or the exception), what it printed and the warnings it issued.
:func:`assert_parity` runs the script with mef_tools (the oracle) and with the drop-in
and compares the recordings with a strict comparator (:func:`differences`): types,
shapes, dtypes, dict keys and their order, values with NaN positions, DataFrame
columns/dtypes/values, printed text, exception types and messages, warnings. A step
the oracle answered with ``None`` plus a message must also have issued a
:class:`~neo_mef3.legacy.LegacyWarning` in the drop-in.

Importing this module skips the importing test module when mef_tools or pandas is
missing.
"""
import contextlib
import copy
import glob
import io
import math
import os
import warnings

import numpy as np
import pytest

mef_tools_io = pytest.importorskip("mef_tools.io")
pd = pytest.importorskip("pandas")

from neo_mef3 import legacy  # noqa: E402

T0 = 1_600_000_000_000_000

THEIRS = (mef_tools_io.MefReader, mef_tools_io.MefWriter)
OURS = (legacy.MefReader, legacy.MefWriter)


# --------------------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------------------
class Step:
    __slots__ = ("label", "kind", "value", "stdout", "warnings")

    def __init__(self, label, kind, value, stdout, warns):
        self.label, self.kind, self.value, self.stdout, self.warnings = label, kind, value, stdout, warns

    def __repr__(self):
        return f"<Step {self.label} {self.kind} {self.value!r:.200}>"


class Recorder:
    """``rec(label, fn)`` calls fn(), records the outcome and returns the value (or None)."""

    def __init__(self):
        self.steps = []

    def __call__(self, label, fn):
        out = io.StringIO()
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            try:
                value = fn()
                kind = "value"
            except Exception as exc:  # noqa: BLE001 - exceptions are part of the behaviour
                value, kind = exc, "raise"
        warns = [(w.category, str(w.message)) for w in caught]
        self.steps.append(Step(label, kind, snapshot(value) if kind == "value" else value, out.getvalue(), warns))
        return value if kind == "value" else None


def snapshot(value):
    """A deep copy of plain data (so later mutation cannot change what was recorded);
    objects of the classes under test are recorded by class name."""
    if isinstance(value, (legacy.MefReader, legacy.MefWriter, THEIRS[0], THEIRS[1])):
        return ("object", type(value).__name__)
    if isinstance(value, pd.DataFrame):
        return value.copy(deep=True)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snapshot(v) for v in value]
    if isinstance(value, tuple):
        return tuple(snapshot(v) for v in value)
    return value


class Api:
    def __init__(self, pair, name):
        self.MefReader, self.MefWriter = pair
        self.name = name


def run_script(script, reader_cls, writer_cls, workdir):
    """Run `script(api, rec, workdir)` with the given classes; return the recorded steps."""
    os.makedirs(workdir, exist_ok=True)
    rec = Recorder()
    api = Api((reader_cls, writer_cls), "x")
    script(api, rec, str(workdir))
    return rec.steps


# --------------------------------------------------------------------------------------
# the strict comparator
# --------------------------------------------------------------------------------------
def differences(a, b, path="value"):
    """List of human-readable differences between recorded values a (oracle) and b."""
    out = []
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        if type(a) is not type(b):
            return [f"{path}: type {type(a).__name__} != {type(b).__name__}"]
        if list(a.columns) != list(b.columns):
            return [f"{path}: columns {list(a.columns)} != {list(b.columns)}"]
        if list(a.dtypes) != list(b.dtypes):
            out.append(f"{path}: dtypes {list(a.dtypes)} != {list(b.dtypes)}")
        if list(a.index) != list(b.index):
            out.append(f"{path}: index differs")
        for c in a.columns:
            out += differences(list(a[c]), list(b[c]), f"{path}[{c!r}]")
        return out
    if type(a) is not type(b):
        return [f"{path}: type {type(a).__name__} != {type(b).__name__} ({a!r:.80} vs {b!r:.80})"]
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype:
            out.append(f"{path}: dtype {a.dtype} != {b.dtype}")
        if a.shape != b.shape:
            return out + [f"{path}: shape {a.shape} != {b.shape}"]
        if a.dtype.kind in "fc":
            na, nb = np.isnan(a), np.isnan(b)
            if not np.array_equal(na, nb):
                out.append(f"{path}: NaN positions differ ({int(na.sum())} vs {int(nb.sum())} NaN, first at "
                           f"{int(np.flatnonzero(na != nb)[0])})")
            elif not np.array_equal(a[~na], b[~nb]):
                i = int(np.flatnonzero((a != b) & ~na)[0])
                out.append(f"{path}: values differ ({int(((a != b) & ~na).sum())} of {a.size}; first at {i}: "
                           f"{a[i]!r} vs {b[i]!r})")
        elif a.dtype.kind == "O":
            for i, (x, y) in enumerate(zip(a, b)):
                out += differences(x, y, f"{path}[{i}]")
        elif not np.array_equal(a, b):
            out.append(f"{path}: values differ ({a!r:.120} vs {b!r:.120})")
        return out
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            return [f"{path}: keys {list(a.keys())} != {list(b.keys())}"]
        for k in a:
            out += differences(a[k], b[k], f"{path}[{k!r}]")
        return out
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    if isinstance(a, (float, np.floating)):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            out.append(f"{path}: {a!r} != {b!r}")
        return out
    if a != b:
        out.append(f"{path}: {a!r} != {b!r}")
    return out


def _ignored_warning(category):
    return issubclass(category, (legacy.LegacyWarning, DeprecationWarning, ResourceWarning))


def step_differences(ref, got):
    """Differences between an oracle step and ours (value/exception, stdout, warnings)."""
    out = []
    if ref.kind != got.kind:
        return [f"{ref.label}: oracle {ref.kind} {ref.value!r:.200}, we {got.kind} {got.value!r:.200}"]
    if ref.kind == "raise":
        if not isinstance(got.value, type(ref.value)):
            out.append(f"{ref.label}: raises {type(got.value).__name__}, oracle {type(ref.value).__name__}")
        if str(got.value) != str(ref.value):
            out.append(f"{ref.label}: exception message {str(got.value)!r} != {str(ref.value)!r}")
    else:
        out += [f"{ref.label}: {d}" for d in differences(ref.value, got.value)]
    if ref.stdout != got.stdout:
        out.append(f"{ref.label}: printed {got.stdout!r}, oracle {ref.stdout!r}")
    rw = [w for w in ref.warnings if not _ignored_warning(w[0])]
    gw = [w for w in got.warnings if not _ignored_warning(w[0])]
    if sorted(rw, key=repr) != sorted(gw, key=repr):
        out.append(f"{ref.label}: warnings {gw} != oracle {rw}")
    return out


#: Differences documented in docs/legacy.md that would show wherever OUR Writer wrote
#: the session and are normalized away here (each asserted exactly in
#: test_legacy_differences.py). None are left: the metadata sections and the record
#: order are identical since Writer.set_metadata and write_annotations(sort=False).
#: The mechanism stays for future use ("metadata": drop channel_description
#: differences; "record order": compare annotation lists in time order).
OUR_WRITER_NORMALIZATIONS = ()


def _record_sort_key(rec):
    return (int(rec.get("time", 0)), str(rec.get("type")), str(rec.get("text")))


def _normalized(step, normalizations):
    if "record order" in normalizations and "get_annotations" in step.label and step.kind == "value" \
            and isinstance(step.value, list):
        step = Step(step.label, step.kind, sorted(step.value, key=_record_sort_key), step.stdout, step.warnings)
    return step


def parity_report(ref_steps, got_steps, known=(), normalizations=()):
    """All differences, except in the steps labelled in `known` and those removed by `normalizations`."""
    if [s.label for s in ref_steps] != [s.label for s in got_steps]:
        return [f"step labels differ: {[s.label for s in ref_steps]} vs {[s.label for s in got_steps]}"]
    out = []
    for ref, got in zip(ref_steps, got_steps):
        if ref.label in known:
            continue
        diffs = step_differences(_normalized(ref, normalizations), _normalized(got, normalizations))
        if "metadata" in normalizations:
            diffs = [d for d in diffs if "channel_description" not in d]
        out += diffs
    return out


def legacy_warning_report(ref_steps, got_steps):
    """Steps where mef_tools returned None with a message but we issued no LegacyWarning."""
    out = []
    for ref, got in zip(ref_steps, got_steps):
        refused = ref.kind == "value" and ref.value is None and ref.stdout.strip()
        if refused and got.kind == "value" and got.value is None:
            if ref.stdout.strip().splitlines()[-1].startswith("Annotations written"):
                continue  # write_annotations returns None when it succeeds
            if not any(issubclass(c, legacy.LegacyWarning) for c, _ in got.warnings):
                out.append(f"{ref.label}: returned None with {ref.stdout.strip()!r} but issued no LegacyWarning")
    return out


def validator_report(root, passwords=("", "pass2")):
    """mef3io.Validator findings (errors, warnings, skipped segments) of every session
    under `root` that our writer wrote; the one documented info finding is ignored."""
    mef3io = pytest.importorskip("mef3io")
    out = []
    for path in sorted(glob.glob(os.path.join(str(root), "**", "*.mefd"), recursive=True)):
        if not os.listdir(path):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for pw in passwords:
                rep = mef3io.Validator(path, password=pw).validate()
                if not rep.skipped:
                    break
        out += [f"{path}: skipped {s}" for s in rep.skipped]
        out += [f"{path}: {f}" for f in rep.findings if f.severity in ("error", "warning")]
    return out


COMBOS = {
    # (writer, reader)
    "theirs": (THEIRS[1], THEIRS[0]),
    "ours": (OURS[1], OURS[0]),
    "their_writer_our_reader": (THEIRS[1], OURS[0]),
    "our_writer_their_reader": (OURS[1], THEIRS[0]),
}


def run_combo(script, combo, tmp_path):
    writer_cls, reader_cls = COMBOS[combo]
    return run_script(script, reader_cls, writer_cls, tmp_path / combo)


def assert_parity(script, tmp_path, combo="ours", known=(), reference="theirs"):
    ref = run_combo(script, reference, tmp_path)
    got = run_combo(script, combo, tmp_path)
    ours_wrote = COMBOS[combo][0] is OURS[1]
    problems = parity_report(ref, got, known, OUR_WRITER_NORMALIZATIONS if ours_wrote else ())
    if combo in ("ours",):
        problems += legacy_warning_report(ref, got)
        problems += validator_report(tmp_path / combo)
    if problems:
        pytest.fail(f"{len(problems)} differences:\n" + "\n".join(p[:400] for p in problems[:60]),
                    pytrace=False)
    return ref, got


# --------------------------------------------------------------------------------------
# scripts: mef_tools-style lab code
# --------------------------------------------------------------------------------------
def lab_signal(n, seed, scale=40.0):
    """A float signal such as lab scripts write: a random walk plus white noise."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.standard_normal(n)) * scale / 10 + rng.standard_normal(n) * scale


def read_everything(api, rec, path, label="r", password2=None, windows=()):
    """Every MefReader call, on every channel; returns nothing (all recorded)."""
    r = rec(f"{label}.open", lambda: api.MefReader(path, password2))
    if r is None:
        return
    rec(f"{label}.channels", lambda: r.channels)
    rec(f"{label}.properties", lambda: r.properties)
    for prop in ("name", "fsamp", "nsamp", "ufact", "unit", "start_time", "end_time", "channel_description"):
        rec(f"{label}.get_property({prop})", lambda: r.get_property(prop))
        for ch in r.channels:
            rec(f"{label}.get_property({prop},{ch})", lambda: r.get_property(prop, ch))
    rec(f"{label}.get_property(nope)", lambda: r.get_property("fsamp", "no-such-channel"))
    rec(f"{label}.get_property(bad)", lambda: r.get_property("no-such-property"))
    rec(f"{label}.get_channel_info()", lambda: r.get_channel_info())
    for ch in r.channels:
        rec(f"{label}.get_channel_info({ch})", lambda: r.get_channel_info(ch))
        rec(f"{label}.get_data({ch})", lambda: r.get_data(ch))
        rec(f"{label}.get_raw_data({ch})", lambda: r.get_raw_data(ch))
        rec(f"{label}.get_annotations({ch})", lambda: r.get_annotations(ch))
    rec(f"{label}.get_channel_info(nope)", lambda: r.get_channel_info("no-such-channel"))
    rec(f"{label}.get_data(all)", lambda: r.get_data(r.channels))
    rec(f"{label}.get_raw_data(all)", lambda: r.get_raw_data(r.channels))
    rec(f"{label}.get_annotations()", lambda: r.get_annotations())
    for i, (a, b) in enumerate(windows):
        rec(f"{label}.window{i}", lambda: r.get_data(r.channels, a, b))
        rec(f"{label}.window{i}.raw", lambda: r.get_raw_data(r.channels[0], a, b))
    # mef_tools' bi arrays view pymef's C memory, which close() frees: reading them after
    # close() is a use-after-free (the values usually survive, now and then it segfaults).
    # Both readers get owned copies first, so the after-close steps compare defined values.
    r.bi = copy.deepcopy(r.bi)
    rec(f"{label}.close", lambda: r.close())
    rec(f"{label}.after_close.get_annotations", lambda: r.get_annotations())
    rec(f"{label}.after_close.get_property", lambda: r.get_property("fsamp"))
    rec(f"{label}.after_close.get_data", lambda: r.get_data(r.channels[0]))
    del r


#: the two implementations of the ``mef_tools.io`` module interface
IMPLS = {"mef_tools": mef_tools_io, "neo_mef3": legacy}
