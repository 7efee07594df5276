"""Opening sessions (issue 18): neo_mef3 against mef3io, side by side in one process.

What is timed, each alternating with the others (``run.alternate``), medians:

* ``Reader(path)`` + ``info()`` of every channel (neo_mef3 and mef3io, all cores), and
  ``MEF3RawIO.parse_header()``;
* on ``--open-channels`` (256) channels of one segment (the usual clinical layout) and of
  ``--open-segments`` (20) segments, and the latter encrypted (mef3io's writer, both
  passwords; opened with the level-2 one);
* a long session: ``--long-channels`` (64) channels of 24 one-hour segments against the
  same channels in one one-hour segment (10 Hz: the metadata, not the samples, is what an
  open reads), ``Reader()`` alone too (it reads the first channel only);
* scaling: the time per channel of ``Reader`` + ``info()`` and ``parse_header()`` for
  16 to 1024 channels of one segment, plotted (``open_scaling.png``);
* warm opens from the metadata cache (``Reader(path, cache=...)``) beside the cold ones.

Every session is written once by mef3io's Writer into ``benchmarks/_work/``.

    python -m benchmarks --only open,long,scaling
    python benchmarks/open_speed.py --only scaling --repeats 9
"""

import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import run  # noqa: E402

PASSWORDS = ("pass1", "pass2")
LONG_FS = 10.0
HOUR = 3600
SCALING_COUNTS = (16, 64, 256, 1024)


def _write(path, channels, segments, seconds, fs, passwords=("", "")):
    """``channels`` channels of ``segments`` segments of ``seconds`` each (1 s apart),
    written by mef3io."""
    import mef3io

    x = run.ieeg_counts(int(seconds * fs * segments), fs=fs, seed=3)
    parts = np.array_split(x, segments)
    with run.quiet():
        w = mef3io.Writer(path, overwrite=True, password1=passwords[0], password2=passwords[1])
        try:
            for c in range(channels):
                t = run.T0
                for k, part in enumerate(parts):
                    w.write_int32(f"ch{c:04d}", part, run.UFACT, t, fs, new_segment=k > 0)
                    t += int(round(len(part) * 1e6 / fs)) + 1_000_000
        finally:
            w.close()


def session(wl, channels, segments, seconds=2.0, fs=run.FS, encrypted=False):
    key = f"open_{channels}x{segments}" + (f"_{seconds:g}s_{fs:g}Hz" if (seconds, fs) != (2.0, run.FS) else "")
    key += "_encrypted" if encrypted else ""
    return wl._cached(key, lambda p: _write(p, channels, segments, seconds, fs, PASSWORDS if encrypted else ("", "")))


def openers(path, password="", cache=None):
    """The timed opens of one session: {name: callable}."""
    import neo_mef3
    from neo_mef3.rawio import MEF3RawIO

    def neo_open():
        r = neo_mef3.Reader(path, password=password)
        for c in r.channels:
            r.info(c)
        r.close()

    def m3_open():
        import mef3io

        with run.quiet():
            r = mef3io.Reader(path, password=password, n_threads=0)
            for c in r.channels:
                r.info(c)
            r.close()

    def rawio_open():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MEF3RawIO(dirname=path, password=password or None).parse_header()

    fns = {"neo_mef3 Reader+info": neo_open, "mef3io Reader+info": m3_open,
           "neo_mef3 MEF3RawIO.parse_header": rawio_open}
    if cache is not None:
        def neo_warm():
            r = neo_mef3.Reader(path, password=password, cache=cache)
            for c in r.channels:
                r.info(c)
            r.close()

        neo_warm()  # (the cache file written)
        fns["neo_mef3 Reader+info, warm cache"] = neo_warm
    return fns


def _has_cache():
    import inspect

    import neo_mef3

    return "cache" in inspect.signature(neo_mef3.Reader).parameters


