"""Remote rows: a session read from an S3-compatible server and from an HTTP server.

Both servers run on 127.0.0.1 (moto's S3 server, read through s3fs; the test suite's
threaded HTTP server with ranges and index pages, read through fsspec's HTTP file
system) and wait ``--latency`` (20 ms) before answering each request, as a store across
a network would. They count the requests and bytes they serve.

Workloads: the ``ieeg`` channel of ``python -m benchmarks`` (``--minutes`` at 1 kHz,
10 000-sample blocks, written by mef3io) for the windows, and 64 channels x 2 segments
(10 s each, our Writer) for the open. For each store:

- open: ``Reader(url)`` + ``info()`` of every channel; the same of the packed
  ``.mefd.tar``; against downloading the whole session first (fsspec ``get``) and
  opening it locally;
- windows: random 1 s windows (the first one after the open also fetches the index),
  time, requests and bytes per window; against downloading the whole session first;
- whole channel: ``Reader.read`` of the whole ``ieeg`` channel, against the download.

    python benchmarks/remote_speed.py [--minutes 60] [--windows 20] [--latency 0.02]
    python -m benchmarks --only remote
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks import run  # noqa: E402

OPEN_CHANNELS = 64


def _servers_module():
    tests = os.path.join(run.ROOT, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from support.http_server import HttpServer
    from support.s3_server import S3Server

    return HttpServer, S3Server


def open_session(work):
    """64 channels x 2 segments of 10 s at 1 kHz (built once)."""
    import neo_mef3

    path = os.path.join(work, f"remote_open_{OPEN_CHANNELS}x2.mefd")
    stamp = path[: -len(".mefd")] + ".done"
    if not os.path.exists(stamp):
        x = run.ieeg_counts(20_000, seed=21)
        with neo_mef3.Writer(path, overwrite=True, durable=False) as w:
            for c in range(OPEN_CHANNELS):
                w.write_int32(f"ch{c:03d}", x[:10_000], run.UFACT, run.T0, run.FS)
                w.write_int32(f"ch{c:03d}", x[10_000:], run.UFACT, run.T0 + 12_000_000, run.FS, new_segment=True)
        open(stamp, "w").close()
    return path


class _Store:
    """A started server with the sessions published on it."""

    def __init__(self, kind, latency, sessions, tmp):
        HttpServer, S3Server = _servers_module()
        self.kind = kind
        if kind == "s3":
            self.server = S3Server().start()
            self.urls = {k: self.server.upload(p, "bench", os.path.basename(p)) for k, p in sessions.items()}
            self.options = self.server.options()
        else:
            root = os.path.join(tmp, "http")
            os.makedirs(root)
            for p in sessions.values():
                (shutil.copytree if os.path.isdir(p) else shutil.copyfile)(p, os.path.join(root, os.path.basename(p)))
            self.server = HttpServer(root).start()
            self.urls = {k: self.server.url(os.path.basename(p)) for k, p in sessions.items()}
            self.options = None
        self.server.set_latency(latency)

    def counted(self, fn):
        """(result, seconds, requests, bytes) of fn()."""
        self.server.reset()
        t = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t
        log = self.server.log
        return out, seconds, len(log), sum(s.bytes for s in log)

    def download(self, key, dst):
        """The whole session (or archive) fetched into dst, as a user would first."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(self.urls[key], **(self.options or {}))
        if key.endswith("tar"):
            fs.get_file(path, dst)
            return dst
        files = [f for f in fs.find(path) if not f.endswith("/")]  # (a listing, then every file at once)
        targets = [os.path.join(dst, *f[len(path):].strip("/").split("/")) for f in files]
        for t in targets:
            os.makedirs(os.path.dirname(t), exist_ok=True)
        fs.get(files, targets)
        return dst

    def stop(self):
        self.server.stop()


def _median_counted(store, fn, repeats):
    got = [store.counted(fn) for _ in range(repeats)]
    return got[0][0], run.med([g[1] for g in got]), got[0][2], got[0][3], [g[1] for g in got]


