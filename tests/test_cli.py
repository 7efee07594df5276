"""The neo-mef3 command line."""

import os

import pytest

from neo_mef3 import cli


def test_demo_writes_reads_back_and_reads_the_shipped_session(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("identical to what was written: True") == 3
    assert "LA2 disconnected" in out
    assert "Hippo1" in out and "1024.000 Hz" in out  # the shipped, meflib-written session
    assert "recording start, patient awake" in out


@pytest.mark.parametrize("password", ["Zq9xK", ""])
def test_info_refuses_a_wrong_password_cleanly(capsys, password):
    path = os.path.join(os.path.dirname(__file__), "data", "encrypted.mefd")
    assert cli.main(["info", path, "--password", password]) == 2
    err = capsys.readouterr().err
    assert "password" in err and (not password or password not in err)
