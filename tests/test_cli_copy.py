"""``neo-mef3 cut``, ``merge``, ``encrypt``/``decrypt``/``passwords``: exactly the source's
samples at the source's times, as pymef and mef3io read them."""

import os

import numpy as np
import pytest
from support.compare import records_summary, same_samples
from support.read_oracles import read_mef3io, read_pymef
from support.scenarios import SCENARIOS

pytestmark = pytest.mark.timeout(300)

T0 = 1_600_000_000_000_000


def _read_window(path, password, channel, t0, t1):
    """(mef3io read_raw samples with NaN in gaps, pymef read) of [t0, t1)."""
    import warnings

    import mef3io
    from pymef.mef_session import MefSession

    with warnings.catch_warnings():  # (pymef warns about windows reaching past the channel)
        warnings.simplefilter("ignore")
        r = mef3io.Reader(str(path), password=password or "")
        try:
            raw = r.read_raw(channel, t0, t1)
        finally:
            r.close()
        s = MefSession(str(path), password or None)
        try:
            pm = np.asarray(s.read_ts_channels_uutc(channel, [t0, t1]), dtype=np.float64)
        finally:
            s.close()
    return np.where(raw["valid"] > 0, raw["samples"], np.nan), pm


def _same_window(a, b, password, channel, t0, t1):
    a3, ap = _read_window(a, password, channel, t0, t1)
    b3, bp = _read_window(b, password, channel, t0, t1)
    assert np.isfinite(a3).any()
    assert same_samples(a3, b3), channel
    assert same_samples(ap, bp), channel


@pytest.mark.parametrize("writer", ["mef_tools", "mef3io"])
def test_cut_gives_the_samples_of_the_window(oracle_sessions, oracles_installed, run_cli, tmp_path, writer):
    """'segments': 3 segments of 'seg' with a gap inside one and gaps between them."""
    src = oracle_sessions("segments", writer)
    t0, t1 = T0 + 2_000_000, T0 + 11_000_000  # across segment 0's end, the 6 s gap, segment 1 and its NaN gap
    res = run_cli("cut", src, "win.mefd", "--start", "2020-09-13T12:26:42", "--end", "11s")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "win.mefd"
    for ch in ("seg", "ref"):
        _same_window(src, out, "", ch, t0, t1)
        # read 3 s (1500 samples at 500 Hz) wider: the source's samples inside, nothing outside
        wide3, wide_pymef = _read_window(src, "", ch, t0 - 3_000_000, t1 + 3_000_000)
        got3, got_pymef = _read_window(out, "", ch, t0 - 3_000_000, t1 + 3_000_000)
        for expected in (wide3, wide_pymef):
            expected[:1500] = expected[-1500:] = np.nan
        assert same_samples(got3, wide3) and same_samples(got_pymef, wide_pymef)
    info = read_mef3io(str(out), "")["channels"]
    assert info["seg"]["info"]["start_time"] == t0 and info["ref"]["info"]["end_time"] == t1
    assert len(read_pymef(str(out))["channels"]["seg"]["segments"]) == 2  # the source's two segments


def test_cut_channels_and_records_of_an_encrypted_session(oracle_sessions, oracles_installed, run_cli, tmp_path):
    src = oracle_sessions("encrypted", "mef_tools")
    res = run_cli("cut", src, "part.mefd", "--start", str(T0 + 1_500_000), "--duration", "3s", "--channels", "e512",
                  "--password-env", "PW", env={"PW": "pass2"})
    assert res.returncode == 0, res.stderr
    out = tmp_path / "part.mefd"
    _same_window(src, out, "pass2", "e512", T0 + 1_500_000, T0 + 4_500_000)
    back = read_mef3io(str(out), "pass2")
    assert list(back["channels"]) == ["e512"]
    assert [(r["type"], r["time"]) for r in back["records_all"]] == [("EDFA", T0 + 2_000_000)]
    with pytest.raises(Exception):  # still encrypted with the source's passwords
        read_mef3io(str(out), "wrong")


def test_cut_refuses_an_empty_window(oracle_sessions, run_cli, tmp_path):
    src = oracle_sessions("segments", "mef3io")
    res = run_cli("cut", src, "none.mefd", "--start", "100s", "--duration", "1s")
    assert res.returncode == 2 and "no sample" in res.stderr
    assert os.listdir(tmp_path) == []


