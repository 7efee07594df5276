"""neo_mef3 against mef3io and pymef/mef_tools: every performance target in one run.

    python -m benchmarks                      # defaults: a few minutes on 2 cores
    python -m benchmarks --quick              # small sizes, a smoke run (~30 s)
    python -m benchmarks --only decode,open   # some of the tests
    python benchmarks/run.py --minutes 120 --repeats 9 --out /tmp/bench

Workloads (generated once, cached in ``benchmarks/_work/``, written by mef3io's Writer
with its default 10 000-sample blocks, so every reader reads the very same files):

* ``ieeg``: 1/f noise (40 uV rms) plus a waxing/waning 10 Hz rhythm (15 uV), 1 kHz,
  stored at 0.1 uV per count (about half the differences exceed a byte and are
  escaped) -- ``--minutes`` long (default 60: also the memory target's hour).
* ``white``: white noise (sd 20 000 counts) on random large steps: nearly every sample
  escaped, the high-entropy case -- ``--white-minutes`` long.
* ``open``: ``--open-channels`` x ``--open-segments`` (256 x 20) channels x segments of
  2 s each, for the open target.

Every test runs its contenders in alternation (round robin, ``--repeats`` rounds) in
this one process and reports medians, so slow phases of a noisy machine hit all alike;
ratios are ratios of medians. The results go to ``--out`` (default
``benchmarks/results/``): ``results.json`` (every timing), ``results.md`` (the tables
printed at the end) and ``throughput.png`` (matplotlib, optional: ``pip install
matplotlib``).

Tests (``--only`` names):

decode   RED decoding, one thread: a whole channel through each library's own reader
         (neo_mef3 ``Reader(n_threads=1).read_raw``, mef3io ``Reader(n_threads=1).read_raw``,
         pymef ``read_ts_channels_sample``, mef_tools ``MefReader.get_data``) and the bare
         codecs (``_red.decode_blocks`` vs mef3io's ``red_decode_block`` per block);
         also ``Reader.read`` (float64) against mef3io's ``read``.
cores    the same whole-channel reads with all cores (``n_threads=0``); output checked
         identical to the one-thread read.
encode   RED encoding, one thread (``_red.encode_blocks`` vs ``red_encode_block``).
write    a whole one-channel session, all cores and one thread (neo_mef3 ``Writer``
         with ``durable=False``, since the others do not fsync either; mef3io
         ``Writer``; mef_tools ``MefWriter`` for reference).
windows  1 s windows at random positions: ``Reader.read_raw``,
         ``MEF3RawIO.get_analogsignal_chunk``, mef3io ``read_raw``, pymef
         ``read_ts_channels_uutc``; time per call.
open     ``Reader(path)`` + ``info()`` of every channel and ``MEF3RawIO.parse_header()``
         against mef3io ``Reader`` + ``info()``, on ``--open-channels`` x 1 and x
         ``--open-segments`` segments, also encrypted; warm opens from the metadata cache
         (benchmarks/open_speed.py).
long     the same opens of ``--long-channels`` x 24 one-hour segments against one.
scaling  open time per channel for 16 to ``--scaling-max`` channels, plotted
         (``open_scaling.png``).
session  all channels of a ``--session-channels`` x ``--session-minutes`` session read
         with all cores: ``Reader.read``, a ``MEF3RawIO`` chunk of the stream (and
         ``neo_mef3.dask.to_dask`` where it exists) against mef3io's multi-channel
         ``read`` on all cores (benchmarks/session_speed.py).
memory   peak memory of reading the first hour of the ``ieeg`` channel as float64, in a
         fresh subprocess per library: tracemalloc peak (Python and numpy allocations)
         and the growth of the process's peak RSS, both over the output's size.
mne      ``neo_mef3.mne.read_raw_mef3`` against ``mne.io.read_raw_mef`` (pymef) on
         ``--mne-channels`` x ``--minutes`` at 1 kHz: lazy open, random 10 s windows via
         ``get_data(start, stop)``, and preload time and peak RSS in fresh processes
         (``benchmarks/mne_speed.py``).
dask     neo_mef3.dask (benchmarks/dask_speed.py): the per-minute feature pipeline over a
         ``--dask-channels`` x ``--dask-minutes`` session in one process vs to_dask on a
         LocalCluster of 1 and 2 workers, the task overhead at the default chunk size,
         and the 1 -> 2 worker scaling beside the machine's two-thread ceiling.
remote   the ``ieeg`` session and a 64-channel one over a local S3 (moto) and HTTP server
         that wait ``--remote-latency`` per request: open, 1 s windows and a whole-channel
         read through ``Reader(url)`` (time, requests, bytes), a packed ``.mefd.tar``,
         against downloading the whole session first (``benchmarks/remote_speed.py``).
"""

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import neo_mef3  # noqa: E402
from neo_mef3 import _red  # noqa: E402

