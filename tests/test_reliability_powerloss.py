"""Power loss during writes and appends (``fuzz/powerloss.py``, model disk in
``fuzz/disk.py``): the Writer's system calls are recorded and replayed onto a disk that
loses or tears (at 512-byte sectors) whatever was not flushed, at random cut points.

With ``durable=True`` every crash state must read with no sample wrong and every call
that had returned intact; a Writer opening it repairs it to a consistent session and
resumes. With ``durable=False`` (no promise after a power cut) data may be lost, but no
sample may read wrong. The long campaign (thousands of cut points) is
``python fuzz/powerloss.py --points 5000 --scripts 8``; figures in docs/reliability.md.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.timeout(300)
def test_power_loss_campaign(tmp_path):
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "fuzz", "powerloss.py"), "--points", "160", "--non-durable", "40",
         "--seed", "7", "--scripts", "2", "--workers", "2"],
        capture_output=True, timeout=280, cwd=str(tmp_path),
    )
    lines = [ln for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
    assert lines, p.stderr.decode()[-3000:]
    res = json.loads(lines[-1])
    durable = res["durable"]
    assert durable["failures"] == 0, json.dumps(res["examples"], indent=1)[:4000]
    assert durable["lost_committed"] == durable["wrong_samples"] == 0
    assert durable["crash_states"] == 160
    # the cuts land inside writes, not only between them: most states needed a repair
    assert durable["states_repaired_at_open"] >= 60, durable
    assert res["non_durable"]["wrong_samples"] == 0 and res["non_durable"]["failures"] == 0
