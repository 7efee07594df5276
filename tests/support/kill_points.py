"""Interrupted writes: kill-points against the known script of writes
(:mod:`support.write_script`).

A forked child runs a script of Writer calls (new channels, in-segment appends
contiguous and after gaps, new segments, int32 writes, records) and is SIGKILLed at a
random moment. Then:

1. the session opens (``Reader``, raise mode) and ``neo_mef3.check`` can check it;
2. every channel reads back as a prefix of the script: each stored sample is the
   scripted sample at its time, every sample of a call that returned before the kill
   is there ("nothing earlier is lost"), nothing of a later call is, and the call in
   progress left a prefix of itself (whole blocks);
3. a new Writer resumes: it writes the rest of the interrupted call and the remaining
   calls, and the final session holds exactly the script (and checks consistent).

    python -m support.kill_points [--points N] [--seed S] [--scale K] [--durable SHARE]

(with tests/ on PYTHONPATH, outside the checkout: see :mod:`support.child`; or
``fuzz/kill.py kill``). Prints one JSON summary line; exit status 1 when something was
lost or wrong.
"""

import json
import os
import random
import signal
import sys
import time
import traceback

import numpy as np

import neo_mef3
from neo_mef3.check import check_session
from support.write_script import make_script, run_op, slow_io, verify