T0 = 1_600_000_000_000_000
FS = 1000.0
UFACT = 0.1
CH = "ch"
IMPLS = ("neo_mef3", "mef3io", "pymef", "mef_tools")
TESTS = ("decode", "cores", "encode", "write", "windows", "open", "long", "scaling", "session", "memory", "mne",
         "dask", "remote")


# ------------------------------------------------------------------------------------
# workloads
# ------------------------------------------------------------------------------------

def pink_noise(n, rng):
    """Unit-variance 1/f noise (spectral shaping of white noise)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (x.std() or 1.0)


def ieeg_counts(n, fs=FS, seed=1):
    """iEEG-like counts at 0.1 uV: 1/f noise (40 uV) + waxing/waning 10 Hz rhythm (15 uV)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 2 * np.pi))
    rhythm = 15.0 * envelope * np.sin(2 * np.pi * 10.0 * t + rng.uniform(0, 2 * np.pi))
    return np.rint((40.0 * pink_noise(n, rng) + rhythm) / UFACT).astype(np.int32)


def white_counts(n, seed=2):
    """High entropy: white noise (sd 20 000 counts) on random steps of up to 10**6."""
    rng = np.random.default_rng(seed)
    steps = np.cumsum(np.where(rng.random(n) < 1e-3, rng.integers(-10**6, 10**6, n), 0))
    x = rng.normal(0, 20_000, n) + steps
    return np.clip(x, -2**30, 2**30).astype(np.int32)


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def write_mef3io(path, channels, new_segments=1):
    """channels: {name: int32 counts}; each written as ``new_segments`` segments."""
    import mef3io

    shutil.rmtree(path, ignore_errors=True)
    with quiet():
        w = mef3io.Writer(path, overwrite=True)
        try:
            for name, x in channels.items():
                parts = np.array_split(x, new_segments)
                t = T0
                for k, part in enumerate(parts):
                    w.write_int32(name, part, UFACT, t, FS, new_segment=k > 0)
                    t += int(round(len(part) * 1e6 / FS)) + 1_000_000  # 1 s gap between segments
        finally:
            w.close()


class Workloads:
    def __init__(self, work, minutes, white_minutes, open_channels, open_segments, fresh):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.spec = dict(minutes=minutes, white_minutes=white_minutes,
                         open_channels=open_channels, open_segments=open_segments)
        self.fresh = fresh
        self._data = {}

    def samples(self, name):
        if name not in self._data:
            if name == "ieeg":
                self._data[name] = ieeg_counts(int(self.spec["minutes"] * 60 * FS))
            elif name == "white":
                self._data[name] = white_counts(int(self.spec["white_minutes"] * 60 * FS))
            else:
                raise KeyError(name)
        return self._data[name]

    def _cached(self, key, build):
        path = os.path.join(self.work, key + ".mefd")
        stamp = os.path.join(self.work, key + ".done")
        if self.fresh or not os.path.exists(stamp):
            t = time.perf_counter()
            build(path)
            open(stamp, "w").close()
            print(f"  built {path} in {time.perf_counter() - t:.1f} s", flush=True)
        return path

    def session(self, name):
        if name == "open":
            c, s = self.spec["open_channels"], self.spec["open_segments"]
            key = f"open_{c}x{s}"
            x = ieeg_counts(int(2 * FS * s), seed=3)
            return self._cached(key, lambda p: write_mef3io(p, {f"ch{i:03d}": x for i in range(c)}, s))
        minutes = self.spec["minutes" if name == "ieeg" else "white_minutes"]
        key = f"{name}_{minutes:g}min"
        return self._cached(key, lambda p: write_mef3io(p, {CH: self.samples(name)}))


# ------------------------------------------------------------------------------------
# measurement
# ------------------------------------------------------------------------------------

