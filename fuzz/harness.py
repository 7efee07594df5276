"""Damage engine shared by the reliability tests and the long-run scripts in ``fuzz/``.

A *case* is a JSON dict naming a session and one damage (``op``): a bit flip, a
truncation, zeroed or random bytes, a deleted or foreign file, trailing garbage, or an
absurd value written into a header, index or block field (optionally with every CRC
recomputed, so that the checks behind the CRCs are exercised too). A *worker* child
process applies cases one by one to a scratch copy of the session and classifies what
the Reader does against the undamaged session's read (the ground truth):

raise mode (``Reader(path)``, everything read: info, segments, toc, samples, records)
    ``same``            identical results
    ``error:<Class>``   a MefError whose message names a file of the session
    ``unnamed:<Class>`` a MefError that names no file of the session        (a failure)
    ``wrong``           different results and no error (silently wrong)    (a failure)
    ``exception:<T>``   any other exception, MemoryError included           (a failure)
skip mode (``Reader(path, on_error="skip")``, the same windows)
    ``full``            everything the undamaged session holds
    ``partial``         a subset, and a MefWarning said what was skipped
    ``error:<Class>``   a MefError (only whole-session problems should give one)
    ``wrong``           a valid sample that differs, or data left out without a
                        warning                                              (a failure)
    ``exception:<T>``                                                         (a failure)

CRC-consistent cases (``fix_crc``) have no ground truth -- the file says something
else, consistently -- so for them ``accepted`` replaces ``same``/``wrong``: the Reader
returned data without an error; only crashes, hangs and non-MefError exceptions count
against it there.

The parent (:func:`run_isolated`) runs the worker with an address-space limit (so a
huge allocation is a MemoryError, not a swapped machine), reads one JSON line per
case, and counts a child that dies by a signal as a ``crash`` of the case it was on
and one silent for ``timeout`` seconds as a ``hang``; either way it restarts the
worker after that case.

Run ``python fuzz/harness.py worker JOB.json START`` only through run_isolated.
"""

import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

UH = 1024  # universal header bytes
TIDX_ENTRY = 56
RED_HEADER = 304

FAILURE_PREFIXES = ("wrong", "exception", "unnamed", "collateral", "crash", "hang", "harness")


# --------------------------------------------------------------------------------------
# reading everything, comparing with the ground truth
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# sessions from our Writer
# --------------------------------------------------------------------------------------

T0 = 1_600_000_000_000_000


def build_writer_session(path, password1="", password2="", seed=7):
    """A small but varied session from neo_mef3.Writer: three rates, NaN gaps, two
    segments, an in-segment append by a second Writer, session and channel records."""
    neo_mef3 = _reader()
    rng = np.random.default_rng(seed)

    def sig(n):
        return np.round(np.cumsum(rng.normal(0, 3, n)), 2)

    kw = dict(password1=password1, password2=password2)
    with neo_mef3.Writer(path, overwrite=True, block_length=200, **kw) as w:
        a = sig(1500)
        a[400:650] = np.nan
        w.write("A", a, T0, 100.0)
        w.write_int32("B", rng.integers(-30000, 30000, 1200), 0.25, T0 + 3_000, 256.0)
        w.write("C", sig(700), T0, 50.0)
        w.write("C", sig(300), T0 + 20_000_000, 50.0, new_segment=True)
        w.write_annotations([{"time": T0 + 1_000_000, "text": "session note"},
                             {"time": T0 + 2_000_000, "type": "EDFA", "text": "event", "duration": 500_000}])
        w.write_annotations([{"time": T0 + 3_000_000, "text": "channel note"}], channel="A")
    with neo_mef3.Writer(path, password2=password2) as w:  # an append by a new Writer
        w.write("A", sig(500), T0 + 15_000_000, 100.0)
    return path


# --------------------------------------------------------------------------------------
# damage
# --------------------------------------------------------------------------------------


def session_files(session):
    out = []
    for root, _, names in os.walk(session):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), session))
    return sorted(out)


def _kind(rel):
    return rel.rsplit(".", 1)[-1]


