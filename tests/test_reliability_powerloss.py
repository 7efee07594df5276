"""Power loss during writes and appends (``support.power_loss``, model disk in
``support.model_disk``): the Writer's system calls are recorded and replayed onto a disk
that loses or tears (at 512-byte sectors) whatever was not flushed, at random cut
points.

With ``durable=True`` every crash state must read with no sample wrong and every call
that had returned intact; a Writer opening it repairs it to a consistent session and
resumes. With ``durable=False`` (no promise after a power cut) data may be lost, but no
sample may read wrong. The long campaign (thousands of cut points) is
``PYTHONPATH=tests python fuzz/powerloss.py --points 8000 --scripts 8``; figures in
docs/reliability.md.
"""

import json
import os

import pytest

from support.child import last_json_line, run_module


@pytest.mark.timeout(300)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the campaign's workers are forked")
def test_power_loss_campaign(tmp_path):
    p = run_module("power_loss", "--points", 160, "--non-durable", 40, "--seed", 7, "--scripts", 2, "--workers", 2,
                   timeout=280, cwd=tmp_path)
    res = last_json_line(p.stdout)
    assert res, p.stderr.decode()[-3000:]
    durable = res["durable"]
    assert durable["failures"] == 0, json.dumps(res["examples"], indent=1)[:4000]
    assert durable["lost_committed"] == durable["wrong_samples"] == 0
    assert durable["crash_states"] == 160
    # the cuts land inside writes, not only between them: most states needed a repair
    assert durable["states_repaired_at_open"] >= 60, durable
    assert res["non_durable"]["wrong_samples"] == 0 and res["non_durable"]["failures"] == 0
