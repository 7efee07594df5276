"""``neo-mef3 info``, ``check``, ``records`` and what every command shares (help with an
example, --version, exit codes, quiet ends of pipes)."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neo_mef3 import cli
from support.compare import records_summary
from support.read_oracles import read_mef3io, read_pymef
from support.scenarios import SCENARIOS

pytestmark = pytest.mark.timeout(300)

T0 = 1_600_000_000_000_000


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_every_command_has_help_with_an_example(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"neo-mef3 {name}" in out.split("examples:")[1]


def test_version_and_usage_errors(run_cli, capsys):
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("neo-mef3 ")
    with pytest.raises(SystemExit) as exc:
        cli.main(["info"])  # argparse: a missing argument
    assert exc.value.code == 2
    assert cli.main(["cut", "x.mefd", "y.mefd", "--start", "yesterday", "--end", "1s"]) == 2
    assert "error" in capsys.readouterr().err


def _gaps_seen_by_mef3io(path, password=""):
    """Per channel: (number of NaN runs, total NaN time in s) of mef3io's whole-channel read."""
    out = {}
    for ch, c in read_mef3io(path, password)["channels"].items():
        nan = np.isnan(c["read"])
        runs = int(np.count_nonzero(np.diff(nan.astype(np.int8)) == 1)) + int(nan[0])
        out[ch] = (runs, nan.sum() / c["info"]["sampling_frequency"])
    return out


@pytest.mark.parametrize("scenario,writer", [("segments", "mef3io"), ("nan_gaps", "mef_tools"),
                                             ("encrypted", "mef_tools")])
def test_info_gaps_agree_with_what_mef3io_reads_as_nan(oracle_sessions, oracles_installed, run_cli, scenario, writer):
    path = oracle_sessions(scenario, writer)
    password = SCENARIOS[scenario].read_password or ""
    res = run_cli("info", path, "--json", "--password-env", "PW", env={"PW": password})
    assert res.returncode == 0, res.stderr
    inv = json.loads(res.stdout)
    expected = _gaps_seen_by_mef3io(path, password)
    assert any(runs for runs, _ in expected.values())
    for row in inv["channels"]:
        runs, total = expected[row["name"]]
        assert row["gaps"]["count"] == runs
        assert row["gaps"]["total_s"] == pytest.approx(total, abs=1.5 / row["sampling_frequency"] * max(runs, 1))
    records = read_mef3io(path, password)["records_all"]
    assert inv["records_total"] == len(records)
    table = run_cli("info", path, "--password-env", "PW", env={"PW": password}).stdout
    assert all(row["name"] in table for row in inv["channels"]) and f"records {len(records)}" in table


def test_info_long_and_locked_records(capsys):
    path = os.path.join(os.path.dirname(__file__), "data", "encrypted.mefd")
    assert cli.main(["info", path, "--long", "--password", "pass2"]) == 0
    out = capsys.readouterr().out
    assert "first samples" in out and "stimulus" in out
    assert cli.main(["info", path, "--password", "pass1"]) == 0
    assert "records locked" in capsys.readouterr().out


def test_info_into_a_closed_pipe_ends_quietly(tmp_path):
    import neo_mef3

    with neo_mef3.Writer(tmp_path / "many.mefd") as w:
        w.write("A", np.zeros(1000), T0, 100.0)
        w.write_annotations([{"time": T0 + k, "text": f"note {k} " + "x" * 60} for k in range(4000)])
    cmd = f"{sys.executable} -m neo_mef3.cli records many.mefd --tsv - 2>err.txt | head -1"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("level\t")
    assert (tmp_path / "err.txt").read_text() == ""  # no BrokenPipeError traceback


