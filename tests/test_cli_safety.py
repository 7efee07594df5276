"""Long commands: no half output under the final name when killed, terminated or
cancelled; the input untouched; progress reported, and no bar when piped."""

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from neo_mef3.errors import CancelledError
from neo_mef3.progress import Tracker

pytestmark = pytest.mark.timeout(300)

T0 = 1_600_000_000_000_000


@pytest.fixture(scope="module")
def big_session(tmp_path_factory):
    """4 channels of 1.5 M noise samples (~19 MB): long enough to interrupt."""
    import neo_mef3

    path = tmp_path_factory.mktemp("big") / "big.mefd"
    rng = np.random.default_rng(7)
    with neo_mef3.Writer(path, durable=False) as w:
        for ch in "ABCD":
            w.write_int32(ch, rng.integers(-30000, 30000, 1_500_000).astype(np.int32), 0.1, T0, 1000.0)
    return str(path)


def _digest(path):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                h.update(f.encode() + fh.read())
    return h.hexdigest()


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "neo_mef3.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_partial_data(cwd, proc, timeout=30):
    """Until the command has written a data file under its temporary name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for root, _dirs, files in os.walk(cwd):
            if ".neo_mef3-partial-" in root and any(f.endswith(".tdat") for f in files):
                return
        assert proc.poll() is None, "the command ended before it could be interrupted"
        time.sleep(0.005)
    raise AssertionError("no partial output appeared")


@pytest.mark.parametrize("command", [["anonymize"], ["cut", "--start", "0", "--end", "1400s"]])
def test_a_killed_command_leaves_nothing_under_the_final_name(big_session, tmp_path, command):
    before = _digest(big_session)
    args = [command[0], big_session, "out.mefd", *command[1:], "-q"]
    proc = _start(args, tmp_path)
    try:
        _wait_for_partial_data(tmp_path, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert not (tmp_path / "out.mefd").exists()
    assert [e for e in os.listdir(tmp_path) if not e.startswith(".out.mefd.neo_mef3-partial-")] == []
    assert _digest(big_session) == before
    # the next run completes and clears what the killed one left behind
    done = subprocess.run([sys.executable, "-m", "neo_mef3.cli", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp_path) == ["out.mefd"]


def test_sigterm_removes_the_partial_output(big_session, tmp_path):
    proc = _start(["merge", big_session, str(tmp_path / "none.mefd"), "out.mefd", "-q"], tmp_path)
    proc.communicate(timeout=60)  # (merge refuses: none.mefd does not exist)
    assert proc.returncode == 2
    proc = _start(["cut", big_session, "out.mefd", "--start", "0", "--end", "1400s"], tmp_path)
    try:
        _wait_for_partial_data(tmp_path, proc)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err
    assert os.listdir(tmp_path) == []


def test_cancel_and_progress_of_a_library_call(big_session, tmp_path):
    from neo_mef3.tools.cut import cut_session

    seen = []
    stop = threading.Event()

    def report(done, total):
        seen.append((done, total))
        if done > total // 3:
            stop.set()

    with pytest.raises(CancelledError):
        cut_session(big_session, tmp_path / "c.mefd", T0, T0 + 1_400_000_000, progress=report, cancel=stop)
    assert os.listdir(tmp_path) == []
    assert seen and seen[-1][0] < seen[-1][1]
    seen.clear()
    result = cut_session(big_session, tmp_path / "c.mefd", T0, T0 + 100_000_000, progress=lambda d, t: seen.append((d, t)))
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (result["samples"], result["samples"]) == (400_000, 400_000)


def test_tracker_accepts_a_callable_or_an_event_and_nothing_else():
    calls = []
    with Tracker(10, "x", progress=lambda d, t: calls.append((d, t)), cancel=lambda: len(calls) >= 3) as t:
        t.advance(4)
        t.advance(4)
        with pytest.raises(CancelledError):
            t.advance(1)
    assert calls == [(4, 10), (8, 10), (9, 10)]
    with pytest.raises(TypeError):
        Tracker(progress="yes")
    with pytest.raises(TypeError):
        Tracker(cancel=3)


def test_no_progress_bar_when_piped_and_quiet_means_silent(big_session, tmp_path, run_cli):
    res = run_cli("anonymize", big_session, "a.mefd")
    assert res.returncode == 0 and "%|" not in res.stderr and "it/s" not in res.stderr
    res = run_cli("cut", big_session, "b.mefd", "--start", "0", "--end", "10s", "--quiet")
    assert res.returncode == 0 and res.stderr == "" and "wrote" in res.stdout


def _on_a_terminal(args, cwd, answer=None, timeout=120):
    """Run the command with a pseudo-terminal as its controlling terminal (stdin and
    stderr); type ``answer`` when it asks. Returns (exit code, stdout, terminal text)."""
    import fcntl
    import pty
    import select
    import termios

    master, slave = pty.openpty()

    def own_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "neo_mef3.cli", *args], cwd=cwd, stdin=slave, stderr=slave,
                            stdout=subprocess.PIPE, start_new_session=True, preexec_fn=own_terminal)
    os.close(slave)
    seen, typed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the terminal closed with the process
                    break
                if not chunk:
                    break
                seen += chunk
            if answer is not None and not typed and b"password" in seen:
                os.write(master, answer.encode() + b"\n")
                typed = True
            if proc.poll() is not None and not ready:
                break
        out = proc.communicate(timeout=30)[0]
    finally:
        proc.kill()
        os.close(master)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_a_terminal_gets_a_progress_bar_and_a_password_prompt(big_session, tmp_path):
    code, out, terminal = _on_a_terminal(["anonymize", big_session, "a.mefd"], tmp_path)
    assert code == 0 and "wrote" in out
    assert "%|" in terminal  # tqdm's bar
    encrypted = os.path.join(os.path.dirname(__file__), "data", "encrypted.mefd")
    code, out, terminal = _on_a_terminal(["info", encrypted], tmp_path, answer="pass2")
    assert "password for encrypted.mefd" in terminal and "pass2" not in out
    assert code == 0 and "locked" not in out and "records 3" in out
