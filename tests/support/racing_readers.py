"""Readers racing a writer: one process appends the known script of writes
(:mod:`support.write_script`, slowly) while reader processes loop: each opens a Reader
(or keeps one open across appends), reads every channel and verifies that what it sees
is a prefix of the script at block granularity -- never a torn block, never a sample
that differs.

    python -m support.racing_readers [--readers N] [--seconds S] [--seed S]

(with tests/ on PYTHONPATH, outside the checkout: see :mod:`support.child`; or
``fuzz/kill.py readers``). Prints one JSON summary line; exit status 1 when something
was wrong.
"""

import json
import os
import random
import sys
import time
import traceback

import neo_mef3
from support.write_script import make_script, run_op, slow_io, verify


def _appender(path, ops, wfd, pause):
    slow_io()
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
    opts = dict(zip(argv[1::2], argv[2::2]))
    res = readers_campaign(int(opts.get("--readers", 3)), float(opts.get("--seconds", 5)), int(opts.get("--seed", 1)))
    print(json.dumps(res, default=str), flush=True)
    return 1 if res["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
