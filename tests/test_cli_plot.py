"""``neo-mef3 plot``: PNGs of the asked size that show something, and a clear error
without matplotlib."""

import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(300)


def _image(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def _assert_drawn(img, width, height):
    assert img.shape[:2] == (height, width)
    rgb = (img[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    assert rgb.std() > 20  # not a blank (one-colour) image
    colours = {tuple(c) for c in rgb[:: max(1, len(rgb) // 20000)]}
    assert len(colours) >= 5


def test_plot_window_and_overview(oracle_sessions, run_cli, tmp_path):
    pytest.importorskip("matplotlib")
    src = oracle_sessions("encrypted", "mef3io")  # two rates, a gap, records
    res = run_cli("plot", src, "--start", "1.5", "--duration", "3s", "--out", "w.png", "--size", "640x360",
                  "--tz", "Europe/Prague", "--password-env", "PW", env={"PW": "pass2"})
    assert res.returncode == 0, res.stderr
    _assert_drawn(_image(tmp_path / "w.png"), 640, 360)
    res = run_cli("plot", src, "--overview", "--bin", "0.5s", "--out", "o.png", "--size", "500x300",
                  "--channels", "e512", "--password-env", "PW", env={"PW": "pass2"})
    assert res.returncode == 0, res.stderr
    _assert_drawn(_image(tmp_path / "o.png"), 500, 300)
    res = run_cli("plot", src, "--out", "o.png", "--password-env", "PW", env={"PW": "pass2"})
    assert res.returncode == 2 and "--overwrite" in res.stderr


def test_overview_envelope_is_the_block_statistics(oracle_sessions):
    """The per-bin min/max come from the index; they bound the decoded samples of the bin."""
    pytest.importorskip("matplotlib")
    import neo_mef3
    from neo_mef3.tools.plot import block_envelope

    with neo_mef3.Reader(oracle_sessions("segments", "mef_tools")) as r:
        t0 = r.info("seg")["start_time"]
        lo, hi = block_envelope(r, "seg", t0, 1_000_000, 15)
        x = r.read("seg", t0, t0 + 15_000_000).reshape(15, -1)
    with np.errstate(invalid="ignore"):
        full = np.isfinite(x).any(axis=1)
        assert (np.isnan(lo) == ~full).all()
        assert (np.nanmax(x[full], axis=1) <= hi[full] + 1e-9).all() and (np.nanmin(x[full], axis=1) >= lo[full] - 1e-9).all()


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from neo_mef3.cli import main; "
            "sys.exit(main(['plot', 'any.mefd', '--out', 'x.png']))")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "pip install 'neo_mef3[plot]'" in res.stderr and "Traceback" not in res.stderr
