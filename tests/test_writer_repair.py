"""A Writer heals what an interrupted append left (at open), ``neo-mef3 repair`` does the
same from the command line, and segment folders in another writer's spelling never get
a duplicate number."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import neo_mef3
import neo_mef3.fileio as fileio_mod
from neo_mef3 import Writer
from neo_mef3.check import check_session
from neo_mef3.errors import MefError, WriteConflictError
from neo_mef3.writer.lock import SessionLock
from neo_mef3.writer.repair import repair_session

from support.read_oracles import read_mef3io, read_pymef
from support.session_checks import tree_digest

T0 = 1_600_000_000_000_000
FS = 100.0
X = np.round(np.linspace(-50, 50, 1000), 2)


def _killed_mid_append(path, step):
    """A session with channels c and d, then an append to c by a process that dies
    (SIGKILL, no handler runs) right after the append's `step`-th flush."""
    with Writer(path, overwrite=True, block_length=250) as w:
        w.write("c", X, T0, FS)
        w.write("d", X, T0, FS)
        w.write_annotations([{"time": T0 + 5, "text": "start"}])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            real, calls = fileio_mod.fsync, [0]

            def dying(fd, durable=True):
                real(fd, durable)
                calls[0] += 1
                if calls[0] == step:
                    os.kill(os.getpid(), signal.SIGKILL)

            fileio_mod.fsync = dying
            with Writer(path, block_length=250) as w:
                w.write("c", X, T0 + 10_000_000, FS)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _cli(tmp_path, *args):
    p = subprocess.run([sys.executable, "-m", "neo_mef3.cli", *args], capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=120)
    return p.returncode, p.stdout + p.stderr


def _assert_clean_everywhere(path, n_c):
    report = check_session(path)
    assert report.exit_code == 0, report.text()
    pm = read_pymef(path)
    assert not pm["errors"], pm["errors"]
    np.testing.assert_array_equal(pm["channels"]["c"]["samples"], np.round(np.tile(X, 2)[:n_c] * 100))
    np.testing.assert_array_equal(pm["channels"]["d"]["samples"], np.round(X * 100))
    import mef3io

    v = mef3io.Validator(str(path)).validate()
    assert not v.errors and not v.warnings, str(v)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_neo_mef3_repair_after_a_writer_killed_mid_append(tmp_path, step):
    path = str(tmp_path / "k.mefd")
    _killed_mid_append(path, step)
    with neo_mef3.Reader(path) as r:  # the append got as far as its index entries
        n_c = r.info("c")["number_of_samples"] if step < 2 else len(r.read_raw("c", T0, T0 + 20_000_000)["samples"])
    code, out = _cli(tmp_path, "check", path)
    assert code == 1, out
    before = tree_digest(path)
    code, out = _cli(tmp_path, "repair", "--dry-run", path)
    assert tree_digest(path) == before  # a dry run changes nothing
    assert code == 1 and "would repair" in out, out
    code, out = _cli(tmp_path, "repair", path)
    assert code == 0, out
    assert "repaired" in out and "after     0 problem(s)" in out, out
    with neo_mef3.Reader(path) as r:
        stored = r.info("c")["number_of_samples"]
    assert stored == (1000 if step == 1 else 2000)  # blocks indexed before the kill are kept
    assert stored >= n_c
    _assert_clean_everywhere(path, stored)
    code, out = _cli(tmp_path, "repair", "--json", path)
    assert code == 0 and json.loads(out)["repair"]["actions"] == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("step", [1, 3])
def test_a_writer_repairs_at_open_and_says_so(tmp_path, step):
    path = str(tmp_path / "k.mefd")
    _killed_mid_append(path, step)
    assert check_session(path).exit_code == 1
    with Writer(path) as w:
        summary = w.summary
    assert len(summary["repairs"]) == 1 and "c-000000.segd" in summary["repairs"][0]["path"]
    assert ("bytes after the last indexed block" in summary["repairs"][0]["action"]) == (step == 1)
    assert check_session(path).exit_code == 0  # nothing written: the open alone repaired it
    with Writer(path) as w:
        assert w.summary["repairs"] == []


def test_no_repair_while_another_writer_has_the_session_open(tmp_path):
    path = str(tmp_path / "k.mefd")
    _killed_mid_append(path, 2)
    holder = SessionLock(os.path.abspath(path))
    holder.share()  # another Writer (its append may be in progress)
    try:
        with Writer(path) as w:
            assert w.summary["repairs"] == [] and "another Writer" in w.summary["repair_skipped"]
        with pytest.raises(MefError, match="has the session open"):
            repair_session(path)
        assert check_session(path).exit_code == 1
        assert repair_session(path, dry_run=True).actions  # a dry run only reads
    finally:
        holder.release()
    assert repair_session(path).actions and check_session(path).exit_code == 0


