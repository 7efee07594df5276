"""The core examples run from a fresh install (each in a subprocess, outside the checkout)
and print what the shipped example session holds (its records were written by meflib)."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _run(name, tmp_path, *args):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *map(str, args)], capture_output=True,
                       text=True, timeout=150, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name, expected", [
    ("read_session.py", "EDFA 1600000012000000 stimulus"),
    ("neo_get_io.py", "EDFA at 12.000 s: stimulus"),
    ("neo_rawio_chunks.py", "Note (event) at 8.000 s: amplifier saturated, data dropped"),
    ("spikeinterface_read.py", "Durations: 8.00s | 10.00s"),
    ("legacy_mef_tools_script.py", "EDFA  1600000030000000     artifact"),
    ("neo_write_block.py", "EDFA: [np.str_('phase: task')]"),
])
def test_example_runs(tmp_path, name, expected):
    assert expected in _run(name, tmp_path)
