"""``neo-mef3 check``: healthy sessions from every writer are consistent (exit 0); an
interrupted write, damage or a mixed-up file is reported (exit 1); input that cannot be
checked gives exit 2."""

import json
import os
import shutil
import struct

import numpy as np
import pytest

import neo_mef3
import neo_mef3.fileio as fileio_mod
from neo_mef3 import cli
from neo_mef3.check import check_session
from support.damage import fix_crcs
from support.paths import DATA_DIR as DATA
from support.paths import EXAMPLE_SESSION as EXAMPLE

T0 = 1_600_000_000_000_000


class _Crash(Exception):
    pass


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


def _session(path, rng, n=1000):
    with neo_mef3.Writer(path, overwrite=True, block_length=300) as w:
        w.write("c", np.round(rng.normal(0, 10, n), 2), T0, 100.0)
        w.write("d", np.round(rng.normal(0, 10, n), 2), T0, 100.0)
        w.write_annotations([{"time": T0, "text": "start"}])


def _interrupted(path, rng, steps_done):
    """A session whose append to channel c died after `steps_done` flushed steps."""
    _session(path, rng)
    calls = {"n": 0}
    real = fileio_mod.fsync

    def crashing(fd, durable):
        real(fd, durable)
        calls["n"] += 1
        if calls["n"] == steps_done:
            raise _Crash

    fileio_mod.fsync = crashing
    try:
        with pytest.raises(_Crash):
            neo_mef3.Writer(path).write("c", np.round(rng.normal(0, 10, 1000), 2), T0 + 10_000_000, 100.0)
    finally:
        fileio_mod.fsync = real


@pytest.mark.parametrize(
    "path, password",
    [
        (os.path.join(DATA, "plain.mefd"), ""),
        (os.path.join(DATA, "plain_mef3io.mefd"), ""),
        (os.path.join(DATA, "encrypted.mefd"), "pass2"),
        (os.path.join(DATA, "encrypted.mefd"), "pass1"),
        (os.path.join(DATA, "encrypted_mef3io.mefd"), "pass2"),
        (EXAMPLE, ""),
    ],
)
def test_healthy_committed_sessions(path, password):
    report = check_session(path, password)
    assert report.exit_code == 0, report.text()
    assert all(s["verdict"] == "consistent" for ch in report.channels for s in ch["segments"])


@pytest.mark.parametrize("scenario", ["segments", "appends", "records_encrypted", "nan_gaps"])
@pytest.mark.parametrize("writer", ["mef_tools", "mef3io"])
def test_healthy_oracle_sessions(oracle_sessions, scenario, writer):
    password = oracle_sessions.scenario(scenario).read_password or ""
    report = check_session(oracle_sessions(scenario, writer), password)
    assert report.exit_code == 0, report.text()


def test_healthy_writer_session(tmp_path, rng, capsys):
    path = str(tmp_path / "ok.mefd")
    _session(path, rng)
    assert cli.main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "result    consistent" in out and "records   session: 1" in out
    assert cli.main(["check", "--json", path]) == 0
    d = json.loads(capsys.readouterr().out)
    seg = d["channels"][0]["segments"][0]
    assert seg["declared"]["samples"] == seg["found"]["samples"] == 1000
    assert seg["found"]["uncommitted_entries"] == 0 and seg["found"]["tail_bytes"] == 0


@pytest.mark.parametrize(
    "steps_done, expect",
    [
        (1, "bytes after the last indexed block"),  # blocks written, no index entry yet
        (2, "index entries past the 4 the header declares"),  # entries written, header not
        (3, "metadata declares 4 blocks, the index holds 8"),  # index header written
        (4, "metadata declares 4 blocks, the index holds 8"),  # data header written
    ],
)
def test_interrupted_append_is_reported_then_recovered(tmp_path, rng, capsys, steps_done, expect):
    path = str(tmp_path / "crash.mefd")
    _interrupted(path, rng, steps_done)
    assert cli.main(["check", path]) == 1
    out = capsys.readouterr().out
    assert expect in out and "PROBLEM" in out and "c-000000" in out
    report = check_session(path)
    d_seg = report.channels[1]["segments"][0]
    assert d_seg["verdict"] == "consistent"  # the untouched channel
    c_found = report.channels[0]["segments"][0]["found"]
    assert c_found["bad_blocks"] == 0
    # a Writer appending again completes the segment: consistent afterwards
    with neo_mef3.Reader(path) as r:
        end = r.toc("c")[-1]["start_uutc"] + int(r.toc("c")[-1]["number_of_samples"] * 1e4)
    with neo_mef3.Writer(path) as w:
        w.write("c", np.round(rng.normal(0, 10, 500), 2), end, 100.0)
    report = check_session(path)
    assert report.exit_code == 0, report.text()