def test_open(res, wl, args):
    """256 channels of one and of 20 segments, and encrypted: cold (and warm) opens."""
    c, s = args.open_channels, args.open_segments
    cache_dir = tempfile.mkdtemp(prefix="neo_mef3_bench_cache_")
    cases = [(f"{c} ch x 1 segment", session(wl, c, 1), "", 1.5, 1.2),
             (f"{c} ch x {s} segments", session(wl, c, s), "", 1.5, 1.5),
             (f"{c} ch x {s} segments, encrypted", session(wl, c, s, encrypted=True), PASSWORDS[1], 2.0, 2.0)]
    for case, path, password, goal_reader, goal_rawio in cases:
        cache = os.path.join(cache_dir, f"{len(case)}_{abs(hash(case))}.cache") if _has_cache() else None
        with run.quiet():
            times = run.alternate(openers(path, password, cache), max(3, args.repeats))
        for k, v in times.items():
            res.add("open", case, k, run.med(v) * 1e3, "ms", v)
        m3 = run.med(times["mef3io Reader+info"])
        res.target(f"open {case}: mef3io / neo_mef3 Reader+info", m3 / run.med(times["neo_mef3 Reader+info"]),
                   goal_reader)
        res.target(f"open {case}: mef3io / neo_mef3 MEF3RawIO.parse_header",
                   m3 / run.med(times["neo_mef3 MEF3RawIO.parse_header"]), goal_rawio)
        warm = times.get("neo_mef3 Reader+info, warm cache")
        if warm is not None:
            res.notes.append(f"open {case}: a warm open from the cache ran "
                             f"{run.med(times['neo_mef3 Reader+info']) / run.med(warm):.2f}x the cold one "
                             f"({m3 / run.med(warm):.2f}x mef3io's cold open)")


def test_long(res, wl, args):
    """A long session (24 one-hour segments per channel) against one segment per channel."""
    n = args.long_channels
    long_path = session(wl, n, 24, HOUR, LONG_FS)
    short_path = session(wl, n, 1, HOUR, LONG_FS)
    import neo_mef3

    fns = {}
    for label, path in (("24 x 1 h", long_path), ("1 x 1 h", short_path)):
        for k, f in openers(path).items():
            fns[f"{k}, {label}"] = f
        fns[f"neo_mef3 Reader(), {label}"] = lambda p=path: neo_mef3.Reader(p).close()
    with run.quiet():
        times = run.alternate(fns, max(3, args.repeats))
    for k, v in times.items():
        name, label = k.rsplit(", ", 1)
        res.add("long", f"{n} ch x {label} segments", name, run.med(v) * 1e3, "ms", v)
    for name in ("neo_mef3 Reader()", "neo_mef3 Reader+info", "neo_mef3 MEF3RawIO.parse_header", "mef3io Reader+info"):
        ratio = run.med(times[f"{name}, 24 x 1 h"]) / run.med(times[f"{name}, 1 x 1 h"])
        if name.startswith("neo_mef3"):
            res.target(f"long session: 2 / ({name} 24 segments / 1 segment) (time ratio {ratio:.2f}, goal < 2)",
                       2.0 / ratio, 1.0)
        else:
            res.notes.append(f"long session: mef3io Reader+info 24 segments / 1 segment = {ratio:.2f}")


def test_scaling(res, wl, args):
    """Time per channel of an open against the number of channels (one segment each)."""
    counts = [c for c in SCALING_COUNTS if c <= args.scaling_max]
    per = {}
    for c in counts:
        fns = openers(session(wl, c, 1))
        with run.quiet():
            times = run.alternate(fns, max(3, args.repeats))
        for k, v in times.items():
            per.setdefault(k, {})[c] = run.med(v) / c * 1e6
            res.add("scaling", f"{c} ch x 1 segment, per channel", k, run.med(v) / c * 1e6, "us", v)
    for k, d in per.items():
        if k.startswith("neo_mef3") and len(d) > 1:
            # flat: no step to more channels costs more per channel (fixed costs amortise)
            xs = sorted(d)
            growth = max(d[b] / d[a] for a, b in zip(xs, xs[1:]))
            res.target(f"scaling: {k} time per channel never grows ({xs[0]}..{xs[-1]} channels; largest step "
                       f"{growth:.2f}, goal <= 1.25; {d[xs[0]]:.1f} -> {d[xs[-1]]:.1f} us)", 1.25 / growth, 1.0)
    png = plot_scaling(per, os.path.join(args.out, "open_scaling.png"))
    if png:
        res.notes.append(f"scaling plot: {png}")


def plot_scaling(per, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = {"neo_mef3 Reader+info": ("#1f77b4", "o-"), "neo_mef3 MEF3RawIO.parse_header": ("#1f77b4", "s--"),
              "mef3io Reader+info": ("#ff7f0e", "o-"), "neo_mef3 Reader+info, warm cache": ("#2ca02c", "^:")}
    for k, d in per.items():
        color, style = styles.get(k, ("#7f7f7f", "x-"))
        xs = sorted(d)
        ax.plot(xs, [d[x] for x in xs], style, color=color, label=k)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({x for d in per.values() for x in d}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_ylim(bottom=0)
    ax.set_xlabel("channels (one segment each)")
    ax.set_ylabel("open time per channel (us, median)")
    ax.set_title("Opening a session: time per channel")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    run.main(["--only", "open,long,scaling"] + sys.argv[1:])
