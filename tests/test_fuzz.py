"""Short fuzz runs over the RED decoder, the record parser, the header parsers and whole
sessions (``support.fuzz_targets``), each in a child process so that a crash or a hang is
a test failure and not the end of pytest. The long runs and their figures are in
docs/reliability.md (``fuzz/campaign.py``)."""

import json
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.child import last_json_line, run_module

RUNS = [
    ("random", "red", 3000),
    ("random", "records", 3000),
    ("random", "headers", 1500),
    ("random", "session", 150),
    ("hypothesis", "red", 300),
    ("hypothesis", "records", 300),
    ("hypothesis", "headers", 200),
    ("hypothesis", "session", 60),
]


def _run(driver, target, n, timeout=240):
    args = [driver, target, "--n", n]
    if driver == "random":
        args += ["--seed", 20240]
    try:
        p = run_module("fuzz_targets", *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"target": target, "driver": driver, "hang": True}
    res = {"target": target, "driver": driver, "returncode": p.returncode, "stderr": p.stderr.decode()[-3000:]}
    res.update(last_json_line(p.stdout) or {})
    return res


def test_fuzz_short_runs():
    pytest.importorskip("hypothesis")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda r: _run(*r), RUNS))
    problems = []
    for r, (driver, target, n) in zip(results, RUNS):
        if r.get("hang"):
            problems.append(f"{driver}/{target}: hang")
        elif r["returncode"] < 0:
            problems.append(f"{driver}/{target}: crash ({signal.Signals(-r['returncode']).name})\n{r['stderr']}")
        elif r["returncode"] != 0 or r.get("n_failures"):
            problems.append(f"{driver}/{target}: {json.dumps(r.get('failures'))[:2000]}\n{r['stderr']}")
        elif r["executions"] < n:
            problems.append(f"{driver}/{target}: only {r['executions']} of {n} executions")
    assert not problems, "\n".join(problems)