def alternate(fns, repeats, warmup=1):
    """Run the callables round robin; returns {name: [seconds, ...]}."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return times


def med(v):
    return statistics.median(v)


class Results:
    def __init__(self):
        self.rows = []      # dict(test, case, impl, value, unit, times)
        self.targets = []   # dict(target, measured, goal, met, note)
        self.notes = []

    def add(self, test, case, impl, value, unit, times=None, **extra):
        row = dict(test=test, case=case, impl=impl, value=value, unit=unit, times=times)
        row.update(extra)
        self.rows.append(row)
        shown = f"{value:10.2f} {unit}" if value is not None else "   skipped"
        print(f"  {test:8s} {case:34s} {impl:24s} {shown}", flush=True)

    def target(self, target, measured, goal, note=""):
        met = None if measured is None else bool(measured >= goal)
        self.targets.append(dict(target=target, measured=measured, goal=goal, met=met, note=note))
        m = "n/a" if measured is None else f"{measured:.2f}"
        print(f"  TARGET {target}: {m} (goal >= {goal:g}) {'' if met is None else ('met' if met else 'NOT met')} {note}",
              flush=True)

    def value(self, test, case, impl):
        for r in self.rows:
            if (r["test"], r["case"], r["impl"]) == (test, case, impl):
                return r["value"]
        return None


def ms_per_s(n, seconds):
    return n / seconds / 1e6


# --- adapters ------------------------------------------------------------------------

def _mef3io_reader(path, n_threads):
    import mef3io

    with quiet():
        return mef3io.Reader(path, n_threads=n_threads)


def _pymef_session(path):
    from pymef.mef_session import MefSession

    with quiet():
        return MefSession(path, "")


def _check(name, got, want):
    if not np.array_equal(np.asarray(got), np.asarray(want)):
        raise AssertionError(f"{name}: output differs from the stored samples")


# ------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------

def test_decode(res, wl, args):
    for name in ("ieeg", "white"):
        path = wl.session(name)
        x = wl.samples(name)
        n = x.size
        neo = neo_mef3.Reader(path, n_threads=1)
        m3 = _mef3io_reader(path, 1)
        pm = _pymef_session(path)
        _check("neo_mef3", neo.read_raw(CH)["samples"], x)
        with quiet():
            _check("mef3io", m3.read_raw(CH)["samples"], x)
            _check("pymef", pm.read_ts_channels_sample(CH, [0, n]), x)
        fns = {
            "neo_mef3": lambda: neo.read_raw(CH),
            "mef3io": lambda: m3.read_raw(CH),
            "pymef": lambda: pm.read_ts_channels_sample(CH, [0, n]),
        }
        mt = None
        if name == "ieeg":
            from mef_tools.io import MefReader

            with quiet():
                mt = MefReader(path)
            fns["mef_tools"] = lambda: mt.get_data(CH)
        with quiet():
            times = alternate(fns, args.repeats)
        for k, v in times.items():
            res.add("decode", f"{name}, whole channel, 1 thread", k, ms_per_s(n, med(v)), "MS/s", v)
        r_m3 = med(times["mef3io"]) / med(times["neo_mef3"])
        r_pm = med(times["pymef"]) / med(times["neo_mef3"])
        if name == "ieeg":
            res.target("decode 1 thread, ieeg: neo_mef3 / mef3io", r_m3, 1.5)
            res.target("decode 1 thread, ieeg: neo_mef3 / pymef (meflib)", r_pm, 1.5)
        else:
            res.target("decode 1 thread, white: neo_mef3 / mef3io", r_m3, 1.0)
            res.target("decode 1 thread, white: neo_mef3 / pymef (meflib)", r_pm, 1.0)

        # float64 output (Reader.read vs mef3io read), one thread
        with quiet():
            times = alternate({"neo_mef3": lambda: neo.read(CH), "mef3io": lambda: m3.read(CH)}, args.repeats)
        for k, v in times.items():
            res.add("decode", f"{name}, read() float64, 1 thread", k, ms_per_s(n, med(v)), "MS/s", v)

        # bare codecs on the same blocks
        import mef3io._mef3io as M

        neo.read_raw(CH)  # warm
        blk, buf, offs, starts = _blocks_in_memory(neo)
        outs = np.empty(n, np.int32)
        blocks = [buf[o:o + s].tobytes() for o, s in zip(offs, blk["nbytes"])]
        z = bytes(16)

        def m3_codec():
            for bb in blocks:
                M.red_decode_block(bb, "", z, z)

        times = alternate({
            "neo_mef3": lambda: _red.decode_blocks(buf, offs, blk["nbytes"], blk["n"], outs, starts),
            "mef3io": m3_codec,
        }, args.repeats)
        _check("codec", outs, x)
        for k, v in times.items():
            res.add("decode", f"{name}, codec only, 1 thread", k, ms_per_s(n, med(v)), "MS/s", v)
        neo.close()
        m3.close()


def test_cores(res, wl, args):
    name = "ieeg"
    path = wl.session(name)
    x = wl.samples(name)
    n = x.size
    n1 = neo_mef3.Reader(path, n_threads=1)
    na = neo_mef3.Reader(path, n_threads=0)
    m1 = _mef3io_reader(path, 1)
    ma = _mef3io_reader(path, 0)
    # each library's pair alternates on its own: right after a read by the other library
    # the second core is often slow to come back (a virtual machine's idle vCPU)
    with quiet():
        same = (np.array_equal(na.read_raw(CH)["samples"], n1.read_raw(CH)["samples"])
                and np.array_equal(na.read(CH), n1.read(CH)))
        times = alternate({"neo_mef3 1 thread": lambda: n1.read_raw(CH),
                           "neo_mef3 all cores": lambda: na.read_raw(CH)}, args.repeats + 2)
        times_f = alternate({"neo_mef3 1 thread": lambda: n1.read(CH),
                             "neo_mef3 all cores": lambda: na.read(CH)}, args.repeats + 2)
        times.update(alternate({"mef3io 1 thread": lambda: m1.read_raw(CH),
                                "mef3io all cores": lambda: ma.read_raw(CH)}, args.repeats))
    ceiling = _two_thread_ceiling(n1, n, args.repeats + 2)
    for k, v in times.items():
        res.add("cores", f"{name}, whole channel, read_raw", k, ms_per_s(n, med(v)), "MS/s", v)
    for k, v in ceiling.items():
        res.add("cores", f"{name}, codec only, blocks in memory", k, ms_per_s(n, med(v)), "MS/s", v)
    for k, v in times_f.items():
        res.add("cores", f"{name}, whole channel, read() float64", k, ms_per_s(n, med(v)), "MS/s", v)
    cores = os.cpu_count()
    res.target(f"all cores ({cores}) / 1 thread, neo_mef3 read_raw",
               med(times["neo_mef3 1 thread"]) / med(times["neo_mef3 all cores"]), 1.7,
               "output identical" if same else "OUTPUT DIFFERS")
    res.target(f"all cores ({cores}) / 1 thread, neo_mef3 read() float64",
               med(times_f["neo_mef3 1 thread"]) / med(times_f["neo_mef3 all cores"]), 1.7,
               "output identical" if same else "OUTPUT DIFFERS")
    res.notes.append(
        "what the machine gives: the decoder alone on two plain threads sharing 32 pieces (blocks in memory, "
        f"no Reader) ran {med(ceiling['codec 1 thread']) / med(ceiling['codec 2 plain threads']):.2f}x its "
        "one-thread speed in this run (other jobs on the host lower this and the all-cores ratios alike)")
    res.notes.append(f"all cores: neo_mef3 all cores / mef3io all cores = "
                     f"{med(times['mef3io all cores']) / med(times['neo_mef3 all cores']):.2f}")
    if not same:
        raise AssertionError("multi-threaded output differs")
    for r in (n1, na, m1, ma):
        r.close()


def _blocks_in_memory(reader):
    """The benchmark channel's RED blocks read into memory: (block table, bytes, offsets
    in them, first output sample of each block), for timing the codec alone."""
    blk = reader.block_table(CH)
    blk = {"offset": blk["file_offset"], "nbytes": blk["block_bytes"], "n": blk["number_of_samples"]}
    lo = int(blk["offset"][0])
    hi = int((blk["offset"] + blk["nbytes"]).max())
    data = reader.source.open(reader.segment_files(CH)[0].tdat)
    try:
        buf = np.frombuffer(data.read(lo, hi), np.uint8)
    finally:
        data.close()
    starts = np.concatenate([[0], np.cumsum(blk["n"])[:-1]]).astype(np.int64)
    return blk, buf, blk["offset"] - lo, starts


def _two_thread_ceiling(reader, n, repeats):
    """What two cores give right now: the codec on the channel's blocks already in
    memory, all in one thread vs two plain threads taking 32 pieces from a shared queue
    (no Reader, no I/O; the queue evens out a core the machine slows down)."""
    import threading

    blk, buf, offs, starts = _blocks_in_memory(reader)
    out = np.empty(n, np.int32)
    pieces = np.array_split(np.arange(len(offs)), 32)

    def part(ids):
        _red.decode_blocks(buf, offs[ids], blk["nbytes"][ids], blk["n"][ids], out, starts[ids])

    def worker(queue):
        while True:
            try:
                ids = queue.pop()
            except IndexError:
                return
            part(ids)

    def two():
        queue = list(pieces)
        threads = [threading.Thread(target=worker, args=(queue,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return alternate({"codec 1 thread": lambda: part(np.arange(len(offs))), "codec 2 plain threads": two}, repeats)


def test_encode(res, wl, args):
    import mef3io._mef3io as M

    z = bytes(16)
    for name in ("ieeg", "white"):
        x = wl.samples(name)
        n = x.size
        B = 10_000
        nb = n // B
        starts = np.arange(nb, dtype=np.int64) * B
        counts = np.full(nb, B, np.int64)
        times_ = np.zeros(nb, np.int64)
        flags = np.zeros(nb, np.uint8)
        ref = M.red_encode_block(x[:B], 0, False, 0, "", z, z)
        data, bb, _, _, _ = _red.encode_blocks(x[:B], [0], [B], [0], [0])
        if bytes(ref)[4:] != data.tobytes()[4:] and bytes(ref)[40:] != data.tobytes()[40:]:
            res.notes.append(f"encode {name}: mef3io's block bytes differ from neo_mef3's (header fields)")

        def m3():
            for i in range(nb):
                M.red_encode_block(x[i * B:(i + 1) * B], 0, False, 0, "", z, z)

        times = alternate({
            "neo_mef3": lambda: _red.encode_blocks(x, starts, counts, times_, flags, n_threads=1),
            "mef3io": m3,
        }, args.repeats)
        for k, v in times.items():
            res.add("encode", f"{name}, codec only, 1 thread", k, ms_per_s(nb * B, med(v)), "MS/s", v)
        r = med(times["mef3io"]) / med(times["neo_mef3"])
        res.target(f"encode 1 thread, {name}: neo_mef3 / mef3io", r, 1.3 if name == "ieeg" else 1.0,
                   "" if name == "ieeg" else "(no goal stated for white; shown for reference)")


def test_write(res, wl, args):
    import mef3io

    name = "ieeg"
    x = wl.samples(name)
    n = x.size
    xf = x * UFACT
    out = os.path.join(wl.work, "write")
    os.makedirs(out, exist_ok=True)

    def neo_write(threads):
        def run():
            p = os.path.join(out, f"neo{threads}.mefd")
            with neo_mef3.Writer(p, overwrite=True, n_threads=threads, durable=False) as w:
                w.write_int32(CH, x, UFACT, T0, FS)
        return run

    def m3_write(threads):
        def run():
            p = os.path.join(out, f"m3{threads}.mefd")
            w = mef3io.Writer(p, overwrite=True, n_threads=threads)
            w.write_int32(CH, x, UFACT, T0, FS)
            w.close()
        return run

    n_mt = min(n, int(120 * FS))  # mef_tools is ~100x slower: 2 minutes of it

    def mt_write():
        from mef_tools.io import MefWriter

        p = os.path.join(out, "mt.mefd")
        w = MefWriter(p, overwrite=True)
        w.write_data(xf[:n_mt], CH, T0, FS, precision=1)
        w.session.close()

    fns = {
        "neo_mef3 all cores": neo_write(0),
        "mef3io all cores": m3_write(0),
        "neo_mef3 1 thread": neo_write(1),
        "mef3io 1 thread": m3_write(1),
        "mef_tools": mt_write,
    }
    with quiet():
        times = alternate(fns, max(3, args.repeats // 2))
        got = neo_mef3.Reader(os.path.join(out, "neo0.mefd")).read_raw(CH)["samples"]
        _check("neo_mef3 Writer", got, x)
    for k, v in times.items():
        m = n_mt if k == "mef_tools" else n
        res.add("write", f"{name}, one-channel session", k, ms_per_s(m, med(v)), "MS/s", v)
    res.notes.append(f"write: {n / 6e4:g} min at 1 kHz, int32 counts (mef_tools: float data at precision 1, "
                     f"first {n_mt / 6e4:g} min only); neo_mef3 Writer(durable=False)")
    res.target("whole-session write, all cores: neo_mef3 / mef3io",
               med(times["mef3io all cores"]) / med(times["neo_mef3 all cores"]), 1.0)
    shutil.rmtree(out, ignore_errors=True)


def test_windows(res, wl, args):
    name = "ieeg"
    path = wl.session(name)
    n = wl.samples(name).size
    rng = np.random.default_rng(7)
    k = rng.integers(0, n - int(FS), args.windows)
    ts = [T0 + int(round(int(i) * 1e6 / FS)) for i in k]
    neo = neo_mef3.Reader(path)
    m3 = _mef3io_reader(path, 0)
    pm = _pymef_session(path)
    raw = None
    try:
        from neo_mef3.rawio import MEF3RawIO

        raw = MEF3RawIO(dirname=path)
        raw.parse_header()
    except Exception as exc:  # noqa: BLE001 - reported as a skipped row
        res.notes.append(f"MEF3RawIO rows skipped: {type(exc).__name__}: {exc}")
        raw = None

    # same values from every reader at one position
    i0, t0 = int(k[0]), ts[0]
    a = neo.read_raw(CH, t0, t0 + 1_000_000)["samples"]
    with quiet():
        _check("mef3io window", m3.read_raw(CH, t0, t0 + 1_000_000)["samples"], a)
    if raw is not None:
        _check("MEF3RawIO window", raw.get_analogsignal_chunk(0, 0, i0, i0 + int(FS), 0, [0])[:, 0], a)

    def loop(f):
        def run():
            for i, t in zip(k, ts):
                f(int(i), t)
        return run

    fns = {
        "neo_mef3 Reader.read_raw": loop(lambda i, t: neo.read_raw(CH, t, t + 1_000_000)),
        "mef3io read_raw": loop(lambda i, t: m3.read_raw(CH, t, t + 1_000_000)),
        "pymef read_ts_channels_uutc": loop(lambda i, t: pm.read_ts_channels_uutc(CH, [t, t + 1_000_000])),
    }
    if raw is not None:
        fns["neo_mef3 MEF3RawIO chunk"] = loop(
            lambda i, t: raw.get_analogsignal_chunk(0, 0, i, i + int(FS), 0, [0]))
    with quiet():
        times = alternate(fns, args.repeats)
    per = {key: med(v) / len(k) * 1e6 for key, v in times.items()}
    for key, v in times.items():
        res.add("windows", f"{name}, 1 s window, per call", key, per[key], "us", v)
    if raw is None:
        res.add("windows", f"{name}, 1 s window, per call", "neo_mef3 MEF3RawIO chunk", None, "us")
    # one block decode, for scale (when this run measured the codec: --only windows did not)
    codec = res.value("decode", "ieeg, codec only, 1 thread", "neo_mef3")
    if codec:
        res.notes.append(f"windows: one 10 000-sample block decodes in about {1e4 / codec:.0f} us (neo_mef3)")
    res.target("1 s window: mef3io read_raw / neo_mef3 Reader.read_raw",
               per["mef3io read_raw"] / per["neo_mef3 Reader.read_raw"], 1.0)
    res.target("1 s window: mef3io read_raw / neo_mef3 MEF3RawIO chunk",
               per["mef3io read_raw"] / per["neo_mef3 MEF3RawIO chunk"] if raw is not None else None, 1.0,
               "" if raw is not None else "MEF3RawIO not available")
    neo.close()
    m3.close()


def test_open(res, wl, args):
    from benchmarks import open_speed

    open_speed.test_open(res, wl, args)


def test_long(res, wl, args):
    from benchmarks import open_speed

    open_speed.test_long(res, wl, args)


def test_scaling(res, wl, args):
    from benchmarks import open_speed

    open_speed.test_scaling(res, wl, args)


def test_session(res, wl, args):
    from benchmarks import session_speed

    session_speed.test_session(res, wl, args)


#: a child process's peak RSS (VmHWM; ru_maxrss would start at the parent's, inherited at fork)
HWM_FUNCTION = r"""def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0"""

_MEMORY_CHILD = r"""
import json, sys, tracemalloc, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[3])
impl, path = sys.argv[1], sys.argv[2]
T0, HOUR = 1_600_000_000_000_000, 3_600_000_000
if impl == "neo_mef3":
    import neo_mef3
    r = neo_mef3.Reader(path)
    read = lambda a, b: r.read("ch", a, b)
