"""Interrupted writes and concurrent readers, against a known script of writes.

``kill`` -- kill-points: a forked child runs a script of Writer calls (new channels,
in-segment appends contiguous and after gaps, new segments, int32 writes, records) and
is SIGKILLed at a random moment. Then:

1. the session opens (``Reader``, raise mode) and ``neo_mef3.check`` can check it;
2. every channel reads back as a prefix of the script: each stored sample is the
   scripted sample at its time, every sample of a call that returned before the kill
   is there ("nothing earlier is lost"), nothing of a later call is, and the call in
   progress left a prefix of itself (whole blocks);
3. a new Writer resumes: it writes the rest of the interrupted call and the remaining
   calls, and the final session holds exactly the script (and checks consistent).

``readers`` -- one process appends (the same script, slowly) while reader processes
loop: each opens a Reader (or keeps one open across appends), reads every channel and
verifies that what it sees is a prefix of the script at block granularity -- never a
torn block, never a sample that differs.

    python fuzz/kill.py kill    [--points N] [--seed S]
    python fuzz/kill.py readers [--readers N] [--seconds S] [--seed S]

Both print one JSON summary line; exit status 1 when something was lost or wrong.
"""

import json
import os
import random
import signal
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

import neo_mef3  # noqa: E402
from neo_mef3.check import check_session  # noqa: E402

T0 = 1_600_000_000_000_000


# --------------------------------------------------------------------------------------
# the script
# --------------------------------------------------------------------------------------


def make_script(seed, scale=1):
    """Writer calls: dicts with op, channel, fs, start (uUTC, on the grid), data."""
    rng = np.random.default_rng(seed)

    def sig(n):
        return np.round(np.cumsum(rng.normal(0, 2, n)), 2)

    ops = []
    t = {"a": T0, "b": T0, "c": T0}
    fs = {"a": 250.0, "b": 1000.0, "c": 500.0}

    def add(op, ch, n, gap_s=0.0, **kw):
        start = t[ch] + int(round(gap_s * 1e6))
        data = sig(n) if op != "write_int32" else rng.integers(-30000, 30000, n).astype(np.int32)
        ops.append(dict(op=op, channel=ch, fs=fs[ch], start=start, data=data, **kw))
        t[ch] = start + int(round(n * 1e6 / fs[ch]))

    k = scale
    add("write", "a", 2000 * k)
    add("write", "b", 6000 * k)
    add("write", "a", 1500 * k)  # contiguous append
    add("write_int32", "c", 3000 * k, ufact=0.5)
    add("write", "b", 4000 * k, gap_s=1.0)  # append after a gap
    ops.append(dict(op="annotations", records=[{"time": T0 + 1000, "text": "first"}]))
    add("write", "a", 1200 * k, gap_s=2.0, new_segment=True)
    add("write_int32", "c", 2500 * k, ufact=0.5)
    add("write", "b", 5000 * k)
    add("write", "a", 900 * k)
    ops.append(dict(op="annotations", records=[{"time": T0 + 1000, "text": "first"},
                                               {"time": T0 + 2000, "type": "EDFA", "text": "second",
                                                "duration": 10}]))
    add("write", "c", 100 * k, gap_s=0.5, new_segment=True, ufact=0.5)
    for _ in range(3):
        add("write", "b", 3000 * k)
        add("write", "a", 700 * k)
    return ops


def run_op(w, op, skip_samples=0):
    """Perform one scripted call (its samples from `skip_samples` on)."""
    if op["op"] == "annotations":
        w.write_annotations(op["records"])
        return
    data = op["data"][skip_samples:]
    start = op["start"] + int(round(skip_samples * 1e6 / op["fs"]))
    new_segment = bool(op.get("new_segment")) and skip_samples == 0
    if op["op"] == "write_int32" or (op["op"] == "write" and op.get("ufact")):
        counts = data if data.dtype.kind == "i" else np.round(data / op["ufact"]).astype(np.int32)
        w.write_int32(op["channel"], counts, op["ufact"], start, op["fs"], new_segment=new_segment)
    else:
        w.write(op["channel"], data, start, op["fs"], precision=2, new_segment=new_segment)


