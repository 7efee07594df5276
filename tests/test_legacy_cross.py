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


def _without_mixed_factor_data(steps, scenario):
    """mef_tools scales a channel whose segments carry different factors by meflib's
    channel-level factor, "no entry" (0): its get_data is all zeros there. The drop-in
    scales each segment by its own (docs/legacy.md D13, compared with mef3io in
    test_legacy_differences); the raw counts, and every other channel, are compared."""
    mixed = sorted({seg["channel"] for seg in scenario.pymef_segments})
    if not mixed:
        return steps
    names = sorted(c.name for c in scenario.channels)
    keep = [i for i, n in enumerate(names) if n not in mixed]
    out = []
    for s in steps:
        scaled = s.kind == "value" and ".raw" not in s.label and (".get_data(" in s.label or ".window" in s.label)
        if scaled and any(f"({m})" in s.label for m in mixed):
            continue
        if scaled and isinstance(s.value, list):
            s = Step(s.label, s.kind, [s.value[i] for i in keep], s.stdout, s.warnings)
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

    ref = _without_mixed_factor_data(_without_lntp(run_script(script, THEIRS[0], THEIRS[1], tmp_path / "theirs")),
                                     scenario)
    got = _without_mixed_factor_data(_without_lntp(run_script(script, OURS[0], OURS[1], tmp_path / "ours")), scenario)
    problems = parity_report(ref, got)
    if problems:
        pytest.fail(f"{len(problems)} differences:\n" + "\n".join(p[:400] for p in problems[:60]), pytrace=False)