elif impl == "mef3io":
    import mef3io
    r = mef3io.Reader(path)
    read = lambda a, b: r.read("ch", a, b)
else:
    from pymef.mef_session import MefSession
    r = MefSession(path, "")
    read = lambda a, b: r.read_ts_channels_uutc("ch", [a, b])
HWM_FUNCTION
read(T0, T0 + 1_000_000)  # warm: imports, metadata, index
rss0 = hwm()
tracemalloc.start()
out = read(T0, T0 + HOUR)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss1 = hwm()
print(json.dumps({"out": int(out.nbytes), "traced_peak": int(peak), "rss_growth": int(rss1 - rss0)}))
"""


_MEMORY_CHILD = _MEMORY_CHILD.replace("HWM_FUNCTION", HWM_FUNCTION)


def test_memory(res, wl, args):
    if wl.spec["minutes"] < 60:
        res.notes.append("memory: the ieeg session is shorter than an hour; the read covers all of it")
    path = wl.session("ieeg")
    got = {}
    for rnd in range(2):  # two fresh processes each, alternating; the smaller peak counts
        for impl in ("neo_mef3", "mef3io", "pymef"):
            p = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, impl, path, ROOT],
                               capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                res.notes.append(f"memory {impl}: failed ({p.stderr.strip().splitlines()[-1:]})")
                continue
            d = json.loads(p.stdout.strip().splitlines()[-1])
            prev = got.get(impl)
            if prev is not None:  # RSS growth can only be understated (freed memory reused)
                d = dict(d, traced_peak=min(d["traced_peak"], prev["traced_peak"]),
                         rss_growth=max(d["rss_growth"], prev["rss_growth"]))
            got[impl] = d
    for impl, d in got.items():
        res.add("memory", "1 h read(), tracemalloc peak / output", impl, d["traced_peak"] / d["out"], "x")
        res.add("memory", "1 h read(), peak RSS growth / output", impl, d["rss_growth"] / d["out"], "x")
    res.notes.append("memory: tracemalloc sees Python and numpy allocations only (mef3io's C++ buffers are "
                     "invisible to it); the peak-RSS growth counts everything but is a lower bound (memory "
                     "the process had freed before is reused)")
    d = got.get("neo_mef3")
    res.target("memory: output / neo_mef3 traced peak (peak <= 1.3x output)",
               None if d is None else 1.3 * d["out"] / d["traced_peak"], 1.0,
               "" if d is None else f"peak = {d['traced_peak'] / d['out']:.3f}x output "
               f"(RSS growth {d['rss_growth'] / d['out']:.3f}x)")


def test_remote(res, wl, args):
    from benchmarks import remote_speed

    remote_speed.measure(res, wl.work, wl.spec["minutes"], min(args.windows, 20), args.remote_latency,
                         max(3, args.repeats // 2))


def test_mne(res, wl, args):
    from benchmarks import mne_speed

    mne_speed.measure(res, wl.work, args.mne_channels, wl.spec["minutes"], repeats=max(3, args.repeats // 2))


def test_dask(res, wl, args):
    from benchmarks import dask_speed

    dask_speed.test_dask(res, wl, args)


# ------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------

def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    versions = {}
    for mod in ("numpy", "mef3io", "pymef", "mef_tools", "neo"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod.replace("_", "-") if mod == "mef_tools" else mod)
        except Exception:  # noqa: BLE001
            versions[mod] = "?"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
        "python": platform.python_version(), "platform": platform.platform(), "versions": versions,
    }


def markdown(res, meta, args):
    lines = [f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']} GiB; "
             f"Python {meta['python']}; " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
             f"Command: `{meta['command']}` ({args.repeats} alternating rounds, medians)", ""]
    lines += ["| test | case | implementation | median |", "|---|---|---|---|"]
    for r in res.rows:
        v = "skipped" if r["value"] is None else f"{r['value']:.2f} {r['unit']}"
        lines.append(f"| {r['test']} | {r['case']} | {r['impl']} | {v} |")
    lines += ["", "| target | measured | goal | met |", "|---|---|---|---|"]
    for t in res.targets:
        m = "n/a" if t["measured"] is None else f"{t['measured']:.2f}"
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"| {t['target']}{note} | {m} | >= {t['goal']:g} | {met} |")
    if res.notes:
        lines += [""] + [f"- {n}" for n in res.notes]
    return "\n".join(lines) + "\n"


def plot(res, path):
    """Horizontal bars: one per implementation and case, grouped by case, coloured by library."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no plot)")
        return None
    rows = [r for r in res.rows if r["unit"] == "MS/s" and r["value"] is not None]
    cases = []
    for r in rows:
        c = f"{r['test']}: {r['case']}"
        if c not in cases:
            cases.append(c)
    colors = {"neo_mef3": "#1f77b4", "mef3io": "#ff7f0e", "pymef": "#2ca02c", "mef_tools": "#d62728"}
    ys, vals, cols, labels, ticks = [], [], [], [], []
    y = 0.0
    for c in cases:
        mine = [r for r in rows if f"{r['test']}: {r['case']}" == c]
        ticks.append((y + (len(mine) - 1) / 2, c))
        for r in mine:
            lib = r["impl"].split()[0]
            ys.append(y)
            vals.append(r["value"])
            cols.append(colors.get(lib, "#7f7f7f"))
            labels.append(f" {r['impl']}  " + (f"{r['value']:.1f}" if r["value"] >= 1 else f"{r['value']:.2f}"))
            y += 1
        y += 0.8
    if not vals:  # no throughput rows (e.g. --only open)
        return None
    fig, ax = plt.subplots(figsize=(10, 0.28 * y + 1.2))
    ax.barh(ys, vals, height=0.8, color=cols)
    for yy, v, lab in zip(ys, vals, labels):
        ax.text(v, yy, lab, va="center", fontsize=7)
    ax.set_yticks([t for t, _ in ticks])
    ax.set_yticklabels([c for _, c in ticks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(vals) * 1.35)
    ax.set_xlabel("million samples per second (median of alternating runs)")
    ax.set_title("MEF 3.0 throughput per implementation and workload")
    handles = [plt.Rectangle((0, 0), 1, 1, color=v) for v in colors.values()]
    ax.legend(handles, list(colors), fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the ieeg session (default 60)")
    ap.add_argument("--white-minutes", type=float, default=30.0, help="length of the white session (default 30)")
    ap.add_argument("--repeats", type=int, default=7, help="alternating rounds per test (default 7)")
    ap.add_argument("--windows", type=int, default=200, help="random 1 s windows per round (default 200)")
    ap.add_argument("--open-channels", type=int, default=256)
    ap.add_argument("--open-segments", type=int, default=20)
    ap.add_argument("--dask-channels", type=int, default=64, help="channels of the dask session (default 64)")
    ap.add_argument("--dask-minutes", type=float, default=60.0, help="length of the dask session (default 60)")
    ap.add_argument("--long-channels", type=int, default=64, help="channels of the long session (default 64)")
    ap.add_argument("--scaling-max", type=int, default=1024, help="most channels of the scaling test (default 1024)")
    ap.add_argument("--session-channels", type=int, default=256, help="channels of the session test (default 256)")
    ap.add_argument("--session-minutes", type=float, default=10.0, help="length of the session test (default 10)")
    ap.add_argument("--mne-channels", type=int, default=64, help="channels of the MNE workload (default 64)")
    ap.add_argument("--remote-latency", type=float, default=0.02, help="seconds the remote rows' servers wait per "
                    "request (default 0.02)")
    ap.add_argument("--only", default=",".join(TESTS), help=f"comma-separated tests of {', '.join(TESTS)}")
    ap.add_argument("--work", default=os.path.join(HERE, "_work"), help="where the sessions are kept")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where results are written")
    ap.add_argument("--fresh", action="store_true", help="rebuild the sessions")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.white_minutes, args.repeats, args.windows = 5.0, 3.0, 3, 50
        args.open_channels, args.open_segments, args.mne_channels = 32, 5, 8
        args.dask_channels, args.dask_minutes = 8, 10.0
        args.long_channels, args.scaling_max, args.session_channels, args.session_minutes = 8, 64, 16, 1.0
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    for t in only:
        if t not in TESTS:
            ap.error(f"unknown test {t!r}")
    meta = machine()
    meta["command"] = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"{meta['cpu']}, {meta['cores']} cores; results -> {args.out}", flush=True)
    wl = Workloads(args.work, args.minutes, args.white_minutes, args.open_channels, args.open_segments, args.fresh)
    res = Results()
    t_all = time.perf_counter()
    for t in TESTS:
        if t in only:
            print(f"[{t}]", flush=True)
            globals()[f"test_{t}"](res, wl, args)
    meta["seconds"] = round(time.perf_counter() - t_all, 1)
    os.makedirs(args.out, exist_ok=True)
    md = markdown(res, meta, args)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": meta, "args": vars(args), "rows": res.rows, "targets": res.targets,
                   "notes": res.notes}, f, indent=1)
    png = plot(res, os.path.join(args.out, "throughput.png"))
    print()
    print(md)
    print(f"written: {os.path.join(args.out, 'results.md')}, results.json" + (f", {png}" if png else "")
          + f" ({meta['seconds']} s)")
    return res


if __name__ == "__main__":
    main()