def test_check_exit_codes_and_json(tmp_path, run_cli):
    import neo_mef3

    with neo_mef3.Writer(tmp_path / "ok.mefd") as w:
        w.write("A", np.sin(np.arange(5000) / 10.0) * 100, T0, 1000.0, precision=2)
    res = run_cli("check", "ok.mefd", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["exit_code"] == 0
    tdat = next(os.path.join(r, f) for r, _, fs in os.walk(tmp_path / "ok.mefd") for f in fs if f.endswith(".tdat"))
    with open(tdat, "r+b") as f:  # one byte of the first block's samples
        f.seek(1024 + 400)
        b = f.read(1)
        f.seek(1024 + 400)
        f.write(bytes([b[0] ^ 0xFF]))
    res = run_cli("check", "ok.mefd", "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["problems"]
    assert cli.main(["check", str(tmp_path / "absent.mefd")]) == 2
    assert cli.main(["check"]) == 2


def test_check_has_a_counterpart_of_every_mef3io_check(capsys):
    import mef3io

    from neo_mef3.check import CHECKS

    theirs = {c.id for c in mef3io.available_checks()}
    answered = {name.strip() for _, counterpart in CHECKS.values() for name in counterpart.split(",")}
    assert theirs <= answered
    assert cli.main(["check", "--list-checks"]) == 0
    listing = capsys.readouterr().out
    assert all(check_id in listing for check_id in theirs)


def test_check_reports_what_mef3io_reports_on_a_mef_tools_session(oracle_sessions, run_cli):
    """mef_tools under-declares maximum_contiguous_blocks (mef3io: sizing.contiguous error)."""
    import mef3io

    path = oracle_sessions("odd_blocks", "mef_tools")
    errors = {f.check_id for f in mef3io.Validator(path).validate().errors}
    assert "sizing.contiguous" in errors
    res = run_cli("check", path, "--json")
    assert res.returncode == 1
    assert any("[sizing.contiguous]" in p["message"] for p in json.loads(res.stdout)["problems"])


def test_records_table_export_and_import(oracle_sessions, oracles_installed, run_cli, tmp_path):
    import shutil

    src = oracle_sessions("records", "mef3io")
    session = tmp_path / "records.mefd"
    shutil.copytree(src, session)
    pymef_before = read_pymef(str(session))
    res = run_cli("records", session, "--csv", "all.csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "all.csv")))
    m3 = read_mef3io(str(session), "")["records_all"]
    assert sorted((r["type"], int(r["time_uutc"])) for r in rows) == sorted((r["type"], r["time"]) for r in m3)
    assert {r["level"] for r in rows} == {"session", "channel"}
    (tmp_path / "new.csv").write_text("time,type,text,duration,channel\n"
                                      "2020-09-13T12:26:41.5,Note,spike burst,,\n"
                                      "2.25,EDFA,artifact,0.5,r256\n")
    res = run_cli("records", "add", session, "--csv", "new.csv")
    assert res.returncode == 0, res.stderr
    after = read_mef3io(str(session), "")
    added = [(r["type"], r["time"], r.get("text"), r.get("duration")) for r in after["records_all"]
             if r.get("text") in ("spike burst", "artifact")]
    assert sorted(added) == [("EDFA", T0 + 2_250_000, "artifact", 500_000), ("Note", T0 + 1_500_000, "spike burst", None)]
    assert len(after["records_all"]) == len(m3) + 2  # nothing lost
    pymef = read_pymef(str(session))
    assert ("Note", T0 + 1_500_000) in [(r["type"], r["time"]) for r in pymef["records"]]
    for before, now in ((pymef_before["records"], pymef["records"]),
                        (pymef_before["channels"]["r256"]["records"], pymef["channels"]["r256"]["records"])):
        kept = [r for r in now if r.get("text") not in ("spike burst", "artifact")]
        assert records_summary(kept) == records_summary(before)  # every record as pymef wrote it
    res = run_cli("records", "add", session, "--csv", "bad.csv")
    assert res.returncode == 2
    (tmp_path / "bad.csv").write_text("time,type\n1,Seiz\n")
    res = run_cli("records", "add", session, "--csv", "bad.csv")
    assert res.returncode == 2 and "Note, EDFA, SyLg" in res.stderr
    tsv = run_cli("records", session, "--tsv").stdout
    assert list(csv.DictReader(io.StringIO(tsv), delimiter="\t"))[0]["level"] == "session"
