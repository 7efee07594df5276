"""Cross reads on the oracle scenario sessions (``support.scenarios``).

Every scenario session that mef_tools or mef3io writes is read with mef_tools'
``MefReader`` and with ours through the same mef_tools-style script (every property,
channel info, whole-channel and windowed get_data/get_raw_data, annotations), and the
recordings are compared with the strict comparator of ``support.legacy_parity``.
"""
import pytest

pytest.importorskip("mef_tools.io")
pytest.importorskip("pandas")

from support.legacy_parity import OURS, THEIRS, Step, parity_report, read_everything, run_script  # noqa: E402
from support.scenarios import WRITERS, scenario_names  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

CASES = [(name, writer) for writer in WRITERS for name in scenario_names(writer)]


def _without_lntp(steps):
    """pymef mis-reads LNTP bodies (a documented difference): drop those records."""
    out = []
    for s in steps:
        if s.kind == "value" and isinstance(s.value, list) and "get_annotations" in s.label:
            s = Step(s.label, s.kind, [r for r in s.value if not (isinstance(r, dict) and r.get("type") == "LNTP")],
                     s.stdout, s.warnings)
        out.append(s)
    return out


def _windows(scenario):
    t0 = min(c.start_uutc for c in scenario.channels)
    return [(t0 + 123_457, t0 + 2_345_679), (t0 - 1_000_001, t0 + 777_777), (t0 + 3_999_999, t0 + 60_000_001)]


@pytest.mark.parametrize("name,writer", CASES, ids=[f"{w}-{n}" for n, w in CASES])
def test_our_reader_matches_mef_tools_on_scenario(name, writer, oracle_sessions, tmp_path):
    path = oracle_sessions(name, writer)
    scenario = oracle_sessions.scenario(name)

    def script(api, rec, d):
        read_everything(api, rec, path, password2=scenario.read_password, windows=_windows(scenario))

    ref = _without_lntp(run_script(script, THEIRS[0], THEIRS[1], tmp_path / "theirs"))
    got = _without_lntp(run_script(script, OURS[0], OURS[1], tmp_path / "ours"))
    problems = parity_report(ref, got)
    if problems:
        pytest.fail(f"{len(problems)} differences:\n" + "\n".join(p[:400] for p in problems[:60]), pytrace=False)
