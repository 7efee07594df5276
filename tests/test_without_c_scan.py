"""The package without its POSIX-only C scan (``neo_mef3._scan``), as on Windows.

setup.py builds ``_scan`` on POSIX systems only; elsewhere ``neo_mef3.session`` scans
channel directories in Python. Here a fresh interpreter that cannot import ``_scan``
imports every module of the package and writes, reads, checks and opens (neo) a session,
comparing the samples with what was written.
"""
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent('''
    import importlib, importlib.abc, pkgutil, sys
    import numpy as np

    class NoCScan(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "neo_mef3._scan":
                raise ImportError("neo_mef3._scan is not built here (as on Windows)")

    sys.meta_path.insert(0, NoCScan())
    import neo_mef3
    from neo_mef3 import session
    assert session._scan is None
    for m in pkgutil.walk_packages(neo_mef3.__path__, "neo_mef3."):
        if m.name != "neo_mef3._scan" and not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    assert "neo_mef3._scan" not in sys.modules

    path = sys.argv[1]
    rng = np.random.default_rng(8)
    data = {c: np.round(rng.normal(0, 40, 5000), 1) for c in ("A", "B")}
    with neo_mef3.Writer(path, overwrite=True) as w:
        for c, x in data.items():
            w.write(c, x[:3000], 1_700_000_000_000_000, 1000.0, precision=1)
            w.write(c, x[3000:], 1_700_000_003_000_000, 1000.0, precision=1, new_segment=True)
    with neo_mef3.Reader(path) as r:
        assert r.channels == ["A", "B"]
        for c, x in data.items():
            assert np.array_equal(np.round(r.read(c), 1), x), c
    from neo_mef3.check import check_session
    from neo_mef3.rawio import MEF3RawIO
    io = MEF3RawIO(path)
    io.parse_header()
    assert io.get_signal_size(0, 0, 0) == 3000
    report = check_session(path)
    assert report.consistent and not report.problems, report.text()
    print("ok")
''')


@pytest.mark.timeout(180)
def test_package_works_without_the_c_scan(tmp_path):
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "s.mefd")], cwd=tmp_path,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=170)
    assert r.returncode == 0, r.stdout[-5000:]
    assert r.stdout.strip().splitlines()[-1].startswith("ok")
