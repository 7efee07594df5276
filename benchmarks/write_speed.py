"""Write speed of neo_mef3's Writer against mef3io and mef_tools, in one run.

Signal: iEEG-like, 1/f ("pink") noise plus a 10 Hz rhythm, quantized to 0.1 uV per
count, sampled at 1 kHz. Every writer gets the same float data at precision 1 (so the
same int32 counts are stored) with the default block length (10 s = 10 000 samples).
The writers are run in alternation (round robin) so drifting machine load hits all of
them alike; medians are reported in mega-samples per second (MS/s) together with the
ratio to neo_mef3 single-threaded.

Two measurements:

* write: a whole session (one channel, float path, into a fresh directory; no fsync
  for neo_mef3 -- ``durable=False`` -- since the others do not flush either);
* encode: RED encoding only, on the same counts: ``neo_mef3._red.encode_blocks`` vs
  mef3io's ``_mef3io.red_encode_block`` called block by block (mef3io has no batch
  encoder; its per-call overhead is one Python call per 10 000-sample block).

Usage::

    python benchmarks/write_speed.py [--seconds 300] [--repeats 5] [--tmp DIR]
"""

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from neo_mef3 import _red  # noqa: E402
from neo_mef3.writer import Writer  # noqa: E402

T0 = 1_600_000_000_000_000
FS = 1000.0


def ieeg_like(n, fs=FS, seed=0):
    """1/f noise + 10 Hz rhythm, in uV, quantized to 0.1 uV."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / fs)
    f[0] = f[1]
    pink = np.fft.irfft(spec / np.sqrt(f), n)
    pink *= 30.0 / pink.std()
    t = np.arange(n) / fs
    x = pink + 15.0 * np.sin(2 * np.pi * 10.0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.1 * t))
    return np.round(x, 1)


@contextlib.contextmanager
def quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def write_neo(path, x, n_threads):
    with Writer(path, overwrite=True, n_threads=n_threads, durable=False) as w:
        w.write("ch", x, T0, FS, precision=1)


def write_mef3io(path, x, n_threads):
    import mef3io

    with mef3io.Writer(path, overwrite=True, n_threads=n_threads) as w:
        w.write("ch", x, T0, FS, precision=1)


def write_mef_tools(path, x):
    from mef_tools.io import MefWriter

    shutil.rmtree(path, ignore_errors=True)
    with quiet():
        w = MefWriter(path, overwrite=True)
        w.write_data(x, "ch", T0, FS, precision=1)
        del w


def encode_neo(counts, block):
    starts = np.arange(0, len(counts), block, dtype=np.int64)
    nsamp = np.minimum(block, len(counts) - starts)
    times = -(T0 + np.floor(starts * 1e6 / FS + 0.5).astype(np.int64))
    flags = np.zeros(len(starts), np.uint8)
    flags[0] = 1
    return _red.encode_blocks(counts, starts, nsamp, times, flags, n_threads=1)[0]


def encode_mef3io(counts, block):
    from mef3io import _mef3io

    out = []
    for k, s in enumerate(range(0, len(counts), block)):
        t = -(T0 + int(np.floor(s * 1e6 / FS + 0.5)))
        out.append(_mef3io.red_encode_block(counts[s : s + block], t, k == 0, 0, "", bytes(16), bytes(16)))
    return b"".join(out)


def run(cases, repeats):
    times = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, fn in cases:  # alternate the contenders within each round
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def report(title, medians, n, base):
    print(f"\n{title}  ({n / 1e6:.2f} MS per run, median)")
    ref = medians[base]
    for name, t in medians.items():
        print(f"  {name:<28} {t * 1e3:9.1f} ms  {n / t / 1e6:8.2f} MS/s   x{ref / t:5.2f} vs {base}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0, help="signal length at 1 kHz (default 300)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tmp", default=None, help="directory for the sessions (default: a temporary one)")
    ap.add_argument("--no-mef-tools", action="store_true", help="skip mef_tools (slow)")
    args = ap.parse_args(argv)

    n = int(args.seconds * FS)
    x = ieeg_like(n)
    counts = np.rint(x * 10).astype(np.int32)
    cores = os.cpu_count() or 1
    tmp = tempfile.mkdtemp(prefix="neo_mef3-bench-", dir=args.tmp)
    try:
        p = lambda name: os.path.join(tmp, f"{name}.mefd")  # noqa: E731
        cases = [
            ("neo_mef3 1 thread", lambda: write_neo(p("neo1"), x, 1)),
            (f"neo_mef3 {cores} threads", lambda: write_neo(p("neoN"), x, 0)),
            ("mef3io n_threads=1", lambda: write_mef3io(p("m3_1"), x, 1)),
            ("mef3io n_threads=0", lambda: write_mef3io(p("m3_0"), x, 0)),
        ]
        have_mt = not args.no_mef_tools
        if have_mt:
            try:
                import mef_tools.io  # noqa: F401
            except ImportError:
                have_mt = False
        if have_mt:
            cases.append(("mef_tools", lambda: write_mef_tools(p("mt"), x)))
        for _, fn in cases:  # warm up (imports, page cache)
            fn()
        # same counts stored by all: check once
        a = open(os.path.join(p("neo1"), "ch.timd", "ch-000000.segd", "ch-000000.tdat"), "rb").read()[1024:]
        b = open(os.path.join(p("m3_1"), "ch.timd", "ch-000000.segd", "ch-000000.tdat"), "rb").read()[1024:]
        print(f"signal: {n} samples at {FS:g} Hz, 0.1 uV/count; {cores} cores; "
              f".tdat {len(a) / 1e6:.2f} MB ({len(a) / n:.2f} B/sample); "
              f"identical to mef3io's .tdat body: {a == b}")
        report("write (float path, one channel)", run(cases, args.repeats), n, "neo_mef3 1 thread")

        enc_cases = [("neo_mef3 encode_blocks", lambda: encode_neo(counts, 10_000))]
        try:
            from mef3io import _mef3io  # noqa: F401

            enc_cases.append(("mef3io red_encode_block", lambda: encode_mef3io(counts, 10_000)))
            same = encode_neo(counts, 10_000).tobytes() == encode_mef3io(counts, 10_000)
            print(f"\nencoders produce identical bytes: {same}")
        except ImportError:
            pass
        report("encode only (1 thread)", run(enc_cases, args.repeats), n, "neo_mef3 encode_blocks")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