def expected(ops, upto=None):
    """Per channel: (t0, fs, samples, owner) on the grid -- owner is the op index of each
    position (-1 in gaps); samples are stored counts (int64)."""
    out = {}
    for i, op in enumerate(ops[: upto if upto is not None else len(ops)]):
        if op["op"] == "annotations":
            continue
        ch = op["channel"]
        fs = op["fs"]
        t0 = min(o["start"] for o in ops if o.get("channel") == ch)
        if ch not in out:
            end = max(o["start"] + int(round(len(o["data"]) * 1e6 / fs)) for o in ops if o.get("channel") == ch)
            n = int(round((end - t0) * fs / 1e6))
            out[ch] = (t0, fs, np.zeros(n, np.int64), np.full(n, -1, np.int64))
        _, _, samples, owner = out[ch]
        p = int(round((op["start"] - t0) * fs / 1e6))
        d = op["data"]
        if d.dtype.kind == "i":
            counts = d.astype(np.int64)
        elif op.get("ufact"):
            counts = np.round(d / op["ufact"]).astype(np.int64)
        else:
            counts = np.round(d * 100).astype(np.int64)
        samples[p : p + len(d)] = counts
        owner[p : p + len(d)] = i
    return out


def verify(path, ops, done, strict_prefix=True, reader=None):
    """What the session holds against the script, `done` calls having returned.

    Returns (problems, stored): stored maps channel -> number of samples of the call in
    progress (``done``) that are stored.
    """
    problems = []
    stored = {}
    exp = expected(ops)
    own = reader is None
    r = reader or neo_mef3.Reader(path, n_threads=1)
    try:
        names = set(r.channels)
        for ch, (t0, fs, samples, owner) in exp.items():
            needed = bool(((owner >= 0) & (owner < done)).any())
            if ch not in names:
                if needed:
                    problems.append(f"channel {ch} is missing")
                continue
            got = r.read_raw(ch, t0, t0 + int(round(len(samples) * 1e6 / fs)))
            valid = got["valid"] == 1
            if len(got["samples"]) != len(samples):
                problems.append(f"{ch}: window of {len(got['samples'])} samples, expected {len(samples)}")
                continue
            if (owner[valid] < 0).any():
                problems.append(f"{ch}: samples where the script has none")
            ok = valid & (owner >= 0)
            if not np.array_equal(got["samples"][ok].astype(np.int64), samples[ok]):
                k = int(np.flatnonzero(got["samples"][ok].astype(np.int64) != samples[ok])[0])
                problems.append(f"{ch}: a stored sample differs from the script (the {k}-th)")
            lost = (owner >= 0) & (owner < done) & ~valid
            if lost.any():
                problems.append(f"{ch}: {int(lost.sum())} samples of completed calls are missing")
            if strict_prefix:
                later = valid & (owner > done)
                if later.any():
                    problems.append(f"{ch}: samples of calls that had not started")
            else:  # a reader racing a writer: some prefix of the channel's script, in time
                v = valid[owner >= 0]
                if not v[: int(v.sum())].all():
                    problems.append(f"{ch}: what is stored is not a prefix of the script (a torn or lost block)")
            stored[ch + "#total"] = int(valid.sum())
            cur = owner == done
            if cur.any():
                v = valid[cur]
                k = int(v.sum())
                if strict_prefix and not v[:k].all():
                    problems.append(f"{ch}: the interrupted call left a non-prefix of itself")
                stored[ch] = k
    finally:
        if own:
            r.close()
    return problems, stored


# --------------------------------------------------------------------------------------
# kill-points
# --------------------------------------------------------------------------------------


def _slow_io():
    """Make the Writer's I/O slow and page-grained, like a USB disk: a kill then lands
    inside an append's ordered steps, and a write larger than a page can stop between
    pages, as a SIGKILLed write() can (it never stops inside a page)."""
    import neo_mef3.writer as wmod

    real_pwrite, real_fsync = wmod._pwrite_all, wmod._fsync_fd

    def pwrite(fd, data, offset):
        view = memoryview(data)
        while len(view):
            k = min(len(view), 4096 - offset % 4096)
            real_pwrite(fd, view[:k], offset)
            view = view[k:]
            offset += k
            time.sleep(0.0001)

    def fsync(fd, durable):
        real_fsync(fd, durable)
        time.sleep(0.001)

    wmod._pwrite_all, wmod._fsync_fd = pwrite, fsync


def _child(path, ops, start, wfd, durable, block_length):
    _slow_io()
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


