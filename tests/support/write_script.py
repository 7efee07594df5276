"""A known script of Writer calls, and the check that a session holds a prefix of it:
the ground truth of the kill-point and racing-reader runs (:mod:`support.kill_points`,
:mod:`support.racing_readers`)."""

import time

import numpy as np

import neo_mef3
from support.scenarios import T0


def make_script(seed, scale=1):
    """Writer calls: dicts with op, channel, fs, start (uUTC, on the grid), data."""
    rng = np.random.default_rng(seed)

    def sig(n):
        return np.round(np.cumsum(rng.normal(0, 2, n)), 2)

    ops = []
    t = {"a": T0, "b": T0, "c": T0}
    fs = {"a": 250.0, "b": 1000.0, "c": 500.0}

    def add(op, ch, n, gap_s=0.0, **kw):
        start = t[ch] + int(round(gap_s * 1e6))
        data = sig(n) if op != "write_int32" else rng.integers(-30000, 30000, n).astype(np.int32)
        ops.append(dict(op=op, channel=ch, fs=fs[ch], start=start, data=data, **kw))
        t[ch] = start + int(round(n * 1e6 / fs[ch]))

    k = scale
    add("write", "a", 2000 * k)
    add("write", "b", 6000 * k)
    add("write", "a", 1500 * k)  # contiguous append
    add("write_int32", "c", 3000 * k, ufact=0.5)
    add("write", "b", 4000 * k, gap_s=1.0)  # append after a gap
    ops.append(dict(op="annotations", records=[{"time": T0 + 1000, "text": "first"}]))
    add("write", "a", 1200 * k, gap_s=2.0, new_segment=True)
    add("write_int32", "c", 2500 * k, ufact=0.5)
    add("write", "b", 5000 * k)
    add("write", "a", 900 * k)
    ops.append(dict(op="annotations", records=[{"time": T0 + 1000, "text": "first"},
                                               {"time": T0 + 2000, "type": "EDFA", "text": "second",
                                                "duration": 10}]))
    add("write", "c", 100 * k, gap_s=0.5, new_segment=True, ufact=0.5)
    for _ in range(3):
        add("write", "b", 3000 * k)
        add("write", "a", 700 * k)
    return ops


def run_op(w, op, skip_samples=0):
    """Perform one scripted call (its samples from `skip_samples` on)."""
    if op["op"] == "annotations":
        w.write_annotations(op["records"])
        return
    data = op["data"][skip_samples:]
    start = op["start"] + int(round(skip_samples * 1e6 / op["fs"]))
    new_segment = bool(op.get("new_segment")) and skip_samples == 0
    if op["op"] == "write_int32" or (op["op"] == "write" and op.get("ufact")):
        counts = data if data.dtype.kind == "i" else np.round(data / op["ufact"]).astype(np.int32)
        w.write_int32(op["channel"], counts, op["ufact"], start, op["fs"], new_segment=new_segment)
    else:
        w.write(op["channel"], data, start, op["fs"], precision=2, new_segment=new_segment)


def expected(ops, upto=None):
    """Per channel: (t0, fs, samples, owner) on the grid -- owner is the op index of each
    position (-1 in gaps); samples are stored counts (int64)."""
    out = {}
    for i, op in enumerate(ops[: upto if upto is not None else len(ops)]):
        if op["op"] == "annotations":
            continue
        ch = op["channel"]
        fs = op["fs"]
        t0 = min(o["start"] for o in ops if o.get("channel") == ch)
        if ch not in out:
            end = max(o["start"] + int(round(len(o["data"]) * 1e6 / fs)) for o in ops if o.get("channel") == ch)
            n = int(round((end - t0) * fs / 1e6))
            out[ch] = (t0, fs, np.zeros(n, np.int64), np.full(n, -1, np.int64))
        _, _, samples, owner = out[ch]
        p = int(round((op["start"] - t0) * fs / 1e6))
        d = op["data"]
        if d.dtype.kind == "i":
            counts = d.astype(np.int64)
        elif op.get("ufact"):
            counts = np.round(d / op["ufact"]).astype(np.int64)
        else:
            counts = np.round(d * 100).astype(np.int64)
        samples[p : p + len(d)] = counts
        owner[p : p + len(d)] = i
    return out


def verify(path, ops, done, strict_prefix=True, reader=None):
    """What the session holds against the script, `done` calls having returned.

    Returns (problems, stored): stored maps channel -> number of samples of the call in
    progress (``done``) that are stored.
    """
    problems = []
    stored = {}
    exp = expected(ops)
    own = reader is None
    r = reader or neo_mef3.Reader(path, n_threads=1)
    try:
        names = set(r.channels)
        for ch, (t0, fs, samples, owner) in exp.items():
            needed = bool(((owner >= 0) & (owner < done)).any())
            if ch not in names:
                if needed:
                    problems.append(f"channel {ch} is missing")
                continue
            got = r.read_raw(ch, t0, t0 + int(round(len(samples) * 1e6 / fs)))
            valid = got["valid"] == 1
            if len(got["samples"]) != len(samples):
                problems.append(f"{ch}: window of {len(got['samples'])} samples, expected {len(samples)}")
                continue
            if (owner[valid] < 0).any():
                problems.append(f"{ch}: samples where the script has none")
            ok = valid & (owner >= 0)
            if not np.array_equal(got["samples"][ok].astype(np.int64), samples[ok]):
                k = int(np.flatnonzero(got["samples"][ok].astype(np.int64) != samples[ok])[0])
                problems.append(f"{ch}: a stored sample differs from the script (the {k}-th)")
            lost = (owner >= 0) & (owner < done) & ~valid
            if lost.any():
                problems.append(f"{ch}: {int(lost.sum())} samples of completed calls are missing")
            if strict_prefix:
                later = valid & (owner > done)
                if later.any():
                    problems.append(f"{ch}: samples of calls that had not started")
            else:  # a reader racing a writer: some prefix of the channel's script, in time
                v = valid[owner >= 0]
                if not v[: int(v.sum())].all():
                    problems.append(f"{ch}: what is stored is not a prefix of the script (a torn or lost block)")
            stored[ch + "#total"] = int(valid.sum())
            cur = owner == done
            if cur.any():
                v = valid[cur]
                k = int(v.sum())
                if strict_prefix and not v[:k].all():
                    problems.append(f"{ch}: the interrupted call left a non-prefix of itself")
                stored[ch] = k
    finally:
        if own:
            r.close()
    return problems, stored


def slow_io():
    """Make the Writer's I/O slow and page-grained, like a USB disk: a kill then lands
    inside an append's ordered steps, and a write larger than a page can stop between
    pages, as a SIGKILLed write() can (it never stops inside a page)."""
    import neo_mef3.fileio as fileio_mod

    real_pwrite, real_fsync = fileio_mod.pwrite_all, fileio_mod.fsync

    def pwrite(fd, data, offset):
        view = memoryview(data)
        while len(view):
            k = min(len(view), 4096 - offset % 4096)
            real_pwrite(fd, view[:k], offset)
            view = view[k:]
            offset += k
            time.sleep(0.0001)

    def fsync(fd, durable):
        real_fsync(fd, durable)
        time.sleep(0.001)

    fileio_mod.pwrite_all, fileio_mod.fsync = pwrite, fsync