def _child(path, ops, start, wfd, durable, block_length):
    slow_io()
    try:
        with neo_mef3.Writer(path, overwrite=start == 0, block_length=block_length, durable=durable) as w:
            for i in range(start, len(ops)):
                run_op(w, ops[i])
                os.write(wfd, f"{i}\n".encode())
        os.write(wfd, b"end\n")
    except BaseException:  # noqa: BLE001
        os.write(wfd, ("error " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
    finally:
        os._exit(0)


def _state_of(report):
    """What the kill left, from the checker's findings."""
    text = " ".join(m for _, m in report.problems + report.notes)
    if "index entr" in text and "past the" in text:
        return "uncommitted index entries"
    if "metadata declares" in text and "the index holds" in text:
        return "metadata behind the index"
    if "bytes after the last indexed block" in text:
        return "unindexed data bytes"
    if "temporary directory" in text:
        return "temporary directory"
    return "clean"


def kill_point(base, ops, rng, k, timing, durable_share=0.3):
    path = os.path.join(base, f"k{k}.mefd")
    durable = rng.random() < durable_share
    block_length = int(rng.choice([100, 250, 1000]))
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        _child(path, ops, 0, wfd, durable, block_length)
    os.close(wfd)
    total = timing.get((durable, block_length), 0.3)
    delay = rng.uniform(0, total)
    t = time.perf_counter()
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with os.fdopen(rfd) as f:
        lines = f.read().split("\n")
    if "end" in lines:  # ran to the end before the kill: aim earlier from now on
        timing[(durable, block_length)] = total * 0.8
        return {"outcome": "finished"}
    errors = [ln for ln in lines if ln.startswith("error")]
    if errors:
        return {"outcome": "child error", "problems": errors}
    done = sum(1 for ln in lines if ln.strip().isdigit())
    res = {"outcome": "killed", "done": done, "op": ops[done]["op"] if done < len(ops) else None,
           "durable": durable, "problems": []}
    if not os.path.isdir(path):
        res["state"] = "no session yet"
        if done:
            res["problems"].append("the session directory is missing")
        return res
    # 1. the session opens and checks
    report = check_session(path)
    res["state"] = _state_of(report)
    if report.exit_code == 2:
        res["problems"].append(f"check: unusable ({report.fatal})")
        return res
    if any(s.get("found", {}).get("bad_blocks") for c in report.channels for s in c["segments"]):
        res["problems"].append("check found blocks that do not decode")
    # 2. a prefix of the script
    try:
        problems, stored = verify(path, ops, done)
    except neo_mef3.MefError as exc:
        res["problems"].append(f"the session does not read: {exc}")
        return res
    res["problems"] += problems
    if problems:
        return res
    # 3. a new Writer resumes and completes the script
    try:
        with neo_mef3.Writer(path, block_length=block_length, durable=durable) as w:
            if done < len(ops):
                op = ops[done]
                have = stored.get(op.get("channel"), 0)
                if op["op"] == "annotations" or have < len(op["data"]):
                    run_op(w, op, have if op["op"] != "annotations" else 0)
            for i in range(done + 1, len(ops)):
                run_op(w, ops[i])
    except Exception as exc:  # noqa: BLE001
        res["problems"].append(f"resuming failed: {type(exc).__name__}: {exc}")
        return res
    problems, _ = verify(path, ops, len(ops))
    res["problems"] += problems
    with neo_mef3.Reader(path, n_threads=1) as r:
        if [x.get("text") for x in r.records()] != ["first", "second"]:
            res["problems"].append("records differ from the script after resuming")
    final = check_session(path)
    if final.exit_code != 0:
        # An interrupted call whose blocks were all indexed needs no rewrite, so when the
        # script never appends to that channel again its headers stay behind: the next
        # append to the channel by any Writer completes them. Do that, then insist.
        res["finished_by_extra_append"] = _append_to_stale(path, final, durable)
        final = check_session(path)
        problems, _ = verify(path, ops, len(ops))
        res["problems"] += problems
        if final.exit_code != 0:
            earlier = _only_earlier_segments(final)
            if earlier:  # OPEN (docs/reliability.md): a new segment does not complete the previous one
                res["stale_earlier_segment"] = earlier
            else:
                res["problems"].append("not consistent after resuming: " + "; ".join(m for _, m in final.problems)[:500])
    return res


def _only_earlier_segments(report):
    """The segments the problems are about, if none is its channel's last segment."""
    last = {}
    for ch in report.channels:
        if ch["segments"]:
            last[ch["name"]] = ch["segments"][-1]["path"]
    hit = set()
    for p, _ in report.problems:
        if ".segd" not in p:
            return None
        seg = p[: p.index(".segd") + len(".segd")]
        if seg in last.values():
            return None
        hit.add(os.path.basename(seg))
    return sorted(hit)


def _append_to_stale(path, report, durable):
    """Append 10 samples to each channel the report finds an interrupted append in."""
    stale = sorted({os.path.basename(p.split(".timd")[0]) for p, _ in report.problems if ".timd" in p})
    with neo_mef3.Reader(path, n_threads=1) as r:
        plan = []
        for ch in stale:
            last = r.toc(ch)[-1]
            fs = r.info(ch)["sampling_frequency"]
            end = last["start_uutc"] + int(round(last["number_of_samples"] * 1e6 / fs))
            plan.append((ch, end, fs, r.segments(ch)[-1]["units_conversion_factor"]))
    with neo_mef3.Writer(path, durable=durable) as w:
        for ch, end, fs, ufact in plan:
            w.write_int32(ch, np.arange(10), ufact, end, fs)
    return stale


def kill_campaign(points, seed, base=None, scale=1, durable_share=0.3):
    import shutil
    import tempfile

    base = base or tempfile.mkdtemp(prefix="neo_mef3-kill-")
    ops = make_script(seed, scale)
    rng = random.Random(seed)
    timing = {}
    # time an uninterrupted run per setting first (so kills land during the writes)
    for durable in (False, True) if durable_share > 0 else (False,):
        for bl in (100, 250, 1000):
            rfd, wfd = os.pipe()
            t = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.close(rfd)
                _child(os.path.join(base, "timing.mefd"), ops, 0, wfd, durable, bl)
            os.close(wfd)
            os.waitpid(pid, 0)
            os.close(rfd)
            timing[(durable, bl)] = time.perf_counter() - t
    results = []
    k = 0
    attempts = 0
    while len([r for r in results if r["outcome"] == "killed"]) < points and attempts < points * 4:
        attempts += 1
        res = kill_point(base, ops, rng, k, timing, durable_share)
        k += 1
        results.append(res)
        shutil.rmtree(os.path.join(base, f"k{k - 1}.mefd"), ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    killed = [r for r in results if r["outcome"] == "killed"]
    failures = [r for r in results if r.get("problems")]
    stale = [r for r in killed if r.get("stale_earlier_segment")]
    by_state, by_op = {}, {}
    for r in killed:
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
        by_op[str(r["op"])] = by_op.get(str(r["op"]), 0) + 1
    return {"kill_points": len(killed), "finished_before_kill": len(results) - len(killed) - len(
        [r for r in results if r["outcome"] == "child error"]), "by_state": by_state, "by_call": by_op,
        "failures": failures[:10], "n_failures": len(failures), "calls_in_script": len(ops),
        "completed_by_extra_append": len([r for r in killed if r.get("finished_by_extra_append")]),
        "open_stale_earlier_segment": len(stale)}


def main(argv):
    opts = dict(zip(argv[1::2], argv[2::2]))
    res = kill_campaign(int(opts.get("--points", 50)), int(opts.get("--seed", 1)), scale=int(opts.get("--scale", 1)),
                        durable_share=float(opts.get("--durable", 0.3)))
    print(json.dumps(res, default=str), flush=True)
    return 1 if res["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