# --------------------------------------------------------------------------------------
# readers while one process appends
# --------------------------------------------------------------------------------------


def _appender(path, ops, wfd, pause):
    _slow_io()
    try:
        with neo_mef3.Writer(path, block_length=250, durable=False) as w:
            for i in range(1, len(ops)):
                run_op(w, ops[i])
                os.write(wfd, f"{i}\n".encode())
                time.sleep(pause)
        os.write(wfd, b"end\n")
    except BaseException:  # noqa: BLE001
        os.write(wfd, ("error " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
    finally:
        os._exit(0)


def _reader_loop(path, ops, wfd, seconds, keep_open, seed):
    rng = random.Random(seed)
    reads = 0
    problems = []
    views = set()
    deadline = time.monotonic() + seconds
    try:
        r = neo_mef3.Reader(path, n_threads=rng.choice([1, 2])) if keep_open else None
        while time.monotonic() < deadline:
            rr = r or neo_mef3.Reader(path, n_threads=rng.choice([1, 2]))
            try:
                p, stored = verify(path, ops, 0, strict_prefix=False, reader=rr)
                problems += p
                # what this reader saw is a consistent prefix: no sample of a call after a missing one
                views.add(json.dumps(sorted((c, n) for c, n in stored.items() if c.endswith("#total"))))
                reads += 1
            finally:
                if r is None:
                    rr.close()
            if problems:
                break
        if r is not None:
            r.close()
        os.write(wfd, (json.dumps({"reads": reads, "problems": problems[:5], "views": len(views)}) + "\n").encode())
    except BaseException:  # noqa: BLE001
        os.write(wfd, (json.dumps({"reads": reads, "problems": [traceback.format_exc()[-1500:]]}) + "\n").encode())
    finally:
        os._exit(0)


def readers_campaign(n_readers, seconds, seed, base=None):
    import shutil
    import tempfile

    base = base or tempfile.mkdtemp(prefix="neo_mef3-readers-")
    path = os.path.join(base, "live.mefd")
    ops = [op for op in make_script(seed) if op["op"] != "annotations" and not op.get("new_segment")]
    with neo_mef3.Writer(path, overwrite=True, block_length=250) as w:
        run_op(w, ops[0])
    pause = max(0.0, seconds / len(ops) * 0.8)
    fds = []
    pids = []
    for k in range(n_readers):
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            _reader_loop(path, ops, wfd, seconds, keep_open=(k % 2 == 1), seed=seed + k)
        os.close(wfd)
        fds.append(rfd)
        pids.append(pid)
    rfd, wfd = os.pipe()
    apid = os.fork()
    if apid == 0:
        os.close(rfd)
        _appender(path, ops, wfd, pause)
    os.close(wfd)
    for pid in pids + [apid]:
        os.waitpid(pid, 0)
    out = []
    for fd in fds:
        with os.fdopen(fd) as f:
            line = f.read().strip().splitlines()
            out.append(json.loads(line[-1]) if line else {"reads": 0, "problems": ["reader died"]})
    with os.fdopen(rfd) as f:
        appended = f.read().split("\n")
    problems = [p for o in out for p in o["problems"]]
    if "end" not in appended:
        problems.append("the appender did not finish: " + " ".join(a for a in appended if a.startswith("error"))[:1000])
    final, _ = verify(path, ops, len(ops))
    problems += final
    shutil.rmtree(base, ignore_errors=True)
    return {"readers": n_readers, "appends": len(ops) - 1, "reads": sum(o["reads"] for o in out),
            "distinct_views": sum(o.get("views", 0) for o in out), "problems": problems[:10],
            "n_failures": len(problems)}


def main(argv):
    if len(argv) < 2 or argv[1] not in ("kill", "readers"):
        print(__doc__)
        return 2
    opts = dict(zip(argv[2::2], argv[3::2]))
    seed = int(opts.get("--seed", 1))
    if argv[1] == "kill":
        res = kill_campaign(int(opts.get("--points", 50)), seed, scale=int(opts.get("--scale", 1)),
                            durable_share=float(opts.get("--durable", 0.3)))
    else:
        res = readers_campaign(int(opts.get("--readers", 3)), float(opts.get("--seconds", 5)), seed)
    print(json.dumps(res, default=str), flush=True)
    return 1 if res["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
