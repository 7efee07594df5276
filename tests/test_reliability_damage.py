"""Damaged sessions from every writer, read in worker processes (crashes and hangs count).

Extends ``test_damaged.py`` (committed fixtures, in-process) to sessions written by
mef_tools, mef3io, meflib (the packaged example) and our Writer, to random and
CRC-consistent ("crafted") damage, to ``on_error="skip"`` and to the rule that damage
to one channel leaves the others readable. The engine is ``support.isolated``: each
case runs in a child process with an address-space limit, so a segfault, a hang or a
huge allocation is counted against the case instead of taking pytest down. A failure
is any outcome ``support.outcomes`` lists as one: silently wrong data, an exception
other than MefError, a MefError naming no file, an undamaged channel that stops
reading, a crash or a hang.

Explicit cases for the damage kinds the random engine does not produce (non-UTF-8
names, gaps in segment numbering, stray files, absurd header counts) follow.
"""

import json
import os
import random
import shutil
import sys

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import FormatError, MefError, MefWarning
from support.build_ours import build_writer_session
from support.damage import fix_crcs, generate_cases
from support.isolated import failures, run_isolated, tally
from support.paths import DATA_DIR as DATA
from support.paths import EXAMPLE_SESSION as EXAMPLE


def _run(sessions, seed, n_random, crafted, systematic=False, workers=2):
    rng = random.Random(seed)
    cases = []
    for s in sessions:
        cases += generate_cases(
            s["path"], s["key"], rng, n_random=n_random, crafted=crafted, systematic=systematic,
            encrypted=bool(s.get("password")),
        )
    results = run_isolated({"sessions": sessions, "cases": cases}, timeout=60, workers=workers)
    bad = failures(results, cases)
    assert not bad, "damage outcomes that must never happen:\n" + "\n".join(json.dumps(b)[:800] for b in bad[:10])
    return cases, results


def _check_tallies(cases, results):
    raise_tally = tally(results, cases, "raise")
    skip_tally = tally(results, cases, "skip")
    assert raise_tally.get("error:CrcError", 0) > 0 and raise_tally.get("error:FormatError", 0) > 0
    assert skip_tally.get("partial", 0) > 0
    return raise_tally, skip_tally


def test_committed_fixtures_every_kind_of_damage():
    """mef_tools (plain, encrypted), mef3io (plain, encrypted) and meflib (example)."""
    sessions = [
        {"key": "plain", "path": os.path.join(DATA, "plain.mefd")},
        {"key": "plain_mef3io", "path": os.path.join(DATA, "plain_mef3io.mefd")},
        {"key": "encrypted", "path": os.path.join(DATA, "encrypted.mefd"), "password": "pass2"},
        {"key": "encrypted_mef3io", "path": os.path.join(DATA, "encrypted_mef3io.mefd"), "password": "pass2"},
        {"key": "example", "path": EXAMPLE},
    ]
    cases, results = _run(sessions, seed=11, n_random=60, crafted=40)
    _check_tallies(cases, results)


def test_oracle_writer_sessions(oracle_sessions):
    """Sessions built by mef_tools and mef3io: segments, appends, records of every type."""
    sessions = []
    for writer in ("mef_tools", "mef3io"):
        for name in ("segments", "appends", "records_encrypted"):
            sessions.append({
                "key": f"{writer}-{name}", "path": oracle_sessions(name, writer),
                "password": "pass2" if "encrypted" in name else "",
            })
    cases, results = _run(sessions, seed=12, n_random=45, crafted=25)
    _check_tallies(cases, results)


def test_our_writer_sessions(tmp_path):
    sessions = [
        {"key": "writer", "path": build_writer_session(str(tmp_path / "writer.mefd"))},
        {"key": "writer_enc", "path": build_writer_session(str(tmp_path / "enc.mefd"), "pw1", "pw2"),
         "password": "pw2"},
    ]
    cases, results = _run(sessions, seed=13, n_random=60, crafted=40, systematic=True)
    _check_tallies(cases, results)


