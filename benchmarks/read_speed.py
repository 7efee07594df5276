"""Read speed (issue 2): one iEEG-like session read whole by neo_mef3, pymef and mef3io.

The session: 1/f noise plus a 10 Hz rhythm at 0.1 uV per count, 1 kHz, ``--minutes``
(default 30) long, written once by mef3io into ``benchmarks/_work/``. Each reader reads
the whole channel; the readers alternate (``--repeats`` rounds) and the medians are
printed in million samples per second (MS/s), one thread and all cores. pymef (meflib)
has no threads of its own, so it has one row. A thin entry into the machinery of
``python -m benchmarks`` (benchmarks/run.py), which measures every performance target.

    python benchmarks/read_speed.py [--minutes 30] [--repeats 7]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import run  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--work", default=os.path.join(run.HERE, "_work"))
    args = ap.parse_args(argv)

    import neo_mef3

    wl = run.Workloads(args.work, args.minutes, args.minutes, 0, 0, False)
    path = wl.session("ieeg")
    x = wl.samples("ieeg")
    n = x.size
    readers = {
        "neo_mef3 1 thread": neo_mef3.Reader(path, n_threads=1),
        "neo_mef3 all cores": neo_mef3.Reader(path, n_threads=0),
        "mef3io 1 thread": run._mef3io_reader(path, 1),
        "mef3io all cores": run._mef3io_reader(path, 0),
    }
    pm = run._pymef_session(path)
    fns = {k: (lambda r=r: r.read_raw(run.CH)) for k, r in readers.items()}
    fns["pymef (meflib) 1 thread"] = lambda: pm.read_ts_channels_sample(run.CH, [0, n])
    with run.quiet():
        for k, f in fns.items():
            out = f()
            run._check(k, out["samples"] if isinstance(out, dict) else out, x)
        # each library's pair on its own (see run.test_cores), pymef with the one-thread runs
        times = run.alternate({k: fns[k] for k in ("neo_mef3 1 thread", "neo_mef3 all cores")}, args.repeats)
        times.update(run.alternate({k: fns[k] for k in ("mef3io 1 thread", "mef3io all cores",
                                                        "pymef (meflib) 1 thread")}, args.repeats))
    print(f"{args.minutes:g} min iEEG-like session at 1 kHz ({n} samples), {os.cpu_count()} cores, "
          f"median of {args.repeats} alternating runs")
    base = run.med(times["neo_mef3 1 thread"])
    for k, v in times.items():
        t = run.med(v)
        print(f"  {k:26s} {run.ms_per_s(n, t):7.1f} MS/s   ({base / t:4.2f}x neo_mef3 1 thread)")


if __name__ == "__main__":
    main()
