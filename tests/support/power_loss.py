"""Power loss during writes and appends: the Writer's system calls replayed onto a model
disk that loses or tears what was not flushed (:mod:`support.model_disk`).

A script of Writer calls (:mod:`support.write_script`, the kill-points': new channels, contiguous appends, appends
after gaps, new segments, int32 writes, record replacement; a new Writer every few
calls, so repair at open is on the path too) runs once while every file system call it
makes through ``neo_mef3.fileio`` is recorded. Then, for random cut points ``k`` in the
log and random draws of what the disk kept of the unflushed operations (each 512-byte
sector of a write, each truncation, each directory entry not yet flushed), the crash
state is written to a directory and judged:

1. the session reads (``Reader``, raise mode) and every channel is a prefix of the
   script: every sample of a call that had returned is there and exact, nothing of a
   later call, whole blocks of the call in progress, no sample differs ("wrong");
   the records are those of the last returned record call, or of the one in progress;
2. a new Writer opens it (repairing what it finds) and ``neo_mef3.check`` then finds
   the session consistent; it still reads as in 1.;
3. the Writer resumes: it writes the rest of the interrupted call and the next one
   (the whole rest of the script for every ``--full-every``-th state) and the session
   holds exactly the script up to there, and checks consistent.

With ``durable=False`` nothing is flushed and nothing is promised after a power cut:
those runs (``--non-durable N``) count lost data and unreadable sessions, and fail only
on wrong samples.

    python -m support.power_loss --points 8000 --scripts 8 --seed 2 [--workers 2] [--non-durable 2000]

(with tests/ on PYTHONPATH, outside the checkout: see :mod:`support.child`; or
``fuzz/powerloss.py``). Prints one JSON summary line; exit status 1 when committed data was lost, a sample read
wrong, or a Writer could not resume.
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import traceback
import warnings

import neo_mef3
from neo_mef3.check import check_session
from support.model_disk import Recorder, materialize
from support.write_script import make_script, run_op, verify

SESSION = "s.mefd"
REOPEN_EVERY = 5
_RECORDINGS = {}


def record(seed, durable, block_length, base):
    """Run the script once under a Recorder; returns (recorder, ops)."""
    ops = make_script(seed)
    root = os.path.join(base, f"rec-{seed}-{int(durable)}")
    os.makedirs(root)
    rec = Recorder(root)
    rec.install()
    path = os.path.join(root, SESSION)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = None
            for i, op in enumerate(ops):
                if i % REOPEN_EVERY == 0:
                    if w is not None:
                        w.close()
                    w = neo_mef3.Writer(path, block_length=block_length, durable=durable)
                run_op(w, op)
                rec.mark(i)
            w.close()
    finally:
        rec.uninstall()
    return rec, ops


def _records_ok(path, ops, done):
    """The session's records are those of the last record call that returned, or of the
    one in progress."""
    calls = [i for i, op in enumerate(ops) if op["op"] == "annotations"]
    allowed = []
    before = [i for i in calls if i < done]
    allowed.append([r["text"] for r in ops[before[-1]]["records"]] if before else [])
    if done < len(ops) and ops[done]["op"] == "annotations":
        allowed.append([r["text"] for r in ops[done]["records"]])
    with neo_mef3.Reader(path, n_threads=1) as r:
        got = [x.get("text") for x in r.records()]
    return got in allowed, got


def _resume(path, ops, done, stored, upto, block_length):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with neo_mef3.Writer(path, block_length=block_length, durable=False) as w:
            if done < len(ops):
                op = ops[done]
                have = stored.get(op.get("channel"), 0) if op["op"] != "annotations" else 0
                if op["op"] == "annotations" or have < len(op["data"]):
                    run_op(w, op, have)
            for i in range(done + 1, upto):
                run_op(w, ops[i])


def judge(key, k, state_seed, full, dest):
    """One crash state: a dict with the outcome and any problems."""
    rec, ops, durable, block_length = _RECORDINGS[key]
    rng = random.Random(state_seed)
    keep = rng.choice([0.1, 0.5, 0.9])
    state = rec.crash_state(k, rng, keep)
    done = len(rec.marks_before(k))
    out = {"script": key[0], "k": k, "done": done, "durable": durable, "problems": [], "lost": [], "wrong": [],
           "call": ops[done]["op"] if done < len(ops) and not (k and rec.ops[k - 1][0] == "mark") else "between calls"}
    shutil.rmtree(dest, ignore_errors=True)
    materialize(state, dest)
    path = os.path.join(dest, SESSION)
    try:
        if not os.path.isdir(path) or not any(e.endswith(".timd") for e in os.listdir(path)):
            out["state"] = "no channel yet"
            if done and any(op["op"] != "annotations" for op in ops[:done]):
                out["lost"].append("the session (or all of its channels) is missing")
            return _finish(out, durable)
        # 1. the crash state as it is
        try:
            problems, stored = verify(path, ops, done)
            _sort(out, problems)
            ok, got = _records_ok(path, ops, done)
            if not ok:
                out["lost"].append(f"records {got}")
        except neo_mef3.MefError as exc:
            out["lost"].append(f"the session does not read before repair: {exc}")
            stored = {}
        # 2. a Writer opens it and repairs
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = neo_mef3.Writer(path, block_length=block_length, durable=False)
                out["repairs"] = len(w.summary["repairs"])
                w.close()
        except neo_mef3.MefError as exc:
            out["refused"] = str(exc)[-300:]
            out["problems"].append(f"a Writer refuses the session: {exc}")
            return _finish(out, durable)
        report = check_session(path)
        if report.exit_code != 0:
            out["problems"].append("not consistent after a Writer opened it: "
                                   + "; ".join(m for _, m in report.problems)[:400])
        try:
            problems, stored = verify(path, ops, done)
            _sort(out, problems)
        except neo_mef3.MefError as exc:
            out["lost"].append(f"the session does not read after repair: {exc}")
            return _finish(out, durable)
        # 3. resume
        upto = len(ops) if full else min(len(ops), done + 2)
        _resume(path, ops, done, stored, upto, block_length)
        problems, _ = verify(path, ops, upto)
        for p in problems:
            out["problems"].append("after resuming: " + p)
        if full:
            final = check_session(path)
            if final.exit_code != 0:
                out["problems"].append("not consistent after resuming: "
                                       + "; ".join(m for _, m in final.problems)[:400])
    except Exception:  # noqa: BLE001
        out["problems"].append("exception: " + traceback.format_exc()[-1500:])
    return _finish(out, durable)


def _sort(out, problems):
    for p in problems:
        (out["wrong"] if "differs" in p or "where the script has none" in p or "not started" in p
         else out["lost"]).append(p)


def _finish(out, durable):
    if not durable:  # no promise after a power cut: only wrong samples and unclear errors fail
        out["failed"] = bool(out["wrong"]) or any(p.startswith("exception") for p in out["problems"])
    else:
        out["failed"] = bool(out["wrong"] or out["lost"] or out["problems"])
    return out


def _work(args):
    try:
        return judge(*args)
    finally:
        shutil.rmtree(args[-1], ignore_errors=True)


def campaign(points, seed, non_durable=0, workers=2, full_every=10, scripts=2, base=None):
    base = base or tempfile.mkdtemp(prefix="neo_mef3-powerloss-")
    rng = random.Random(seed)
    jobs = []
    for durable, n in ((True, points), (False, non_durable)):
        if not n:
            continue
        for s in range(scripts):  # scripts of their own seeds and block lengths
            script_seed = seed * 100 + s
            block_length = (250, 1000, 100)[s % 3]
            key = (script_seed, durable)
            rec, ops = record(script_seed, durable, block_length, base)
            _RECORDINGS[key] = (rec, ops, durable, block_length)
            share = n // scripts + (1 if s < n % scripts else 0)
            for j in range(share):
                k = rng.randint(0, len(rec.ops))
                jobs.append((key, k, rng.randrange(1 << 30), j % full_every == 0,
                             os.path.join(base, f"state-{len(jobs)}")))
    ctx = multiprocessing.get_context("fork")
    results = []
    with ctx.Pool(workers) as pool:
        for res in pool.imap_unordered(_work, jobs, chunksize=4):
            results.append(res)
    shutil.rmtree(base, ignore_errors=True)
    summary = {"ops_recorded": {f"{k[0]}/{'durable' if k[1] else 'non-durable'}": len(v[0].ops)
                                for k, v in _RECORDINGS.items()}}
    for durable in (True, False):
        rs = [r for r in results if r["durable"] == durable]
        if not rs:
            continue
        name = "durable" if durable else "non_durable"
        summary[name] = {
            "crash_states": len(rs),
            "cut_points": len({(r["script"], r["k"]) for r in rs}),
            "refused_by_a_writer": sum(1 for r in rs if r.get("refused")),
            "between_calls_or_before_first": sum(1 for r in rs if r.get("state") == "no channel yet"),
            "states_repaired_at_open": sum(1 for r in rs if r.get("repairs")),
            "lost_committed": sum(1 for r in rs if r["lost"]),
            "wrong_samples": sum(1 for r in rs if r["wrong"]),
            "not_resumed_or_inconsistent": sum(1 for r in rs if r["problems"]),
            "failures": sum(1 for r in rs if r["failed"]),
            "by_call_in_progress": {c: sum(1 for r in rs if r["call"] == c) for c in sorted({r["call"] for r in rs})},
        }
    failures = [r for r in results if r["failed"]]
    summary["examples"] = [{k: v for k, v in r.items() if k != "durable"} for r in failures[:8]]
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(prog="power_loss", description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=200, help="crash states with durable=True")
    ap.add_argument("--non-durable", type=int, default=0, help="crash states with durable=False")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--full-every", type=int, default=10)
    ap.add_argument("--scripts", type=int, default=2, help="scripts recorded (each its own seed)")
    args = ap.parse_args(argv)
    res = campaign(args.points, args.seed, args.non_durable, args.workers, args.full_every, args.scripts)
    print(json.dumps(res))
    bad = res.get("durable", {}).get("failures", 0) + res.get("non_durable", {}).get("failures", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