def test_merge_puts_cut_pieces_and_channels_back_together(oracle_sessions, oracles_installed, run_cli, tmp_path):
    from neo_mef3.tools.cut import cut_session

    src = oracle_sessions("segments", "mef3io")
    for name, a, b, ch in (("a", 0, 7, "seg"), ("b", 7, 20, "seg"), ("r", 0, 20, "ref")):
        cut_session(src, tmp_path / f"{name}.mefd", T0 + a * 1_000_000, T0 + b * 1_000_000, channels=[ch])
    res = run_cli("merge", "b.mefd", "r.mefd", "a.mefd", "all.mefd")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "all.mefd"
    for ch in ("seg", "ref"):
        _same_window(src, out, "", ch, T0 - 1_000_000, T0 + 16_000_000)
    segs = read_pymef(str(out))["channels"]["seg"]["segments"]
    assert len(segs) == 4  # a: segment 0 and the start of segment 1; b: the rest of 1, and 2


def test_merge_refuses_overlaps_and_different_rates(oracle_sessions, run_cli, tmp_path):
    from neo_mef3.tools.cut import cut_session

    src = oracle_sessions("segments", "mef3io")
    cut_session(src, tmp_path / "a.mefd", T0, T0 + 5_000_000)
    res = run_cli("merge", src, "a.mefd", "m.mefd")
    assert res.returncode == 2 and "overlaps" in res.stderr and "a.mefd" in res.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.mefd"]
    import neo_mef3

    with neo_mef3.Writer(tmp_path / "later.mefd") as w:  # 'seg' again, later, at another rate
        w.write("seg", np.zeros(1000), T0 + 60_000_000, 1000.0)
    res = run_cli("merge", "a.mefd", "later.mefd", "m.mefd")
    assert res.returncode == 2 and "sampled at 500.0 Hz" in res.stderr and "1000.0 Hz" in res.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.mefd", "later.mefd"]


@pytest.mark.parametrize("scenario,writer", [("records", "mef3io"), ("encrypted", "mef_tools")])
def test_encrypt_passwords_decrypt_keep_everything(oracle_sessions, oracles_installed, run_cli, tmp_path, scenario, writer):
    src = oracle_sessions(scenario, writer)
    old = SCENARIOS[scenario].read_password or ""
    env = {"OLD": old, "N1": "level-one", "N2": "level-two", "M1": "other-one", "M2": "other-two"}
    steps = [("encrypt" if not old else "passwords", src, "k1.mefd", "N1", "N2", "OLD", "level-two"),
             ("passwords", "k1.mefd", "k2.mefd", "M1", "M2", "N2", "other-two")]
    reference_pymef = read_pymef(src, old or None)
    reference_m3 = read_mef3io(src, old)
    for command, a, b, p1, p2, current, new in steps:
        res = run_cli(command, a, b, "--password-env", current, "--new-password1-env", p1, "--new-password2-env", p2,
                      env=env)
        assert res.returncode == 0, res.stderr
        back = read_pymef(str(tmp_path / b), new)
        assert not back["errors"], back["errors"]
        for ch, c in reference_pymef["channels"].items():
            assert same_samples(c["data"], back["channels"][ch]["data"])
            assert c["start_time"] == back["channels"][ch]["start_time"]
        m3 = read_mef3io(str(tmp_path / b), new)
        assert records_summary(m3["records_all"]) == records_summary(reference_m3["records_all"])
        for ch, c in reference_m3["channels"].items():  # every metadata field mef3io reports (sections 2 and 3)
            assert {k: v for k, v in m3["channels"][ch]["info"].items() if k != "session_name"} == \
                {k: v for k, v in c["info"].items() if k != "session_name"}
        with pytest.raises(Exception):
            read_mef3io(str(tmp_path / b), env[current] or "not-the-password")
        level1 = read_mef3io(str(tmp_path / b), env[p1], data=False)  # signal yes, records no
        assert level1["records"] is None and level1["channels"]
    for root, _dirs, files in os.walk(tmp_path / "k2.mefd"):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert b"Note at session level" not in fh.read() and b"session note" not in fh.read()
    res = run_cli("decrypt", "k2.mefd", "open.mefd", "--password-env", "M2", env=env)
    assert res.returncode == 0, res.stderr
    plain = read_pymef(str(tmp_path / "open.mefd"), None)
    for ch, c in reference_pymef["channels"].items():
        assert same_samples(c["data"], plain["channels"][ch]["data"])
    assert records_summary(read_mef3io(str(tmp_path / "open.mefd"), "")["records_all"]) == \
        records_summary(reference_m3["records_all"])


def test_rekey_needs_the_level_2_password(oracle_sessions, run_cli, tmp_path):
    src = oracle_sessions("encrypted", "mef3io")
    res = run_cli("decrypt", src, "open.mefd", "--password", "pass1")
    assert res.returncode == 2 and "level-2" in res.stderr and "pass1" not in res.stderr
    res = run_cli("decrypt", src, "open.mefd")  # no terminal to ask on: a clear error, no hang
    assert res.returncode == 2 and "password" in res.stderr
    assert os.listdir(tmp_path) == []
