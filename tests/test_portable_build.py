"""scripts/check_portable_build.py, one step at a time, where its tools are installed.

Each step builds the codec in a scratch copy (the default compiler with only the plain
C paths, clang, or MinGW-w64 for Windows) and checks it; see the script's docstring for
what each proves. A step whose compiler (or, for mingw, the CPython Windows headers) is
missing is skipped here with the script's own reason: the suite does not need them.
"""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_portable_build.py"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("step", ["portable", "clang", "mingw"])
def test_portable_build_step(step, tmp_path):
    if not SCRIPT.is_file():
        pytest.skip("scripts/check_portable_build.py is not here (not a source checkout)")
    r = subprocess.run([sys.executable, str(SCRIPT), "--steps", step], cwd=tmp_path,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=850)
    if r.returncode == 3:
        pytest.skip(r.stdout.strip().splitlines()[-1].strip())
    assert r.returncode == 0, r.stdout[-8000:]
    assert f"{step}: PASS" in r.stdout
