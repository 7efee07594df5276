"""Speed of the legacy drop-in (neo_mef3.MefReader/MefWriter) against mef_tools.io 1.2.3.

The same mef_tools-style script runs with both implementations:

* write: ``MefWriter(path, overwrite=True)`` then one ``write_data`` per channel (float
  data, precision 3, one 2-second NaN gap per channel);
* chunked write: 2 channels written as 200 one-second chunks each (400 in-segment
  appends, ``write_data`` per chunk, metadata reloaded each time as by default);
* read: ``MefReader(path)`` then ``get_data(channels)`` of the whole session, and 100
  windowed ``get_data(channel, t0, t0 + 1 s)`` calls.

Each timing is the best of ``--repeat`` runs. The data read back by both readers, from
both writers' sessions, is checked to be identical (values and NaN positions).

    python benchmarks/legacy_speed.py                # 4 channels x 10 min at 1 kHz
    python benchmarks/legacy_speed.py --channels 8 --minutes 60 --fs 512
    python benchmarks/legacy_speed.py --quantization # docs/legacy.md D3 table only
"""
import argparse
import contextlib
import gc
import io
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

T0 = 1_600_000_000_000_000


def make_data(n_channels, n, fs, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for c in range(n_channels):
        x = np.cumsum(rng.standard_normal(n)) * 0.5 + rng.standard_normal(n) * 20.0
        g = int(n * (0.2 + 0.6 * c / max(1, n_channels)))
        x[g : g + int(2 * fs)] = np.nan
        out.append(x)
    return out


def write(MefWriter, path, data, fs):
    if os.path.exists(path):
        shutil.rmtree(path)  # mef_tools sleeps 3 s after deleting an existing session
    w = MefWriter(path, overwrite=True)
    for c, x in enumerate(data):
        assert w.write_data(x, f"ch{c:02d}", T0, fs, precision=3) is True
    del w  # both write through on every call; nothing left to flush


def write_chunks(MefWriter, path, fs, n_chunks=200, n_channels=2):
    if os.path.exists(path):
        shutil.rmtree(path)
    chunk = make_data(1, int(fs), fs, seed=1)[0]
    chunk[np.isnan(chunk)] = 0.0
    w = MefWriter(path, overwrite=True)
    for k in range(n_chunks):
        for c in range(n_channels):
            assert w.write_data(chunk, f"ch{c}", T0 + k * 1_000_000, fs, precision=2) is True
    del w


def read_all(MefReader, path):
    r = MefReader(path)
    d = r.get_data(r.channels)
    r.close()
    return d


def read_windows(MefReader, path, fs, n_windows=100):
    r = MefReader(path)
    ch = r.channels[0]
    start = int(r.get_property("start_time", ch))
    end = int(r.get_property("end_time", ch))
    step = max(1, (end - start - 1_000_000) // n_windows)
    for k in range(n_windows):
        t = start + k * step
        r.get_data(ch, t, t + 1_000_000)
    r.close()


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def same(a, b):
    return all(x.shape == y.shape and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def quantization_table(n=1_000_000):
    """Share of samples mef_tools' rule stores one count away from rint(x * 10**p)."""
    from neo_mef3.legacy.quantize import to_int32, to_int32_exact

    rng = np.random.default_rng(0)
    with contextlib.redirect_stdout(io.StringIO()):
        for p in range(7):
            x = rng.standard_normal(n) * 100
            off = np.mean(to_int32(x, p) != to_int32_exact(x, p))
            sys.__stdout__.write(f"noise N(0, 100^2), precision {p}: {100 * off:.1f} % one count toward zero\n")
        for p in (1, 2, 3):
            x = rng.integers(-10**6, 10**6, n) / 10**p
            off = np.mean(to_int32(x, p) != to_int32_exact(x, p))
            sys.__stdout__.write(f"exact decimals, precision {p}: {100 * off:.1f} %\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--fs", type=float, default=1000.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--quantization", action="store_true", help="print the quantization table and exit")
    args = ap.parse_args(argv)
    if args.quantization:
        quantization_table()
        return 0

    import mef_tools.io as legacy_io

    import neo_mef3
    from neo_mef3 import legacy

    n = int(args.minutes * 60 * args.fs)
    data = make_data(args.channels, n, args.fs)
    work = args.workdir or tempfile.mkdtemp(prefix="legacy_speed_")
    p_theirs = os.path.join(work, "mef_tools.mefd")
    p_ours = os.path.join(work, "neo_mef3.mefd")
    impls = {"mef_tools": (legacy_io.MefReader, legacy_io.MefWriter), "neo_mef3": (legacy.MefReader, legacy.MefWriter)}

    results = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for name, (R, W) in impls.items():
            path = p_theirs if name == "mef_tools" else p_ours
            results[(name, "write")] = best(lambda: write(W, path, data, args.fs), args.repeat)
            results[(name, "write 400 x 1 s chunks")] = best(
                lambda: write_chunks(W, os.path.join(work, f"{name}_chunks.mefd"), args.fs), max(1, args.repeat // 2))
        for name, (R, W) in impls.items():
            for src, path in (("mef_tools", p_theirs), ("neo_mef3", p_ours)):
                results[(name, f"read all ({src} file)")] = best(lambda: read_all(R, path), args.repeat)
            results[(name, "100 x 1 s windows")] = best(lambda: read_windows(R, p_ours, args.fs), args.repeat)
        reads = {(name, src): read_all(impls[name][0], path)
                 for name in impls for src, path in (("mef_tools", p_theirs), ("neo_mef3", p_ours))}

    ref = reads[("mef_tools", "mef_tools")]
    identical = all(same(ref, v) for v in reads.values())
    size = {k: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs_ in os.walk(p) for f in fs_)
            for k, p in (("mef_tools", p_theirs), ("neo_mef3", p_ours))}

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, neo_mef3 {neo_mef3.__version__}, "
          f"{os.cpu_count()} CPU(s)")
    print(f"session: {args.channels} channels x {args.minutes:g} min at {args.fs:g} Hz "
          f"({args.channels * n / 1e6:.2f} M samples), best of {args.repeat}")
    print(f"{'operation':28s} {'mef_tools':>10s} {'neo_mef3':>10s} {'speed-up':>9s}")
    ops = ["write", "write 400 x 1 s chunks", "read all (mef_tools file)", "read all (neo_mef3 file)",
           "100 x 1 s windows"]
    for op in ops:
        a, b = results[("mef_tools", op)], results[("neo_mef3", op)]
        print(f"{op:28s} {a:9.3f}s {b:9.3f}s {a / b:8.1f}x")
    print(f"session size: mef_tools {size['mef_tools'] / 1e6:.2f} MB, neo_mef3 {size['neo_mef3'] / 1e6:.2f} MB")
    print(f"all four writer x reader combinations return identical data: {identical}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
