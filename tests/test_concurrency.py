"""Concurrent use: threads sharing one Reader; processes reading while one appends."""

import os
import random
import threading

import numpy as np
import pytest

import neo_mef3
from support.build_ours import build_writer_session
from support.child import last_json_line, run_module


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return build_writer_session(str(tmp_path_factory.mktemp("conc") / "s.mefd"))


def test_threads_share_one_reader(session):
    """32 threads, random windows, channels, dtypes, on one Reader (and its decode pool);
    every result equals the serial read of the same window."""
    with neo_mef3.Reader(session, n_threads=1) as ref:
        truth = {ch: (ref.read_raw(ch), ref.info(ch)) for ch in ref.channels}
    errors = []

    def work(seed, r):
        rng = random.Random(seed)
        try:
            for _ in range(40):
                ch = rng.choice(sorted(truth))
                raw, info = truth[ch]
                n = len(raw["samples"])
                a = rng.randrange(n)
                z = rng.randrange(a, n + 1)
                fs = info["sampling_frequency"]
                t0 = raw["start_uutc"] + int(round(a * 1e6 / fs))
                t1 = raw["start_uutc"] + int(round(z * 1e6 / fs))
                if rng.random() < 0.5:
                    got = r.read_raw(ch, t0, t1)
                    m = len(got["samples"])
                    assert np.array_equal(got["samples"], raw["samples"][a : a + m])
                    assert np.array_equal(got["valid"], raw["valid"][a : a + m])
                else:
                    got = r.read(ch, t0, t1)
                    m = len(got)
                    exp = raw["samples"][a : a + m] * raw["units_conversion_factor"]
                    ok = raw["valid"][a : a + m] == 1
                    assert np.array_equal(np.isnan(got), ~ok)
                    np.testing.assert_array_equal(got[ok], exp[ok])
                if rng.random() < 0.2:
                    r.toc(ch), r.info(ch), r.records(ch)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    for n_threads in (1, 4):
        with neo_mef3.Reader(session, n_threads=n_threads) as r:  # channels built lazily, concurrently
            threads = [threading.Thread(target=work, args=(k, r)) for k in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert not errors, errors[:5]


def test_threads_share_a_skip_mode_reader_on_a_damaged_session(tmp_path, session):
    import shutil
    import warnings

    path = str(tmp_path / "d.mefd")
    shutil.copytree(session, path)
    tdat = os.path.join(path, "A.timd", "A-000000.segd", "A-000000.tdat")
    with open(tdat, "r+b") as f:
        f.seek(1024 + 310)
        f.write(b"\xff\xff")
    with neo_mef3.Reader(session) as ref:
        truth = ref.read_raw("A")
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with neo_mef3.Reader(path, on_error="skip", n_threads=3) as r:
            def work():
                got = r.read_raw("A", truth["start_uutc"], truth["start_uutc"] + len(truth["samples"]) * 10_000)
                results.append(got)
            threads = [threading.Thread(target=work) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len([s for s in r.skipped if s["what"] == "blocks"]) == 1  # reported once
    for got in results:
        ok = got["valid"] == 1
        assert 0 < ok.sum() < (truth["valid"] == 1).sum()
        assert np.array_equal(got["samples"][ok], truth["samples"][ok])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_readers_while_one_process_appends(tmp_path):
    """Three reader processes (some reopening a Reader per read, some keeping one open
    across appends) loop while another process appends: each read is a prefix of the
    scripted data -- no torn block, no differing sample."""
    p = run_module("racing_readers", "--readers", 3, "--seconds", 3, "--seed", 5, timeout=300, cwd=tmp_path)
    res = last_json_line(p.stdout)
    assert res, p.stderr.decode()[-3000:]
    assert res["n_failures"] == 0, res["problems"]
    assert res["reads"] > 100 and res["distinct_views"] > 5