def test_damage_is_reported(tmp_path):
    path = str(tmp_path / "plain.mefd")
    shutil.copytree(os.path.join(DATA, "plain.mefd"), path)
    tdat = os.path.join(path, "B.timd", "B-000001.segd", "B-000001.tdat")
    with open(tdat, "r+b") as f:
        f.seek(1024 + 500)
        f.write(b"\x00\x01")
    report = check_session(path)
    assert report.exit_code == 1
    assert any("blocks cannot be used (1 CRC_MISMATCH)" in m for _, m in report.problems)
    assert report.channels[0]["verdict"] == "consistent"


def test_mixed_up_files_and_gaps_are_reported(tmp_path):
    path = str(tmp_path / "plain.mefd")
    shutil.copytree(os.path.join(DATA, "plain.mefd"), path)
    seg0 = os.path.join(path, "B.timd", "B-000000.segd")
    shutil.copyfile(os.path.join(path, "A.timd", "A-000000.segd", "A-000000.tidx"),
                    os.path.join(seg0, "B-000000.tidx"))
    new = os.path.join(path, "B.timd", "B-000002.segd")
    os.rename(os.path.join(path, "B.timd", "B-000001.segd"), new)
    for f in os.listdir(new):
        os.rename(os.path.join(new, f), os.path.join(new, f.replace("B-000001", "B-000002")))
    os.mkdir(os.path.join(path, ".X.timd.neo_mef3-tmp"))
    report = check_session(path)
    text = report.text()
    assert report.exit_code == 1
    assert "files of different segments are mixed" in text
    assert "segment numbering has gaps: no segment 1" in text
    assert "temporary directory of an interrupted write" in text


def test_torn_index_entry_and_junk(tmp_path, rng):
    path = str(tmp_path / "t.mefd")
    _session(path, rng)
    tidx = os.path.join(path, "c.timd", "c-000000.segd", "c-000000.tidx")
    with open(tidx, "ab") as f:
        f.write(b"\x01" * 20)
    report = check_session(path)
    assert report.exit_code == 1
    assert any("20 bytes of a torn index entry" in m for _, m in report.problems)


def test_unusable_input(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path / "absent.mefd")]) == 2
    assert "UNUSABLE" in capsys.readouterr().out
    enc = os.path.join(DATA, "encrypted.mefd")
    assert cli.main(["check", enc]) == 2
    assert cli.main(["check", enc, "--password", "wrong"]) == 2
    out = capsys.readouterr().out
    assert "wrong" not in out.replace("is wrong", "")  # the password itself is never echoed


def test_level_1_password_checks_signals_not_records():
    report = check_session(os.path.join(DATA, "encrypted.mefd"), "pass1")
    assert report.exit_code == 0
    assert report.records.get("session") == "locked"


def test_absurd_index_claims_do_not_allocate(tmp_path, rng):
    path = str(tmp_path / "a.mefd")
    _session(path, rng)
    tidx = os.path.join(path, "c.timd", "c-000000.segd", "c-000000.tidx")
    with open(tidx, "r+b") as f:
        f.seek(1024 + 24)
        f.write(struct.pack("<I", 2**32 - 1))
    report = check_session(path)  # the index CRC fails: reported, nothing decoded
    assert report.exit_code == 1
    fix_crcs(tidx)
    report = check_session(path)
    assert report.exit_code == 1
    assert any("claim more than" in m or "cannot be used" in m for _, m in report.problems)


def test_check_progress_and_cancel_inside_a_long_segment(tmp_path, monkeypatch):
    """``progress=`` counts segments; ``cancel=`` is asked between block batches too, so a
    check of one long segment stops when told (CancelledError)."""
    import neo_mef3.check.blocks as check_mod  # (where the block batches are cut)
    from neo_mef3.check import check_session
    from neo_mef3.errors import CancelledError
    from neo_mef3.writer import Writer

    path = str(tmp_path / "long.mefd")
    with Writer(path) as w:
        w.write_int32("a", np.arange(20_000, dtype=np.int32), 1.0, 1_600_000_000_000_000, 100.0)
    calls = []
    assert check_session(path, progress=lambda done, total: calls.append((done, total))).problems == []
    assert calls[-1] == (1, 1)
    monkeypatch.setattr(check_mod, "_BATCH_SAMPLES", 2000)  # ten batches in the one segment
    asked = []

    def cancel():
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(CancelledError):
        check_session(path, cancel=cancel)
    assert len(asked) == 4  # the 4th question came from inside the segment's blocks