def _crc(data):
    from neo_mef3 import _red

    return _red.crc32(data)


def fix_crcs(path, block_offset=None):
    """Recompute the CRCs of a file after a deliberate edit (what a crafted file has).

    ``block_offset``: a .tdat RED block whose CRC to recompute first. Body CRCs cover
    everything after the header (a .tidx: every whole entry), then the header CRC.
    """
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    if len(buf) < UH:
        return
    kind = _kind(path)
    if kind == "tdat" and block_offset is not None and block_offset + RED_HEADER <= len(buf):
        bb = struct.unpack_from("<I", buf, block_offset + 36)[0]
        end = min(len(buf), block_offset + max(bb, RED_HEADER))
        struct.pack_into("<I", buf, block_offset, _crc(bytes(buf[block_offset + 4 : end])))
    body = bytes(buf[UH:])
    if kind == "tidx":
        body = body[: len(body) // TIDX_ENTRY * TIDX_ENTRY]
    if struct.unpack_from("<I", buf, 4)[0] != 0 or kind != "rdat":
        struct.pack_into("<I", buf, 4, _crc(body))
    struct.pack_into("<I", buf, 0, _crc(bytes(buf[4:UH])))
    with open(path, "wb") as f:
        f.write(buf)


# header fields (offset, struct format) a damaged or hostile file may hold absurd values in
UH_FIELDS = {
    "start_time": (16, "<q"),
    "end_time": (24, "<q"),
    "number_of_entries": (32, "<q"),
    "maximum_entry_size": (40, "<q"),
    "segment_number": (48, "<i"),
}
TMET_FIELDS = {  # section 2 (plain sessions only: encrypted ones hold ciphertext there)
    "recording_duration": (2560 + 4096, "<q"),
    "sampling_frequency": (2560 + 6160, "<d"),
    "units_conversion_factor": (2560 + 6200, "<d"),
    "start_sample": (2560 + 6352, "<q"),
    "number_of_samples": (2560 + 6360, "<q"),
    "number_of_blocks": (2560 + 6368, "<q"),
    "maximum_block_bytes": (2560 + 6376, "<q"),
    "maximum_block_samples": (2560 + 6384, "<I"),
    "recording_time_offset": (13312, "<q"),
}
TIDX_FIELDS = {
    "file_offset": (0, "<q"),
    "start_time": (8, "<q"),
    "start_sample": (16, "<q"),
    "number_of_samples": (24, "<I"),
    "block_bytes": (28, "<I"),
    "flags": (48, "<B"),
}
RED_FIELDS = {
    "flags": (4, "<B"),
    "scale_factor": (24, "<f"),
    "difference_bytes": (28, "<I"),
    "number_of_samples": (32, "<I"),
    "block_bytes": (36, "<I"),
    "start_time": (40, "<q"),
}


def _absurd_values(fmt, old, rng):
    if fmt in ("<d", "<f"):
        return rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e300 if fmt == "<d" else 3e38, old * 2 + 1, -old])
    bits = struct.calcsize(fmt) * 8
    signed = fmt[-1].islower()
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    cands = [lo, hi, 0, 1, old + 1, old - 1, old * 2, old // 2, hi // 2, hi - 1]
    if signed:
        cands += [-1, -old]
    v = rng.choice(cands)
    return max(lo, min(hi, v))


def _tdat_blocks(path):
    """Offsets of the RED blocks of a .tdat, walking block_bytes from the header."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = UH
    while pos + RED_HEADER <= len(data) and len(out) < 10000:
        bb = struct.unpack_from("<I", data, pos + 36)[0]
        out.append(pos)
        if bb < RED_HEADER:
            break
        pos += bb
    return out


def generate_cases(session, key, rng, n_random=0, systematic=True, crafted=0, encrypted=False):
    """Damage cases for one session (a list of JSON-able dicts)."""
    files = session_files(session)
    sizes = {f: os.path.getsize(os.path.join(session, f)) for f in files}
    cases = []

    def add(**c):
        c["session"] = key
        cases.append(c)

    if systematic:
        for f in files:
            size = sizes[f]
            for off in sorted({0, 4, 8, 20, 32, 600, 1023, 1024, 1030, 1100, 1340, size // 2, size - 1}):
                if 0 <= off < size:
                    add(op="flip", file=f, offset=off, bit=4)
            for cut in sorted({0, 500, 1024, 1030, size // 2, size - 1}):
                if cut < size:
                    add(op="truncate", file=f, size=cut)
            add(op="zero", file=f, start=0, stop=size)
            add(op="delete", file=f)
            add(op="append", file=f, length=rng.choice([1, 56, 304, 4096]), seed=rng.randrange(2**31))
    by_kind = {}
    for f in files:
        by_kind.setdefault(_kind(f), []).append(f)
    ops = ["flip", "flip", "flip", "truncate", "zero", "garbage", "append", "foreign"]
    for _ in range(n_random):
        f = rng.choice(files)
        size = sizes[f]
        op = rng.choice(ops)
        if op == "flip":
            add(op="flip", file=f, offset=rng.randrange(max(size, 1)), bit=rng.randrange(8))
        elif op == "truncate":
            add(op="truncate", file=f, size=rng.randrange(max(size, 1)))
        elif op == "zero":
            a = rng.randrange(max(size, 1))
            add(op="zero", file=f, start=a, stop=min(size, a + rng.choice([1, 8, 56, 304, 1024, 4096])))
        elif op == "garbage":
            a = rng.randrange(max(size, 1))
            add(op="garbage", file=f, start=a, length=rng.choice([1, 4, 16, 64, 512]), seed=rng.randrange(2**31))
        elif op == "append":
            add(op="append", file=f, length=rng.choice([1, 24, 56, 300, 4096]), seed=rng.randrange(2**31))
        else:
            others = [g for g in by_kind[_kind(f)] if g != f]
            if others:
                add(op="foreign", file=f, source=rng.choice(others))
            else:
                add(op="delete", file=f)
    for _ in range(crafted):
        f = rng.choice([g for g in files if _kind(g) in ("tdat", "tidx", "tmet", "rdat")] or files)
        kind = _kind(f)
        where = rng.random()
        if kind == "tidx" and sizes[f] >= UH + TIDX_ENTRY and where < 0.7:
            n = (sizes[f] - UH) // TIDX_ENTRY
            name = rng.choice(sorted(TIDX_FIELDS))
            off, fmt = TIDX_FIELDS[name]
            add(op="field", file=f, offset=UH + rng.randrange(n) * TIDX_ENTRY + off, fmt=fmt, field=name,
                fix_crc=True, seed=rng.randrange(2**31))
        elif kind == "tdat" and where < 0.7:
            blocks = _tdat_blocks(os.path.join(session, f))
            if not blocks:
                continue
            name = rng.choice(sorted(RED_FIELDS))
            off, fmt = RED_FIELDS[name]
            b = rng.choice(blocks)
            add(op="field", file=f, offset=b + off, fmt=fmt, field=name, fix_crc=True, block=b,
                seed=rng.randrange(2**31))
        elif kind == "tmet" and not encrypted and where < 0.7:
            name = rng.choice(sorted(TMET_FIELDS))
            off, fmt = TMET_FIELDS[name]
            add(op="field", file=f, offset=off, fmt=fmt, field=name, fix_crc=True, seed=rng.randrange(2**31))
        else:
            name = rng.choice(sorted(UH_FIELDS))
            off, fmt = UH_FIELDS[name]
            add(op="field", file=f, offset=off, fmt=fmt, field=name, fix_crc=True, seed=rng.randrange(2**31))
    return cases


def apply_case(work, case):
    """Damage the session copy `work`; return the relative paths touched."""
    f = case.get("file")
    target = os.path.join(work, f) if f else None
    op = case["op"]
    if op == "flip":
        with open(target, "r+b") as fh:
            fh.seek(case["offset"])
            b = fh.read(1)
            fh.seek(case["offset"])
            fh.write(bytes([b[0] ^ (1 << case["bit"])]))
    elif op == "truncate":
        os.truncate(target, case["size"])
    elif op == "zero":
        with open(target, "r+b") as fh:
            fh.seek(case["start"])
            fh.write(bytes(case["stop"] - case["start"]))
    elif op == "garbage":
        rnd = random.Random(case["seed"])
        size = os.path.getsize(target)
        n = max(0, min(case["length"], size - case["start"]))
        with open(target, "r+b") as fh:
            fh.seek(case["start"])
            fh.write(bytes(rnd.randrange(256) for _ in range(n)))
    elif op == "append":
        rnd = random.Random(case["seed"])
        with open(target, "ab") as fh:
            fh.write(bytes(rnd.randrange(256) for _ in range(case["length"])))
    elif op == "delete":
        os.remove(target)
    elif op == "foreign":
        shutil.copyfile(os.path.join(work, case["source"]), target)
    elif op == "field":
        rnd = random.Random(case["seed"])
        size = os.path.getsize(target)
        fmt = case["fmt"]
        if case["offset"] + struct.calcsize(fmt) > size:
            return [f]
        with open(target, "r+b") as fh:
            fh.seek(case["offset"])
            old = struct.unpack(fmt, fh.read(struct.calcsize(fmt)))[0]
            new = _absurd_values(fmt, old, rnd)
            fh.seek(case["offset"])
            fh.write(struct.pack(fmt, new))
        if case.get("fix_crc"):
            fix_crcs(target, case.get("block"))
    else:
        raise ValueError(f"unknown damage op {op!r}")
    return [f]


def restore(work, pristine, touched):
    for rel in touched:
        src, dst = os.path.join(pristine, rel), os.path.join(work, rel)
        if os.path.exists(src):
            shutil.copyfile(src, dst)
        elif os.path.exists(dst):
            os.remove(dst)


# --------------------------------------------------------------------------------------
# the worker (child process) and the isolating parent
# --------------------------------------------------------------------------------------


def _snapshot(work, rels):
    out = []
    for rel in rels:
        p = os.path.join(work, rel) if rel else None
        if p and os.path.isfile(p):
            with open(p, "rb") as f:
                out.append(f.read())
        else:
            out.append(None)
    return out


def _worker(job_path, start):
    with open(job_path) as f:
        job = json.load(f)
    scratch = tempfile.mkdtemp(prefix="neo_mef3-damage-")
    sessions = {}
    try:
        for s in job["sessions"]:
            work = os.path.join(scratch, s["key"], os.path.basename(s["path"].rstrip("/")))
            shutil.copytree(s["path"], work)
            baseline = read_everything(work, s.get("password", ""))
            windows = windows_of(baseline)
            baseline = read_everything(work, s.get("password", ""), windows)
            sessions[s["key"]] = (s["path"], work, s.get("password", ""), baseline, windows)
        print(json.dumps({"ready": True}), flush=True)
        for i in range(start, len(job["cases"])):
            case = job["cases"][i]
            pristine, work, password, baseline, windows = sessions[case["session"]]
            crafted = bool(case.get("fix_crc"))
            touched = [case.get("file")]
            t = time.perf_counter()
            before = _snapshot(work, touched)
            try:
                touched = apply_case(work, case)
                if _snapshot(work, touched) == before:  # e.g. zeros written over zeros
                    print(json.dumps({"i": i, "raise": "noop", "skip": "noop", "ms": 0}), flush=True)
                    continue
                r_out, r_msg = classify_raise(work, password, baseline, windows, crafted, touched)
                s_out, s_msg = classify_skip(work, password, baseline, windows, crafted)
            except Exception as exc:  # noqa: BLE001 - a harness problem, reported as such
                r_out, r_msg, s_out, s_msg = "harness", repr(exc), "harness", ""
            finally:
                restore(work, pristine, [t for t in touched if t])
            rec = {"i": i, "raise": r_out, "skip": s_out, "ms": round(1000 * (time.perf_counter() - t), 2)}
            if os.environ.get("NEO_MEF3_FUZZ_VERBOSE"):
                rec["raise_msg"], rec["skip_msg"] = r_msg, s_msg
            if r_out.split(":")[0] in FAILURE_PREFIXES or s_out.split(":")[0] in FAILURE_PREFIXES:
                rec["raise_msg"], rec["skip_msg"] = r_msg, s_msg
            print(json.dumps(rec), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _limit_memory(limit_bytes):
    def setup():
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
        except (ImportError, ValueError, OSError):  # pragma: no cover
            pass

    return setup


def run_isolated(job, timeout=60.0, memory_limit=3 << 30, worker=None, python=None, progress=None, workers=1):
    """Run every case of `job` in worker children; return one result dict per case.

    A child killed by a signal is a ``crash`` of the case it was running, a child
    silent for `timeout` seconds a ``hang``; the next child starts after that case.
    `worker` is the worker script (default: this file), called as
    ``python WORKER worker JOB START``. ``workers`` > 1 splits the cases between that
    many children running at once.
    """
    if workers > 1 and len(job["cases"]) > 1:
        from concurrent.futures import ThreadPoolExecutor

        parts = [list(range(k, len(job["cases"]), workers)) for k in range(workers)]
        kw = dict(timeout=timeout, memory_limit=memory_limit, worker=worker, python=python, progress=progress)
        with ThreadPoolExecutor(workers) as pool:
            futs = [pool.submit(run_isolated, dict(job, cases=[job["cases"][i] for i in idx]), **kw) for idx in parts]
            results = [None] * len(job["cases"])
            for idx, fut in zip(parts, futs):
                for i, rec in zip(idx, fut.result()):
                    results[i] = dict(rec, i=i)
        return results
    worker = worker or os.path.abspath(__file__)
    python = python or sys.executable
    job = dict(job)
    n = len(job["cases"])
    results = [None] * n
    fd, job_path = tempfile.mkstemp(suffix=".json", prefix="neo_mef3-job-")
    with os.fdopen(fd, "w") as f:
        json.dump(job, f)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    restarts = 0
    try:
        nxt = 0
        while nxt < n:
            proc = subprocess.Popen(
                [python, worker, "worker", job_path, str(nxt)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=_limit_memory(memory_limit),
            )
            restarts += 1
            buf = b""
            deadline = time.monotonic() + max(timeout, 120.0)  # start-up: imports + baselines
            outcome = None
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    outcome = "hang"
                    break
                ready, _, _ = select.select([proc.stdout], [], [], left)
                if not ready:
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    outcome = "eof"
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    rec = json.loads(line)
                    deadline = time.monotonic() + timeout
                    if rec.get("ready"):
                        continue
                    results[rec["i"]] = rec
                    nxt = rec["i"] + 1
                    if progress:
                        progress(rec)
            if outcome == "hang":
                proc.kill()
            proc.wait()
            err = proc.stderr.read().decode("utf-8", "replace")[-2000:]
            proc.stdout.close()
            proc.stderr.close()
            if nxt >= n:
                break
            if outcome == "hang":
                results[nxt] = {"i": nxt, "raise": "hang", "skip": "hang", "stderr": err}
            elif proc.returncode and proc.returncode < 0:
                sig = -proc.returncode
                results[nxt] = {"i": nxt, "raise": f"crash:signal {sig}", "skip": "crash", "stderr": err}
            else:
                results[nxt] = {"i": nxt, "raise": f"harness:exit {proc.returncode}", "skip": "harness", "stderr": err}
            nxt += 1
    finally:
        os.remove(job_path)
    return results


def tally(results, cases=None, key="raise"):
    out = {}
    for i, r in enumerate(results):
        outcome = r[key].split(":")[0] if r[key].split(":")[0] != "error" else r[key]
        if cases is not None and cases[i].get("fix_crc"):
            outcome = "crafted/" + outcome
        out[outcome] = out.get(outcome, 0) + 1
    return dict(sorted(out.items()))


def failures(results, cases):
    bad = []
    for i, r in enumerate(results):
        for key in ("raise", "skip"):
            if r[key].split(":")[0] in FAILURE_PREFIXES:
                bad.append({"case": cases[i], **r})
                break
    return bad


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _worker(sys.argv[2], int(sys.argv[3]))
    else:
        print(__doc__)
        sys.exit(2)
