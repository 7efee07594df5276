"""Interrupted writes: a writing child is SIGKILLed at random moments (``support.kill_points``).

After each kill the session opens and checks, every channel reads back as a prefix of
the scripted writes (each sample of a call that returned is there, the call in progress
left whole blocks of itself, nothing else), and a new Writer resumes and completes the
script exactly. The Writer's I/O is slowed and split at page boundaries in the child
(as a killed ``write()`` can stop between pages) so that the kills land inside the
ordered steps of appends. The long campaign is ``python fuzz/kill.py kill --points N``
(see fuzz/README.md).
"""

import json
import os

import pytest

from support.child import last_json_line, run_module


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_kill_points(tmp_path):
    p = run_module("kill_points", "--points", 20, "--seed", 7, "--durable", 0.1, timeout=300, cwd=tmp_path)
    res = last_json_line(p.stdout)
    assert res, p.stderr.decode()[-3000:]
    assert res["n_failures"] == 0, json.dumps(res["failures"], indent=1)[:4000]
    assert res["kill_points"] >= 20
    # the kills hit the interesting moments, not only the gaps between calls
    interrupted = sum(v for k, v in res["by_state"].items() if k not in ("clean", "no session yet"))
    assert interrupted >= 6, res["by_state"]


class _Crash(Exception):
    pass


def test_new_segment_after_an_interrupted_append_completes_the_previous_one(tmp_path):
    import numpy as np

    import neo_mef3
    import neo_mef3.fileio as fileio_mod
    from neo_mef3.check import check_session

    path = str(tmp_path / "s.mefd")
    t0 = 1_600_000_000_000_000
    x = np.round(np.linspace(-5, 5, 1000), 2)
    with neo_mef3.Writer(path, overwrite=True, block_length=300) as w:
        w.write("c", x, t0, 100.0)
    real = fileio_mod.fsync
    calls = {"n": 0}

    def crashing(fd, durable):
        real(fd, durable)
        calls["n"] += 1
        if calls["n"] == 3:  # after the index header, before the data header and metadata
            raise _Crash

    fileio_mod.fsync = crashing
    try:
        with pytest.raises(_Crash):
            neo_mef3.Writer(path).write("c", x, t0 + 10_000_000, 100.0)
    finally:
        fileio_mod.fsync = real
    with neo_mef3.Writer(path) as w:
        w.write("c", x, t0 + 30_000_000, 100.0, new_segment=True)
    report = check_session(path)
    assert report.exit_code == 0, report.text()
