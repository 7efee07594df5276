"""MNE rows: neo_mef3.mne.read_raw_mef3 against mne.io.read_raw_mef (MNE + pymef).

The workload: ``--channels`` (64) iEEG-like channels at 1 kHz, ``--minutes`` (60) long, one
rate and no gap (the case MNE's reader handles), 0.1 uV per count, written once by the
native Writer into ``benchmarks/_work/`` (both readers read the very same files).

- open: the lazy Raw (``preload=False``), alternating, median;
- preload: ``preload=True`` of the whole session, each in fresh processes (alternating,
  two rounds): wall time and the growth of the process's peak RSS (VmHWM) over the
  float64 output's size;
- windows: random 10 s windows of all channels via ``raw.get_data(start, stop)`` on a
  lazy Raw, median time per window.

Targets: preload at least 3x faster and with at least 3x less peak memory than MNE's.

    python benchmarks/mne_speed.py [--channels 64] [--minutes 60] [--windows 20]
    python -m benchmarks --only mne
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import run  # noqa: E402

_PRELOAD_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[3])
impl, path = sys.argv[1], sys.argv[2]
import mne
if impl == "neo_mef3":
    from neo_mef3.mne import read_raw_mef3 as read
else:
    read = lambda p, preload: mne.io.read_raw_mef(p, preload=preload, verbose="error")
HWM_FUNCTION
rss0 = hwm()
t = time.perf_counter()
raw = read(path, preload=True)
seconds = time.perf_counter() - t
rss1 = hwm()
data = raw.get_data(start=0, stop=1000)
print(json.dumps({"seconds": seconds, "rss_growth": rss1 - rss0, "out": int(raw.n_times) * len(raw.ch_names) * 8,
                  "checksum": float(abs(data).sum())}))
"""


_PRELOAD_CHILD = _PRELOAD_CHILD.replace("HWM_FUNCTION", run.HWM_FUNCTION)


def session(work, channels, minutes):
    """The cached workload session (built on first use)."""
    n = int(minutes * 60 * run.FS)
    key = f"mne_{channels}ch_{minutes:g}min"
    path = os.path.join(work, key + ".mefd")
    stamp = os.path.join(work, key + ".done")
    if not os.path.exists(stamp):
        import neo_mef3

        os.makedirs(work, exist_ok=True)
        t = time.perf_counter()
        base = run.ieeg_counts(n, seed=11)
        rng = np.random.default_rng(12)
        with neo_mef3.Writer(path, overwrite=True, durable=False) as w:
            for c in range(channels):  # the same trace shifted and rescaled: distinct, iEEG-like
                x = np.roll(base, int(rng.integers(0, n)))
                x = (x * rng.uniform(0.5, 1.5)).astype(np.int32)
                w.write_int32(f"ch{c:03d}", x, run.UFACT, run.T0, run.FS)
        open(stamp, "w").close()
        print(f"  built {path} in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def _mne_reader():
    import mne

    return lambda path, preload=False: mne.io.read_raw_mef(path, preload=preload, verbose="error")


def _ours():
    from neo_mef3.mne import read_raw_mef3

    return read_raw_mef3


def preload_in_processes(path, rounds=2):
    got = {}
    for _ in range(rounds):
        for impl in ("neo_mef3", "mne"):
            p = subprocess.run([sys.executable, "-c", _PRELOAD_CHILD, impl, path, run.ROOT], capture_output=True,
                               text=True, timeout=3600)
            if p.returncode != 0:
                raise RuntimeError(f"preload with {impl} failed: {p.stderr.strip()[-2000:]}")
            d = json.loads(p.stdout.strip().splitlines()[-1])
            got.setdefault(impl, []).append(d)
    a, b = got["neo_mef3"][0]["checksum"], got["mne"][0]["checksum"]
    if abs(a - b) > 1e-9 * max(abs(a), 1e-30):
        raise AssertionError(f"preloaded data differ: {a} vs {b}")
    return got


def measure(res, work, channels=64, minutes=60.0, windows=20, repeats=3):
    """Add the MNE rows and targets to a ``run.Results``."""
    path = session(work, channels, minutes)
    case = f"{channels} ch x {minutes:g} min at 1 kHz"
    readers = {"neo_mef3 read_raw_mef3": _ours(), "mne read_raw_mef (pymef)": _mne_reader()}
    with run.quiet():
        times = run.alternate({k: (lambda f=f: f(path, preload=False)) for k, f in readers.items()}, repeats)
    for k, v in times.items():
        res.add("mne", f"open (lazy), {case}", k, run.med(v) * 1e3, "ms", v)
    res.target("mne open: mne / neo_mef3", run.med(times["mne read_raw_mef (pymef)"])
               / run.med(times["neo_mef3 read_raw_mef3"]), 1.0)

    with run.quiet():
        raws = {k: f(path, preload=False) for k, f in readers.items()}
    n = next(iter(raws.values())).n_times
    span = int(10 * run.FS)
    starts = np.random.default_rng(5).integers(0, n - span, windows)
    a = raws["neo_mef3 read_raw_mef3"].get_data(start=int(starts[0]), stop=int(starts[0]) + span)
    b = raws["mne read_raw_mef (pymef)"].get_data(start=int(starts[0]), stop=int(starts[0]) + span)
    if not np.allclose(a, b, rtol=0, atol=1e-12):
        raise AssertionError("the readers' windows differ")

    def loop(raw):
        def go():
            for s in starts:
                raw.get_data(start=int(s), stop=int(s) + span)
        return go

    with run.quiet():
        wtimes = run.alternate({k: loop(r) for k, r in raws.items()}, repeats)
    for k, v in wtimes.items():
        res.add("mne", f"10 s window get_data, {channels} ch", k, run.med(v) / windows * 1e3, "ms", v)
    res.target("mne 10 s windows: mne / neo_mef3", run.med(wtimes["mne read_raw_mef (pymef)"])
               / run.med(wtimes["neo_mef3 read_raw_mef3"]), 1.0)
    del raws

    got = preload_in_processes(path)
    best = {impl: {"seconds": min(d["seconds"] for d in v), "rss": max(d["rss_growth"] for d in v),
                   "out": v[0]["out"]} for impl, v in got.items()}
    names = {"neo_mef3": "neo_mef3 read_raw_mef3", "mne": "mne read_raw_mef (pymef)"}
    for impl, d in best.items():
        res.add("mne", f"preload, {case}", names[impl], d["seconds"], "s", [x["seconds"] for x in got[impl]])
        res.add("mne", f"preload peak RSS growth / output, {case}", names[impl], d["rss"] / d["out"], "x")
    res.target("mne preload time: mne / neo_mef3 (>= 3x faster)", best["mne"]["seconds"] / best["neo_mef3"]["seconds"],
               3.0, f"{best['neo_mef3']['seconds']:.1f} s vs {best['mne']['seconds']:.1f} s")
    res.target("mne preload peak memory: mne / neo_mef3 (>= 3x less)", best["mne"]["rss"] / best["neo_mef3"]["rss"],
               3.0, f"{best['neo_mef3']['rss'] / 2**30:.2f} GiB vs {best['mne']['rss'] / 2**30:.2f} GiB "
                    f"(output {best['neo_mef3']['out'] / 2**30:.2f} GiB)")
    res.notes.append("mne: preload rows are the fastest of two fresh processes each (peak RSS: the larger); "
                     "both readers' preloaded data checked equal")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(run.HERE, "_work"))
    args = ap.parse_args(argv)
    res = run.Results()
    measure(res, args.work, args.channels, args.minutes, args.windows, args.repeats)
    return res


if __name__ == "__main__":
    main()