def test_a_crash_and_a_hang_are_counted_not_fatal(tmp_path):
    """The isolation itself: a worker that dies by a signal or stops answering."""
    worker = tmp_path / "bad_worker.py"
    worker.write_text(
        "import json, os, signal, sys, time\n"
        "job = json.load(open(sys.argv[2])); start = int(sys.argv[3])\n"
        "print(json.dumps({'ready': True}), flush=True)\n"
        "for i in range(start, len(job['cases'])):\n"
        "    op = job['cases'][i]['op']\n"
        "    if op == 'crash': os.kill(os.getpid(), signal.SIGSEGV)\n"
        "    if op == 'hang': time.sleep(60)\n"
        "    print(json.dumps({'i': i, 'raise': 'same', 'skip': 'full'}), flush=True)\n"
    )
    cases = [{"op": "ok"}, {"op": "crash"}, {"op": "ok"}, {"op": "hang"}, {"op": "ok"}]
    results = run_isolated({"sessions": [], "cases": cases}, timeout=2, worker=str(worker))
    assert [r["raise"].split(":")[0] for r in results] == ["same", "crash", "same", "hang", "same"]
    assert len(failures(results, cases)) == 2


# --- explicit cases --------------------------------------------------------------------


def _copy(tmp_path, src=os.path.join(DATA, "plain.mefd")):
    work = tmp_path / os.path.basename(src)
    shutil.copytree(src, work)
    return str(work)


def _all_data(path):
    with neo_mef3.Reader(path) as r:
        return {ch: r.read_raw(ch) for ch in r.channels}


def test_non_utf8_names(tmp_path):
    if sys.platform == "darwin":  # pragma: no cover - APFS refuses such names
        pytest.skip("the file system refuses non-UTF-8 names")
    path = _copy(tmp_path)
    before = _all_data(path)
    raw = os.fsencode(path)
    # a stray channel directory, a stray file and a segment directory with undecodable names
    os.mkdir(raw + b"/bad\xff.timd")
    open(raw + b"/A.timd/A-000000.segd/A-000000.\xfe\xfftdat", "wb").close()
    os.mkdir(raw + b"/A.timd/A\xff-000001.segd")
    with neo_mef3.Reader(path) as r:
        names = r.channels
        assert "A" in names and "B" in names and len(names) == 3
        bad = next(n for n in names if n not in ("A", "B"))
        for ch in ("A", "B"):
            np.testing.assert_array_equal(r.read_raw(ch)["samples"], before[ch]["samples"])
        with pytest.raises(FormatError) as exc:
            r.read(bad)
        assert "no segments" in str(exc.value)
        repr(r)
        str(exc.value).encode("utf-8", "backslashreplace")
    with pytest.warns(MefWarning):
        with neo_mef3.Reader(path, on_error="skip") as r:
            assert r.channels == ["A", "B"]

    # a whole channel under a Latin-1 name (as some acquisition systems write them) reads,
    # and the command line prints it escaped instead of crashing on a UTF-8 terminal
    alias = os.path.join(tmp_path, "alias.mefd")
    shutil.copytree(os.path.join(DATA, "plain.mefd"), alias)
    src, dst = os.fsencode(alias) + b"/A.timd", os.fsencode(alias) + b"/Q\xe9.timd"
    os.rename(src, dst)
    for root, dirs, files in os.walk(dst, topdown=False):
        for n in dirs + files:
            if n.startswith(b"A-"):
                os.rename(os.path.join(root, n), os.path.join(root, b"Q\xe9" + n[1:]))
    with neo_mef3.Reader(alias) as r:
        name = os.fsdecode(b"Q\xe9")
        assert name in r.channels
        np.testing.assert_array_equal(r.read_raw(name)["samples"], before["A"]["samples"])
    import subprocess

    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for cmd in ("info", "check"):
        p = subprocess.run([sys.executable, "-m", "neo_mef3.cli", cmd, alias], capture_output=True, env=env, cwd=str(tmp_path))
        assert p.returncode == 0, p.stderr.decode()
        assert "Q\\udce9" in p.stdout.decode()


