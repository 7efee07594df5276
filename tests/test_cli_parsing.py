"""What the commands take from people: times, durations, shifts, redaction terms, and the
refusals merge makes before writing (hand-checked values)."""

import numpy as np
import pytest

from neo_mef3.errors import OutputExistsError, WriteConflictError
from neo_mef3.tools.anonymize import DAY_US, WEEK_US, Redactor, parse_shift, random_shift
from neo_mef3.tools.atomic import atomic_output
from neo_mef3.tools.when import format_time, parse_duration, parse_time

T0 = 1_600_000_000_000_000  # 2020-09-13 12:26:40 UTC


def test_times_and_durations():
    assert parse_time("1600000000000000") == T0
    assert parse_time("2020-09-13T12:26:40") == T0
    assert parse_time("2020-09-13 12:26:40.25Z") == T0 + 250_000
    assert parse_time("2020-09-13T14:26:40+02:00") == T0
    assert parse_time("2020-09-13T14:26:40", tz="Europe/Prague") == T0  # CEST, UTC+2 in September
    assert parse_time("600", session_start=T0) == T0 + 600_000_000
    assert parse_time("1h30m", session_start=T0) == T0 + 5_400_000_000
    assert [parse_duration(s) for s in ("10", "2.5s", "250ms", "5min", "1h", "1d")] == [
        10_000_000, 2_500_000, 250_000, 300_000_000, 3_600_000_000, 86_400_000_000]
    with pytest.raises(ValueError):
        parse_time("600")  # relative, with no session start
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert format_time(T0) == "2020-09-13 12:26:40.000000 UTC"


def test_shifts():
    assert parse_shift("-3650d", T0, T0) == -3650 * DAY_US
    assert parse_shift("+52w", T0, T0) == 52 * WEEK_US
    assert parse_shift("-90", T0, T0) == -90
    assert parse_shift("2020-09-10", T0, T0) == -3 * DAY_US  # the start's date becomes 10 September
    for _ in range(20):
        shift = random_shift(T0, T0 + 3 * DAY_US)
        assert shift % WEEK_US == 0 and abs(shift) >= 4 * DAY_US
        assert 631_152_000_000_000 - WEEK_US <= T0 + shift < 946_684_800_000_000 + WEEK_US


def test_redactor_is_case_blind_and_keeps_lengths():
    r = Redactor(["Gwendolyn Abernathy", "MRN-77341"])
    buf = bytearray(b"seen: GWENDOLYN abernathy (mrn-77341); id 77341")
    assert r.redact(buf) == 3  # the whole name (longest terms first), the ID, a word of the ID
    assert bytes(buf) == b"seen: ******************* (*********); id *****"
    assert r.find("ok") is None and r.find("Mrs Abernathy") == "Abernathy"


def test_atomic_output_refuses_and_cleans(tmp_path):
    (tmp_path / "x.png").write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        with atomic_output(tmp_path / "x.png"):
            pass
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "x.png", overwrite=True) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"] and (tmp_path / "x.png").read_bytes() == b"old"
    with atomic_output(tmp_path / "x.png", overwrite=True) as tmp:
        open(tmp, "wb").write(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"] and (tmp_path / "x.png").read_bytes() == b"new"


def test_merge_refuses_two_subjects_before_writing(tmp_path):
    import neo_mef3
    from neo_mef3.tools.merge import merge_sessions

    for name, subject, start in (("a", "Ann", T0), ("b", "Bob", T0 + 10_000_000)):
        with neo_mef3.Writer(tmp_path / f"{name}.mefd") as w:
            w.write("X", np.zeros(100), start, 100.0)
            w.set_metadata({"subject_name_1": subject})
    with pytest.raises(WriteConflictError, match="different subjects"):
        merge_sessions([tmp_path / "a.mefd", tmp_path / "b.mefd"], tmp_path / "m.mefd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mefd", "b.mefd"]
