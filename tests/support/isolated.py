"""Run damage cases in worker processes, so that a crash or a hang is counted
against the case instead of ending the run.

The parent (:func:`run_isolated`) runs the worker with an address-space limit (so a
huge allocation is a MemoryError, not a swapped machine), reads one JSON line per
case, and counts a child that dies by a signal as a ``crash`` of the case it was on
and one silent for ``timeout`` seconds as a ``hang``; either way it restarts the
worker after that case. A worker applies cases one by one to a scratch copy of each
session (:mod:`support.damage`) and classifies what the Reader does
(:mod:`support.outcomes`).

The worker is ``python -m support.isolated worker JOB.json START``, started only by
:func:`run_isolated` (through :mod:`support.child`, so it imports the installed
neo_mef3).
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from support.child import child_env, module_command
from support.damage import apply_case, restore
from support.outcomes import FAILURE_PREFIXES, classify_raise, classify_skip, read_everything, windows_of
from support.neo_outcomes import classify_neo_skip, neo_baseline


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
            neo = neo_baseline(work, s.get("password", "")) if job.get("neo") else None
            sessions[s["key"]] = (s["path"], work, s.get("password", ""), baseline, windows, neo)
        print(json.dumps({"ready": True}), flush=True)
        for i in range(start, len(job["cases"])):
            case = job["cases"][i]
            pristine, work, password, baseline, windows, neo = sessions[case["session"]]
            crafted = bool(case.get("fix_crc"))
            touched = [case.get("file")]
            t = time.perf_counter()
            before = _snapshot(work, touched)
            try:
                touched = apply_case(work, case)
                if _snapshot(work, touched) == before:  # e.g. zeros written over zeros
                    noop = {"i": i, "raise": "noop", "skip": "noop", "ms": 0}
                    if neo is not None:
                        noop["neo"] = "noop"
                    print(json.dumps(noop), flush=True)
                    continue
                r_out, r_msg = classify_raise(work, password, baseline, windows, crafted, touched)
                s_out, s_msg = classify_skip(work, password, baseline, windows, crafted)
                n_out, n_msg = classify_neo_skip(work, password, neo, crafted) if neo is not None else (None, "")
            except Exception as exc:  # noqa: BLE001 - a harness problem, reported as such
                r_out, r_msg, s_out, s_msg, n_out, n_msg = "harness", repr(exc), "harness", "", None, ""
            finally:
                restore(work, pristine, [t for t in touched if t])
            rec = {"i": i, "raise": r_out, "skip": s_out, "ms": round(1000 * (time.perf_counter() - t), 2)}
            if n_out is not None:
                rec["neo"] = n_out
            if os.environ.get("NEO_MEF3_FUZZ_VERBOSE"):
                rec["raise_msg"], rec["skip_msg"], rec["neo_msg"] = r_msg, s_msg, n_msg
            if any((o or "").split(":")[0] in FAILURE_PREFIXES for o in (r_out, s_out, n_out)):
                rec["raise_msg"], rec["skip_msg"], rec["neo_msg"] = r_msg, s_msg, n_msg
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
    `worker` is a worker script to run instead of this module's, called as
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
    job = dict(job)
    n = len(job["cases"])
    results = [None] * n
    fd, job_path = tempfile.mkstemp(suffix=".json", prefix="neo_mef3-job-")
    with os.fdopen(fd, "w") as f:
        json.dump(job, f)
    env = child_env()
    env.setdefault("OMP_NUM_THREADS", "1")
    restarts = 0
    try:
        nxt = 0
        while nxt < n:
            args = ("worker", job_path, str(nxt))
            cmd = [python or sys.executable, worker, *args] if worker else module_command("isolated", *args, python=python)
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir(),
                preexec_fn=_limit_memory(memory_limit),
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
        if key not in r:  # (a mode the run did not include, or a harness failure)
            continue
        outcome = r[key].split(":")[0] if r[key].split(":")[0] != "error" else r[key]
        if cases is not None and cases[i].get("fix_crc"):
            outcome = "crafted/" + outcome
        out[outcome] = out.get(outcome, 0) + 1
    return dict(sorted(out.items()))


def failures(results, cases):
    bad = []
    for i, r in enumerate(results):
        for key in ("raise", "skip", "neo"):
            if r.get(key, "").split(":")[0] in FAILURE_PREFIXES:
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
