"""A whole session read with all cores (issue 18): every channel, neo_mef3 against mef3io.

The workload: ``--session-channels`` (256) iEEG-like channels of ``--session-minutes``
(10) at 1 kHz, one segment each, written once by mef3io's Writer (default 10 000-sample
blocks) into ``benchmarks/_work/``. Timed, alternating, medians, all cores
(``n_threads=0``) everywhere:

* neo_mef3 ``Reader.read`` of every channel: one call with the list of channels where
  the Reader takes one, else one call per channel (each decoded on all threads);
* neo_mef3 ``MEF3RawIO.get_analogsignal_chunk`` of the whole stream (all channels);
* ``neo_mef3.dask.to_dask(...).compute()`` where that module exists (threaded
  scheduler), and the same array stored into one preallocated array
  (``dask.array.store``: no final concatenation);
* mef3io: ``Reader(n_threads=0).read(list of channels)``, its multi-channel read that
  fetches every channel's blocks concurrently and decodes them on one pool (its
  documented fastest way to read many channels; ``n_threads`` is its whole budget).

The output of each is checked against the stored samples (first and last channel).

    python -m benchmarks --only session
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import run  # noqa: E402


def session(wl, channels, minutes):
    n = int(minutes * 60 * run.FS)
    x = run.ieeg_counts(n, seed=5)
    key = f"session_{channels}ch_{minutes:g}min"
    return wl._cached(key, lambda p: run.write_mef3io(p, {f"ch{c:04d}": x for c in range(channels)})), x


def _reader_read_all(reader, names):
    """Every channel read as float64: one call if Reader.read takes a list, else a loop."""
    try:
        return reader.read(list(names))
    except (TypeError, KeyError, AttributeError, ValueError):
        return [reader.read(c) for c in names]


def test_session(res, wl, args):
    import mef3io

    import neo_mef3
    from neo_mef3.rawio import MEF3RawIO

    path, x = session(wl, args.session_channels, args.session_minutes)
    ours = neo_mef3.Reader(path, n_threads=0)
    names = ours.channels
    with run.quiet():
        theirs = mef3io.Reader(path, n_threads=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = MEF3RawIO(dirname=path, n_threads=0)
        raw.parse_header()
    size = raw.get_signal_size(0, 0, 0)
    want = x.astype(np.float64) * run.UFACT

    got = _reader_read_all(ours, names)
    rows = [got[0], got[-1]]
    multi = isinstance(got, np.ndarray) and got.ndim == 2
    del got
    for row in rows:
        run._check("neo_mef3 Reader.read", row, want)
    chunk = raw.get_analogsignal_chunk(0, 0, 0, size, 0, None)
    run._check("neo_mef3 MEF3RawIO chunk", chunk[:, 0], x)
    run._check("neo_mef3 MEF3RawIO chunk", chunk[:, -1], x)
    del chunk
    with run.quiet():
        got = theirs.read(list(names))
    run._check("mef3io read", got[0], want)
    del got

    fns = {
        "neo_mef3 Reader.read" + (" (list)" if multi else " (per channel)"): lambda: _reader_read_all(ours, names),
        "neo_mef3 MEF3RawIO chunk": lambda: raw.get_analogsignal_chunk(0, 0, 0, size, 0, None),
        "mef3io read(list)": lambda: theirs.read(list(names)),
    }
    try:
        from neo_mef3 import dask as neo_dask

        def dask_read():
            arr = neo_dask.to_dask(path, names)
            return arr.compute(scheduler="threads")

        def dask_store():
            import dask.array

            arr = neo_dask.to_dask(path, names)
            out = np.empty(arr.shape)
            dask.array.store(arr, out, lock=False, scheduler="threads")
            return out

        for name, fn in (("neo_mef3 dask to_dask", dask_read), ("neo_mef3 dask to_dask + store", dask_store)):
            got = fn()
            run._check(name, got[0], want)
            run._check(name, got[-1], want)
            del got
        fns["neo_mef3 dask to_dask (threads)"] = dask_read
        fns["neo_mef3 dask to_dask + store (threads)"] = dask_store
    except ImportError:
        res.notes.append("session: neo_mef3.dask is not on this branch: no dask row")
    with run.quiet():
        times = run.alternate(fns, max(3, args.repeats // 2), warmup=1)
    total = len(names) * len(x)
    case = f"{len(names)} ch x {args.session_minutes:g} min, all cores"
    for k, v in times.items():
        res.add("session", case, k, run.ms_per_s(total, run.med(v)), "MS/s", v)
    m3 = run.med(times["mef3io read(list)"])
    for k, v in times.items():
        if k.startswith("neo_mef3"):
            res.target(f"session, all cores: {k} / mef3io read(list)", m3 / run.med(v), 2.5)
    for r in (ours, theirs):
        r.close()
    raw.close()


if __name__ == "__main__":
    run.main(["--only", "session"] + sys.argv[1:])
