"""Damaged sessions: every outcome is the right data or a MefError naming the file.

Each case copies a committed fixture, damages one file (bit flip, truncation, zeroing,
deletion) and reads everything the session offers. Nothing may crash, hang or return
samples that differ from the undamaged session's.
"""

import os
import shutil
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import CrcError, FormatError, MefError
from support.outcomes import equal, read_everything
from support.paths import DATA_DIR

FIXTURES = {"plain": "", "encrypted": "pass2"}


def _fixture(name):
    return os.path.join(DATA_DIR, f"{name}.mefd")


def _files(session):
    out = []
    for root, _, names in os.walk(session):
        out.extend(os.path.join(root, n) for n in sorted(names))
    return sorted(out)


def _outcome(path, password, baseline, session):
    """'same' for identical results, the exception class name for a MefError; fails otherwise."""
    try:
        got = read_everything(path, password)
    except MefError as exc:
        msg = str(exc)
        assert session in msg, f"the message does not name a file of the session: {msg}"
        return type(exc).__name__
    assert equal(got, baseline), "damage produced different results without an error"
    return "same"


def _damage_cases(session):
    cases = []
    for f in _files(session):
        size = os.path.getsize(f)
        rel = os.path.relpath(f, session)
        for off in sorted({0, 4, 8, 20, 600, 1023, 1024, 1030, 1100, size // 2, size - 1}):
            if 0 <= off < size:
                cases.append(("flip", rel, off))
        for cut in sorted({0, 500, 1024, 1030, size // 2, size - 1}):
            if cut < size:
                cases.append(("truncate", rel, cut))
        cases.append(("zero", rel, None))
        cases.append(("delete", rel, None))
    return cases


def _apply(kind, target, where):
    if kind == "flip":
        with open(target, "r+b") as f:
            f.seek(where)
            b = f.read(1)
            f.seek(where)
            f.write(bytes([b[0] ^ 0x10]))
    elif kind == "truncate":
        os.truncate(target, where)
    elif kind == "zero":
        size = os.path.getsize(target)
        with open(target, "r+b") as f:
            f.write(bytes(size))
    elif kind == "delete":
        os.remove(target)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_damage_is_caught_or_harmless(tmp_path, name):
    password = FIXTURES[name]
    src = _fixture(name)
    baseline = read_everything(src, password)
    tally = {}
    for i, (kind, rel, where) in enumerate(_damage_cases(src)):
        work = tmp_path / f"case{i}" / os.path.basename(src)
        shutil.copytree(src, work)
        _apply(kind, os.path.join(work, rel), where)
        result = _outcome(str(work), password, baseline, str(work))
        tally[result] = tally.get(result, 0) + 1
        # the Reader walks records through the .rdat, so only .ridx damage can pass unseen
        if result == "same":
            assert rel.endswith(".ridx"), (kind, rel, where)
        shutil.rmtree(work.parent)
    assert tally.get("CrcError", 0) > 0 and tally.get("FormatError", 0) > 0


def test_block_damage_with_crc_checks_off_is_still_bounded(tmp_path):
    work = tmp_path / "plain.mefd"
    shutil.copytree(_fixture("plain"), work)
    tdat = next(f for f in _files(str(work)) if f.endswith(".tdat"))
    with open(tdat, "r+b") as f:
        f.seek(1024 + 400)
        f.write(b"\xff" * 64)  # garbage inside the first block's range-coded payload
    with pytest.raises(CrcError) as exc:
        read_everything(str(work), "")
    assert tdat in str(exc.value)
    try:
        read_everything(str(work), "", check_crc=False)  # decodes garbage or reports it
    except MefError:
        pass


def test_index_pointing_outside_the_data_file(tmp_path):
    work = tmp_path / "plain.mefd"
    shutil.copytree(_fixture("plain"), work)
    tdat = next(f for f in _files(str(work)) if f.endswith("A-000000.tdat"))
    size = os.path.getsize(tdat)
    os.truncate(tdat, size - 8)
    with neo_mef3.Reader(str(work)) as r:
        with pytest.raises(FormatError) as exc:
            r.read("A")
        assert "outside" in str(exc.value) and "A-000000" in str(exc.value)
        # the other channel is still readable
        assert np.isfinite(r.read("B")).any()


def test_not_a_session(tmp_path):
    f = tmp_path / "file.mefd"
    f.write_bytes(b"hello")
    with pytest.raises(FormatError):
        neo_mef3.Reader(str(f))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormatError):
        neo_mef3.Reader(str(empty))
    with pytest.raises(FormatError):
        neo_mef3.Reader(str(tmp_path / "absent.mefd"))


def _bad_first_block_of_a(tmp_path):
    """A copy of the plain fixture whose channel A fails the CRC of its first block."""
    work = tmp_path / "plain.mefd"
    shutil.copytree(_fixture("plain"), work)
    tdat = next(f for f in _files(str(work)) if f.endswith("A-000000.tdat"))
    with open(tdat, "r+b") as f:
        f.seek(1024 + 400)
        f.write(b"\xff" * 64)
    return work


def test_skipped_blocks_are_never_stored_sample_values(tmp_path):
    work = _bad_first_block_of_a(tmp_path)
    with pytest.warns(Warning):
        with neo_mef3.Reader(str(work), on_error="skip") as r:
            total = r.info("A")["number_of_samples"]
            with pytest.raises(FormatError):
                r.read_samples("A")
            samples, valid = r.read_samples("A", return_valid=True)
            first = int(r.block_table("A")["number_of_samples"][0])
            assert not valid[:first].any() and valid[first:].all() and len(samples) == total
            with neo_mef3.Reader(_fixture("plain")) as good:
                assert np.array_equal(samples[first:], good.read_samples("A")[first:])


def test_skipped_blocks_are_gaps_in_grid_pieces_and_dask(tmp_path):
    """A block that fails its CRC, read with on_error="skip": read_grid pieces and a
    Dask array of the Reader are NaN (valid 0) there, like read/read_raw."""
    work = _bad_first_block_of_a(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with neo_mef3.Reader(str(work), on_error="skip") as r:
            t0 = r.info("A")["start_time"]
            whole = r.read("A")
            raw = r.read_raw("A")
            n = len(whole)
            first = int(r.block_table("A")["number_of_samples"][0])
            assert np.isnan(whole[:first]).all() and not np.isnan(whole[first:]).all()
            pieces = [r.read_grid("A", t0, a, min(a + 700, n)) for a in range(0, n, 700)]
            assert np.array_equal(np.concatenate(pieces), whole, equal_nan=True)
            counts, valid = r.read_grid("A", t0, 0, n, raw=True)
            assert np.array_equal(counts, raw["samples"]) and np.array_equal(valid, raw["valid"])
            assert not valid[:first].any()
            try:
                from neo_mef3.dask import to_dask
            except ImportError:
                return
            got = to_dask(r, ["A"], chunk_seconds=0.7).compute(scheduler="sync")[0]
            assert np.array_equal(got, whole, equal_nan=True)