def test_repair_help_has_an_example(tmp_path):
    code, out = _cli(tmp_path, "repair", "--help")
    assert code == 0 and "--dry-run" in out and "example" in out and "neo-mef3 repair" in out


def _respell(path, channel, number, files_too=True):
    """Rename a segment folder (and its files) to the unpadded spelling ``ch-0.segd``."""
    d = os.path.join(path, f"{channel}.timd")
    old, new = f"{channel}-{number:06d}", f"{channel}-{number}"
    os.rename(os.path.join(d, old + ".segd"), os.path.join(d, new + ".segd"))
    if files_too:
        for f in os.listdir(os.path.join(d, new + ".segd")):
            os.rename(os.path.join(d, new + ".segd", f), os.path.join(d, new + ".segd", f.replace(old, new)))


@pytest.mark.parametrize("files_too", [True, False])
def test_folders_in_another_spelling_never_get_a_duplicate_number(tmp_path, files_too):
    """Issue 12: next to ``ch1-0.segd`` an append created ``ch1-000000.segd``, read as a
    second segment 0 by mef3io and pymef."""
    path = str(tmp_path / "sp.mefd")
    with Writer(path, overwrite=True) as w:
        w.write("ch1", X, T0, FS)
        w.write("ch1", X, T0 + 20_000_000, FS, new_segment=True)
    _respell(path, "ch1", 0, files_too)
    _respell(path, "ch1", 1, files_too)
    with Writer(path) as w:
        res = w.write("ch1", X, T0 + 40_000_000, FS)
    assert res["segment"] == 2 and res["segment_created"] and "spelling" in res["reason"]
    assert sorted(os.listdir(os.path.join(path, "ch1.timd"))) == ["ch1-0.segd", "ch1-000002.segd", "ch1-1.segd"]
    if files_too:  # (the oracles find a folder's files by the folder's own name)
        pm = read_pymef(path)
        assert not pm["errors"]
        segs = sorted(pm["channels"]["ch1"]["segments"], key=lambda s: s["start_time"])
        assert [(s["name"], s["start_sample"]) for s in segs] == [("ch1-0", 0), ("ch1-1", 1000),
                                                                   ("ch1-000002", 2000)]
        # (pymef's reads by time or sample stop at the first folder spelled ch1-0; mef3io reads all)
        m3 = read_mef3io(path)["channels"]["ch1"]["read"]
        np.testing.assert_allclose(m3[~np.isnan(m3)], np.tile(X, 3), rtol=1e-15)


def test_two_folders_for_one_segment_number_are_refused(tmp_path):
    path = str(tmp_path / "dup.mefd")
    with Writer(path, overwrite=True) as w:
        w.write("ch1", X, T0, FS)
    d = os.path.join(path, "ch1.timd")
    import shutil

    shutil.copytree(os.path.join(d, "ch1-000000.segd"), os.path.join(d, "ch1-0.segd"))
    before = tree_digest(path)
    with Writer(path) as w:
        with pytest.raises(WriteConflictError, match="2 folders for segment 0"):
            w.write("ch1", X, T0 + 20_000_000, FS)
    assert tree_digest(path) == before


@pytest.mark.parametrize("writer", ["mef_tools", "mef3io"])
def test_sessions_of_other_writers_need_no_repair(oracle_sessions, tmp_path, writer):
    """Healthy sessions of meflib-based writers and of mef3io: nothing to repair, and a
    Writer opening them changes no byte."""
    import shutil

    example = os.path.join(os.path.dirname(neo_mef3.__file__), "data", "example.mefd")  # meflib's
    sources = [(oracle_sessions(s, writer), oracle_sessions.scenario(s).read_password or "")
               for s in ("segments", "appends", "records_encrypted", "nan_gaps")] + [(example, "")]
    for k, (src, password) in enumerate(sources):
        path = str(tmp_path / f"s{k}.mefd")
        shutil.copytree(src, path)
        before = tree_digest(path)
        report = repair_session(path, password=password, dry_run=True)
        assert report.actions == [] and report.unrepaired == [], (src, report.text())
        with Writer(path, password2=password) as w:
            assert w.summary["repairs"] == []
        assert tree_digest(path) == before, src