def measure(res, work, minutes=60.0, windows=20, latency=0.02, repeats=3):
    """Add the remote rows and ratios to a ``run.Results``."""
    import neo_mef3
    from neo_mef3.tools.pack import pack_session

    wl = run.Workloads(work, minutes, minutes, 0, 0, False)
    ieeg = wl.session("ieeg")
    wide = open_session(work)
    tar = os.path.join(work, os.path.basename(wide) + ".tar")
    if not os.path.exists(tar):
        pack_session(wide, tar)
    n = wl.samples("ieeg").size
    rng = np.random.default_rng(9)
    starts = [run.T0 + int(i) * 1000 for i in rng.integers(0, n - int(run.FS), windows)]
    with neo_mef3.Reader(ieeg) as local:
        want = local.read(run.CH, starts[0], starts[0] + 1_000_000)
    sizes = {k: sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs)
             for k, p in (("ieeg", ieeg), ("wide", wide))}
    res.notes.append(f"remote: every request waits {latency * 1e3:g} ms at the server; sessions: ieeg "
                     f"{sizes['ieeg'] / 1e6:.1f} MB (1 channel, {minutes:g} min), wide {sizes['wide'] / 1e6:.1f} MB "
                     f"({OPEN_CHANNELS} ch x 2 segments)")
    tmp = tempfile.mkdtemp(prefix="neo_mef3-remote-bench-")
    try:
        for kind in ("http", "s3"):
            store = _Store(kind, latency, {"ieeg": ieeg, "wide": wide, "tar": tar}, tmp)
            try:
                _measure_store(res, store, kind, starts, want, repeats, tmp)
            finally:
                store.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure_store(res, store, kind, starts, want, repeats, tmp):
    import neo_mef3

    opts = store.options

    def open_info(url):
        def go():
            with neo_mef3.Reader(url, storage_options=opts) as r:
                for c in r.channels:
                    r.info(c)
        return go

    def download_open(key):
        def go():
            dst = os.path.join(tmp, f"dl-{kind}-{key}")
            shutil.rmtree(dst, ignore_errors=True)
            if os.path.exists(dst):
                os.remove(dst)
            local = store.download(key, dst + (".mefd.tar" if key == "tar" else ".mefd"))
            with neo_mef3.Reader(local) as r:
                for c in r.channels:
                    r.info(c)
            return local
        return go

    case = f"{kind}, open {OPEN_CHANNELS} ch x 2 seg + info"
    rows = {"neo_mef3 Reader(url)": open_info(store.urls["wide"]),
            "neo_mef3 Reader(url of .mefd.tar)": open_info(store.urls["tar"]),
            "download whole session, then open": download_open("wide")}
    got = {k: _median_counted(store, f, repeats) for k, f in rows.items()}
    for k, (_, s, nreq, nbytes, times) in got.items():
        res.add("remote", case, k, s * 1e3, "ms", times, requests=nreq, bytes=nbytes)
        res.add("remote", case + " (requests)", k, nreq, "req")
        res.add("remote", case + " (bytes)", k, nbytes / 1e3, "kB")
    res.target(f"remote open ({kind}): download first / Reader(url)",
               got["download whole session, then open"][1] / got["neo_mef3 Reader(url)"][1], 1.0)

    # windows
    url = store.urls["ieeg"]
    per = {}
    with neo_mef3.Reader(url, storage_options=opts) as r:
        _, first, nreq, nbytes = store.counted(lambda: r.read(run.CH, starts[0], starts[0] + 1_000_000))
        x = r.read(run.CH, starts[0], starts[0] + 1_000_000)
        if not np.array_equal(np.nan_to_num(x, nan=-1e9), np.nan_to_num(want, nan=-1e9)):
            raise AssertionError("the remote window differs from the local one")
        res.add("remote", f"{kind}, first 1 s window (fetches the index)", "neo_mef3 Reader(url)", first * 1e3,
                "ms", requests=nreq, bytes=nbytes)
        res.add("remote", f"{kind}, first 1 s window (requests / kB)", "neo_mef3 Reader(url)", nreq, "req",
                bytes=nbytes)
        res.add("remote", f"{kind}, first 1 s window (kB)", "neo_mef3 Reader(url)", nbytes / 1e3, "kB")
        counted = [store.counted(lambda t=t: r.read(run.CH, t, t + 1_000_000)) for t in starts[1:]]
        per["remote"] = run.med([c[1] for c in counted])
        res.add("remote", f"{kind}, 1 s window, per call", "neo_mef3 Reader(url)", per["remote"] * 1e3, "ms",
                [c[1] for c in counted])
        res.add("remote", f"{kind}, 1 s window, requests per call", "neo_mef3 Reader(url)",
                run.med([c[2] for c in counted]), "req")
        res.add("remote", f"{kind}, 1 s window, kB per call", "neo_mef3 Reader(url)",
                run.med([c[3] for c in counted]) / 1e3, "kB")
        _, whole, nreq, nbytes = store.counted(lambda: r.read(run.CH))
        res.add("remote", f"{kind}, whole channel read", "neo_mef3 Reader(url)", whole, "s", requests=nreq,
                bytes=nbytes)
        res.add("remote", f"{kind}, whole channel read (requests)", "neo_mef3 Reader(url)", nreq, "req")

    def download_window():
        dst = os.path.join(tmp, f"dlw-{kind}.mefd")
        shutil.rmtree(dst, ignore_errors=True)
        local = store.download("ieeg", dst)
        with neo_mef3.Reader(local) as lr:
            lr.read(run.CH, starts[0], starts[0] + 1_000_000)

    _, dl, nreq, nbytes, times = _median_counted(store, download_window, repeats)
    res.add("remote", f"{kind}, download whole session + one 1 s window", "download first", dl * 1e3, "ms", times,
            requests=nreq, bytes=nbytes)
    res.add("remote", f"{kind}, download whole session (kB)", "download first", nbytes / 1e3, "kB")
    res.target(f"remote 1 s window ({kind}): download first / first window on Reader(url)", dl / first, 1.0)
    res.target(f"remote 1 s window ({kind}): bytes of the whole session / bytes of a window",
               nbytes / max(run.med([c[3] for c in counted]), 1), 10.0)
    res.add("remote", f"{kind}, whole channel: download + local read / Reader(url).read", "ratio", dl / whole, "x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default=os.path.join(run.HERE, "_work"))
    args = ap.parse_args(argv)
    res = run.Results()
    measure(res, args.work, args.minutes, args.windows, args.latency, args.repeats)
    print()
    print(run.markdown(res, run.machine() | {"command": "python benchmarks/remote_speed.py"}, args))
    return res


if __name__ == "__main__":
    main()