def test_gap_in_segment_numbering_and_stray_entries(tmp_path):
    path = _copy(tmp_path)
    before = _all_data(path)
    bdir = os.path.join(path, "B.timd")
    # move segment 1 to number 3: a gap in the numbering
    old = os.path.join(bdir, "B-000001.segd")
    new = os.path.join(bdir, "B-000003.segd")
    os.rename(old, new)
    for f in os.listdir(new):
        os.rename(os.path.join(new, f), os.path.join(new, f.replace("B-000001", "B-000003")))
    # stray files and directories everywhere
    for p in ("notes.txt", "B.timd/readme", "B.timd/B-000000.segd/B-000000.bak", "Z.timd.old"):
        with open(os.path.join(path, p), "w") as f:
            f.write("stray")
    os.mkdir(os.path.join(path, ".hidden.timd.neo_mef3-tmp"))
    os.mkdir(os.path.join(bdir, "B-12x.segd"))  # (B-12.segd would be segment 12: other writers spell it so)
    with open(os.path.join(path, "X.timd"), "w") as f:  # a file named like a channel
        f.write("not a directory")
    with neo_mef3.Reader(path) as r:
        assert r.channels == ["A", "B"]
        assert [s["segment"] for s in r.segments("B")] == [0, 3]
        for ch in ("A", "B"):
            got = r.read_raw(ch)
            np.testing.assert_array_equal(got["samples"], before[ch]["samples"])
            np.testing.assert_array_equal(got["valid"], before[ch]["valid"])


def test_empty_channel_directory(tmp_path):
    path = _copy(tmp_path)
    os.mkdir(os.path.join(path, "E.timd"))
    with neo_mef3.Reader(path) as r:
        assert r.channels == ["A", "B", "E"]
        with pytest.raises(FormatError, match="no segments"):
            r.info("E")
        assert np.isfinite(r.read("A")).any()


def _patch_header_field(path, offset, fmt, value):
    import struct

    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))
    fix_crcs(path)


@pytest.mark.parametrize(
    "ext, offset, fmt, value",
    [
        ("tidx", 32, "<q", 2**62),  # index header declares 2**62 entries
        ("tidx", 32, "<q", -5),  # negative entry count
        ("tidx", 1024 + 24, "<I", 2**32 - 1),  # one block claims 2**32 - 1 samples
        ("tidx", 1024 + 28, "<I", 2**32 - 1),  # ... or 4 GiB of bytes
        ("tidx", 1024 + 0, "<q", 2**63 - 1),  # file offset at the end of int64
        ("tmet", 2560 + 6160, "<d", float("inf")),  # sampling frequency
        ("tmet", 2560 + 6160, "<d", 1e-300),
        ("tmet", 13312, "<q", 2**63 - 1),  # recording time offset
        ("tmet", 2560 + 6368, "<q", 2**62),  # number_of_blocks
    ],
)
def test_absurd_values_behind_valid_crcs(tmp_path, ext, offset, fmt, value):
    """A crafted file (CRCs recomputed) holding absurd counts, sizes or times: a clear
    MefError, or data, but no crash, hang, huge allocation or other exception."""
    path = _copy(tmp_path)
    target = os.path.join(path, "A.timd", "A-000000.segd", f"A-000000.{ext}")
    _patch_header_field(target, offset, fmt, value)
    for mode in ("raise", "skip"):
        try:
            with neo_mef3.Reader(path, on_error=mode) as r:
                for ch in r.channels:
                    r.info(ch)
                    r.toc(ch)
                    r.read(ch)
                    r.read_raw(ch, r.info("B")["start_time"], r.info("B")["end_time"])
        except MefError as exc:
            assert path in str(exc)
