"""The Reader's fast paths give the same values as the plain ones.

``Reader.read`` decodes straight into its float64 output (``_red.decode_blocks_f64``)
in batches of bounded size; it must equal ``read_raw``'s samples times the factor with
NaN where ``valid`` is 0 -- the definition of ``read`` -- for any window, thread count
and batch size, and it must not allocate more than a little beside its output.
"""
import tracemalloc

import numpy as np
import pytest

import neo_mef3
from neo_mef3.reader import decode as decode_mod
from neo_mef3.reader.grid import covered_runs


def _expected_read(raw):
    f = raw["units_conversion_factor"]
    out = raw["samples"].astype(np.float64)
    if f not in (None, 0.0, 1.0):
        out *= f
    out[raw["valid"] == 0] = np.nan
    return out


def _windows(r, ch, rng, k=25):
    info = r.info(ch)
    t0, t1 = info["start_time"], info["end_time"]
    span = t1 - t0
    yield None, None
    yield t0 - 3_000_000, t1 + 3_000_000          # past both ends
    yield t0 + span // 3, t0 + span // 3           # empty
    for _ in range(k):
        a = int(rng.integers(t0 - span // 10, t1))
        yield a, a + int(rng.integers(1, span // 2 + 2))


@pytest.mark.parametrize("scenario,writer", [
    ("nan_gaps", "mef3io"), ("segments", "mef_tools"), ("segments", "mef3io"),
    ("odd_blocks", "mef_tools"), ("int32_ufact", "mef3io"), ("fractional_fs", "mef3io"),
    ("encrypted", "mef_tools"), ("appends", "mef3io"),
])
def test_read_equals_read_raw_definition(oracle_sessions, monkeypatch, scenario, writer):
    path = oracle_sessions(scenario, writer)
    password = oracle_sessions.scenario(scenario).read_password or ""
    rng = np.random.default_rng(len(scenario) * 7 + len(writer))
    for batch in (decode_mod.BATCH_BYTES, 700):     # 700 bytes: about one block per batch
        monkeypatch.setattr(decode_mod, "BATCH_BYTES", batch)
        for n_threads in (1, 2):
            with neo_mef3.Reader(path, password=password, n_threads=n_threads) as r:
                for ch in r.channels:
                    for a, b in _windows(r, ch, rng, k=8):
                        got = r.read(ch, a, b)
                        want = _expected_read(r.read_raw(ch, a, b))
                        assert got.dtype == np.float64 and got.shape == want.shape
                        assert np.array_equal(got, want, equal_nan=True), (ch, a, b, batch, n_threads)


def _long_session(tmp_path, minutes=12, fs=1000.0):
    mef3io = pytest.importorskip("mef3io")
    rng = np.random.default_rng(0)
    n = int(minutes * 60 * fs)
    x = np.cumsum(rng.normal(0, 150, n)).astype(np.int64)
    x = (x - x.mean()).astype(np.int32)
    path = str(tmp_path / "long.mefd")
    w = mef3io.Writer(path, overwrite=True)
    w.write_int32("ch", x, 0.1, 1_600_000_000_000_000, fs)
    w.close()
    return path, x


def test_long_read_threads_and_memory(tmp_path):
    path, x = _long_session(tmp_path)
    with neo_mef3.Reader(path, n_threads=1) as r1, neo_mef3.Reader(path, n_threads=2) as r2:
        a = r1.read("ch")
        b = r2.read("ch")
        assert np.array_equal(a, b)
        assert np.array_equal(a, x * 0.1)
        r2.read("ch")  # warm: files open, index parsed
        tracemalloc.start()
        try:
            out = r2.read("ch")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # the output plus bounded batches of compressed bytes: well under 1.3x
        assert peak <= 1.3 * out.nbytes, peak / out.nbytes


def _damaged_copy(tmp_path, which):
    """A copy of a 2-minute session with garbage inside the blocks ``which(n_blocks)``:
    (path, its .tdat, the block table)."""
    import shutil

    path, _ = _long_session(tmp_path, minutes=2)
    bad = str(tmp_path / "bad.mefd")
    shutil.copytree(path, bad)
    with neo_mef3.Reader(bad) as r:
        tdat = r.segment_files("ch")[0].tdat
        b = r.block_table("ch")
    with open(tdat, "r+b") as f:
        for i in which(len(b["number_of_samples"])):
            f.seek(int(b["file_offset"][i]) + 400)
            f.write(b"\xde\xad\xbe\xef")
    return bad, tdat, b


def test_read_with_damaged_blocks_skipped(tmp_path):
    # on_error="skip": a block that fails (CRC, or garbage the decoder rejects) is a gap
    # in read() exactly where read_raw marks it invalid, even though read() never
    # NaN-fills its output before decoding
    import warnings

    bad, _, _ = _damaged_copy(tmp_path, lambda k: (0, 3, k - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for check_crc in (True, False):
            with neo_mef3.Reader(bad, on_error="skip", check_crc=check_crc, n_threads=2) as r:
                info = r.info("ch")
                for a, z in [(None, None), (info["start_time"] + 12_345_678, info["start_time"] + 45_000_000)]:
                    got = r.read("ch", a, z)
                    want = _expected_read(r.read_raw("ch", a, z))
                    assert np.array_equal(got, want, equal_nan=True)
                    if check_crc and a is None:
                        assert np.isnan(got).sum() >= 3 * 10_000


def test_threads_raise_the_first_damaged_block_as_one_thread_does(tmp_path, monkeypatch):
    # the threads decode pieces of the range in any order; the error raised is still
    # that of the earliest damaged block, and only after every piece has finished
    bad, tdat, b = _damaged_copy(tmp_path, lambda k: (k // 3, k - 2))
    k = len(b["number_of_samples"])
    monkeypatch.setattr(decode_mod, "PIECE_MIN_BYTES", 1)  # a piece per block or so
    messages = []
    for n_threads in (1, 2):
        with neo_mef3.Reader(bad, n_threads=n_threads) as r:
            for method in (r.read, r.read_raw):
                with pytest.raises(neo_mef3.MefError) as exc:
                    method("ch")
                messages.append(str(exc.value))
    assert len(set(messages)) == 1, messages
    assert tdat in messages[0] and f"RED block at byte {int(b['file_offset'][k // 3])} of the file" in messages[0]


def test_covered_runs_equal_marking_block_by_block():
    # read_raw marks valid samples run by run (adjacent blocks merged); the reference
    # marks every block's span on its own
    rng = np.random.default_rng(7)
    for _ in range(3000):
        k, n = int(rng.integers(0, 8)), int(rng.integers(0, 60))
        starts, counts = rng.integers(-20, 70, k), rng.integers(0, 15, k)
        want = np.zeros(n, np.uint8)
        for a, c in zip(starts, counts):
            want[max(a, 0) : max(min(a + c, n), 0)] = 1
        runs = covered_runs(starts, counts, n)
        got = np.zeros(n, np.uint8)
        for a, z in runs:
            got[a:z] = 1
        assert np.array_equal(got, want), (starts, counts, n, runs)
        assert all(a < z for a, z in runs) and all(r[1] < s[0] for r, s in zip(runs, runs[1:]))
