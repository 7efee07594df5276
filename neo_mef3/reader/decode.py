"""Decoding planned: which blocks a read needs, read in pieces, decoded on the threads.

The blocks a window overlaps are read from the data file (through the segment's byte
source) and decoded straight into the output, in pieces of at most ``BATCH_BYTES``
compressed bytes in memory at once. Blocks that overlap in time are decoded in order on
one thread (later ones overwrite earlier ones); the others are shared out to the thread
pool, each piece read by the thread that decodes it. With ``on_error="skip"`` a block
that cannot be read, fails its CRC or does not decode is a gap, reported once.
"""

import concurrent.futures
import functools
import threading

import numpy as np

from .. import _red, forksafe
from ..errors import MefError, RemoteError
from ..format import crypto
from ..format.layout import RED_LEVEL_1_ENCRYPTED, RED_LEVEL_2_ENCRYPTED
from .grid import covered_runs, grid_positions

_ENCRYPTED_FLAGS = RED_LEVEL_1_ENCRYPTED | RED_LEVEL_2_ENCRYPTED
#: reads of blocks that do not overlap in time go in pieces of at most this many
#: compressed bytes per thread (each read, then decoded), so a long window never holds
#: all of its bytes
BATCH_BYTES = 4 << 20
#: the smallest piece the threads share out (a piece costs one pread and a task), and
#: how many pieces per thread a long read is cut into (a thread the machine slows down
#: then holds back at most a small piece)
PIECE_MIN_BYTES = 64 << 10
PIECES_PER_THREAD = 16
#: each decoding thread keeps the buffer its compressed reads go into (at most this
#: many bytes; larger reads get buffers of their own), so that reading a piece does not
#: map fresh memory from the kernel each time: where malloc returns freed memory at
#: once (dask.distributed's workers set MALLOC_TRIM_THRESHOLD_), that cost 3-4 % of decoding
SCRATCH_BYTES = 2 * BATCH_BYTES
_scratch = threading.local()


def _read_buffers(sizes):
    """Views of this thread's read buffer, one of each size in `sizes` side by side (None
    for each if together they need more than SCRATCH_BYTES: the reads then make their own)."""
    total = sum(sizes)
    if total > SCRATCH_BYTES:
        return [None] * len(sizes)
    buf = getattr(_scratch, "buf", None)
    if buf is None or len(buf) < total:
        buf = _scratch.buf = bytearray(max(total, min(2 * total, SCRATCH_BYTES)))
    view, views, at = memoryview(buf), [], 0
    for size in sizes:
        views.append(view[at : at + size])
        at += size
    return views


class Decoder:
    """Reads and decodes a channel's blocks into output arrays.

    ``n_threads``: threads to use (1: this thread only); ``executor()``: the Reader's
    thread pool, made when first needed; ``skips``: the Reader's :class:`Skips`
    (``enabled``: damaged blocks become gaps). ``blocks_decoded`` counts the RED
    blocks decoded (instrumentation).
    """

    def __init__(self, n_threads, check_crc, skips, executor):
        self.n_threads = n_threads
        self.check_crc = check_crc
        self.blocks_decoded = 0
        self._skips = skips
        self._executor = executor
        self._lock = threading.Lock()
        forksafe.register(self, Decoder._after_fork)

    def _after_fork(self):
        self._lock = threading.Lock()

    def decode_window(self, ch, t0, n, samples, valid, f64=None, rounding="nearest", n_threads=None, tracker=None):
        """Decode every block overlapping the grid [0, n) into samples/valid; return the set
        of the units conversion factors of the segments those blocks are in.

        With ``f64`` (a float64 array of n) the blocks are decoded straight into it
        instead, scaled by their segment's factor, and every position no block covers is
        set to NaN (``samples``/``valid`` unused).
        Blocks that do not overlap in time are read and decoded in pieces (at most
        ``BATCH_BYTES`` compressed bytes in memory at once, see _decode_pieces), so no
        copy of the whole range is held. ``n_threads``: this call's threads (None: the
        Reader's); ``tracker``: a :class:`~neo_mef3.progress.Tracker` told the samples
        of each piece done and asked between pieces whether to stop.
        """
        b = ch.blocks()
        # grid position of each block's first sample; an exact half rounds down (as mef3io)
        pos = grid_positions(b["time"], t0, ch.fs, rounding)
        return self.decode_at(ch, b, pos, n, samples, valid, f64, n_threads, tracker)

    def decode_at(self, ch, b, pos, n, samples, valid, f64=None, n_threads=None, tracker=None):
        """Decode the blocks whose samples land in [0, n) when block i starts at pos[i]."""
        threads = self.n_threads if n_threads is None else max(int(n_threads), 1)
        sel = np.flatnonzero((pos < n) & (pos + b["n"] > 0) & (b["n"] > 0))
        if f64 is not None:  # NaN where no block lands (blocks that fail are NaN-ed later)
            lo = np.clip(pos[sel], 0, n)
            reach = np.maximum.accumulate(np.clip(pos[sel] + b["n"][sel], 0, n)) if len(sel) else np.zeros(0, np.int64)
            before = np.concatenate(([0], reach[:-1]))
            for a, z in zip(before[lo > before], lo[lo > before]):
                f64[a:z] = np.nan
            f64[reach[-1] if len(sel) else 0 :] = np.nan
        if len(sel) == 0:
            return set()
        overlap = bool(np.any(pos[sel][1:] < (pos[sel] + b["n"][sel])[:-1]))
        factors = None
        if f64 is not None:  # a segment whose factor is 0 ("no entry") gives raw counts
            factors = np.array([seg.ufact if seg.ufact != 0.0 else 1.0 for seg in ch.segments])[b["segment"]]
        if overlap:  # later blocks overwrite earlier ones: one batch, in order, one thread
            self._decode_batch(ch, b, pos, sel, n, samples, valid, f64, factors, 1)
            if tracker is not None:
                tracker.advance(_landing(b, pos, sel, n))
        else:
            self._decode_pieces(ch, b, pos, sel, n, samples, valid, f64, factors, threads, tracker)
        return {ch.segments[k].ufact for k in np.unique(b["segment"][sel]).tolist()}

    def _decode_pieces(self, ch, b, pos, sel, n, samples, valid, f64, factors, threads, tracker=None):
        """Blocks that do not overlap: pieces read and decoded by the threads, no barrier.

        Each piece (at most ``BATCH_BYTES / n_threads`` compressed bytes, a few per
        thread) is read by the thread that decodes it, so reading overlaps decoding and
        no thread waits for a serial read; at most ``n_threads`` pieces are in memory.
        """
        total = int(b["nbytes"][sel].sum())
        if threads <= 1 or len(sel) < 2:
            size = BATCH_BYTES
        else:  # (a remote source asks for larger pieces: each is a request)
            least = ch.segments[0].source.read_piece_bytes or PIECE_MIN_BYTES
            size = min(max(total // (PIECES_PER_THREAD * threads), least), BATCH_BYTES // threads)
        cut = np.cumsum(b["nbytes"][sel]) // max(size, 1)
        pieces = np.split(sel, np.flatnonzero(np.diff(cut)) + 1)
        if threads <= 1 or len(pieces) == 1:
            for ids in pieces:
                if tracker is not None:
                    tracker.check()
                self._decode_batch(ch, b, pos, ids, n, samples, valid, f64, factors, threads)
                if tracker is not None:
                    tracker.advance(_landing(b, pos, ids, n))
            return
        progress = None if tracker is None else (lambda k: tracker.advance(_landing(b, pos, pieces[k], n)))
        run_all(self._executor(threads),
                [functools.partial(self._decode_batch, ch, b, pos, ids, n, samples, valid, f64, factors, 1)
                 for ids in pieces], progress)

    def _decode_batch(self, ch, b, pos, sel, n, samples, valid, f64, factors, n_threads):
        """Read and decode the blocks ``sel`` (see decode_window) with up to n_threads threads."""
        seg_ids = b["segment"][sel]
        if seg_ids[0] == seg_ids[-1] and (len(sel) < 3 or (seg_ids == seg_ids[0]).all()):
            tasks = [(ch.segments[int(seg_ids[0])], sel)]  # (the usual case: one segment)
        else:
            tasks = [(ch.segments[int(k)], sel[seg_ids == k]) for k in np.unique(seg_ids)]
        skip = self._skips.enabled
        failed = []  # (segment, block id, problem): blocks on_error="skip" reads as gaps
        jobs = []
        spans = [(int(b["offset"][ids].min()), int((b["offset"][ids] + b["nbytes"][ids]).max())) for _, ids in tasks]
        into = _read_buffers([hi - lo for lo, hi in spans])  # (this thread's buffer, a part per segment)
        for (seg, ids), (lo, hi), part in zip(tasks, spans, into):
            try:
                buf = seg.read_bytes(lo, hi, into=part)
            except MefError as exc:
                if not skip or isinstance(exc, RemoteError):  # (a failed transfer is not damage)
                    raise
                failed += [(seg, int(i), str(exc)) for i in ids]
                continue
            enc = (b["flags"][ids] & _ENCRYPTED_FLAGS) != 0
            if enc.any():
                if not isinstance(buf, memoryview) or buf.readonly:
                    buf = bytearray(buf)  # (decrypted in place)
                bad = crypto.decrypt_block_statistics(buf, b["offset"][ids[enc]] - lo, seg.meta.keys, self.check_crc,
                                                     seg.files.tdat, skip)
                if bad:
                    drop = ids[enc][bad]
                    failed += [(seg, int(i), "CRC_MISMATCH") for i in drop]
                    keep = ~np.isin(ids, drop)
                    ids, enc = ids[keep], enc[keep]
                    if not len(ids):
                        continue
            inside = (pos[ids] >= 0) & (pos[ids] + b["n"][ids] <= n)
            jobs.append((seg, buf, ids, lo, inside, bool(enc.any())))
        # gaps between blocks are invalid, everything a block covers is valid
        for seg, buf, ids, lo, inside, enc in jobs if f64 is None else ():
            for a, z in covered_runs(pos[ids], b["n"][ids], n):
                valid[a:z] = 1
        work = []
        for seg, buf, ids, lo, inside, enc in jobs:
            direct = ids[inside]
            if len(direct):
                work.append((seg, buf, direct, lo, enc))
        failed += self._run_decode(work, b, pos, samples if f64 is None else f64, n_threads, factors)
        # edge blocks: the decoder clips them to the window itself (clip=True, or the
        # float64 kernel), decoding only up to the last sample needed; nothing of the
        # block's size is allocated, so an index claiming 2**32 samples costs nothing
        for seg, buf, ids, lo, inside, enc in jobs:
            for i in ids[~inside]:
                status = np.zeros(1, np.int8) if skip else None
                out = f64 if f64 is not None else samples
                self._decode(seg, buf, np.array([i]), lo, b, out, pos[i : i + 1], enc, status, factors, clip=True)
                if status is not None and status[0]:
                    failed.append((seg, int(i), _red.STATUS_NAMES.get(int(status[0]), str(int(status[0])))))
        if failed:  # skipped blocks are gaps, whatever else covered their span
            by_file = {}
            for seg, i, problem in failed:
                a = max(int(pos[i]), 0)
                z = min(int(pos[i] + b["n"][i]), n)
                if f64 is not None:
                    f64[a:z] = np.nan
                else:
                    valid[a:z] = 0
                    samples[a:z] = 0
                offset = int(b["offset"][i])
                if self._skips.first_report(seg.files.tdat, offset):  # each block once, however often read
                    first = int(b["first"][i])  # (its stored-sample number: read_samples' count)
                    by_file.setdefault(seg.files.tdat, []).append(
                        f"block at byte {offset}, stored samples [{first}, {first + int(b['n'][i])}) from "
                        f"{int(b['time'][i])} uUTC: {problem}")
            for path, problems in by_file.items():
                self._skips.skip("blocks", path, f"{len(problems)} RED block(s) read as gaps ({'; '.join(problems[:4])})")

    def _decode(self, seg, buf, ids, lo, b, out, out_offsets, enc, status=None, factors=None, clip=False):
        """decode_blocks into int32 ``out``, or with ``factors`` decode_blocks_f64 into float64 ``out``
        (``clip``: blocks may reach outside ``out``; the float64 kernel always clips)."""
        with self._lock:
            self.blocks_decoded += len(ids)
        args = (np.frombuffer(buf, np.uint8), b["offset"][ids] - lo, b["nbytes"][ids], b["n"][ids], out, out_offsets)
        kw = dict(check_crc=self.check_crc and not enc, path=seg.files.tdat, allow_encrypted=enc, status=status,
                  file_offset=lo)
        if factors is None:
            _red.decode_blocks(*args, clip=clip, **kw)
        else:
            _red.decode_blocks_f64(*args, factors[ids], **kw)

    def _run_decode(self, work, b, pos, samples, n_threads, factors=None):
        chunks = []
        for seg, buf, ids, lo, enc in work:
            if n_threads <= 1 or len(ids) < 2:
                chunks.append((seg, buf, ids, lo, enc))
            else:
                # a few chunks per thread: a thread the machine slows down holds back less
                for part in np.array_split(ids, min(4 * n_threads, len(ids))):
                    if len(part):
                        chunks.append((seg, buf, part, lo, enc))

        skip = self._skips.enabled

        def run(job):
            seg, buf, ids, lo, enc = job
            status = np.zeros(len(ids), np.int8) if skip else None
            self._decode(seg, buf, ids, lo, b, samples, pos[ids], enc, status, factors)
            if status is None or not status.any():
                return []
            return [(seg, int(i), _red.STATUS_NAMES.get(int(c), str(int(c)))) for i, c in zip(ids, status) if c]

        if n_threads <= 1 or len(chunks) <= 1:
            found = [run(job) for job in chunks]
        else:
            found = run_all(self._executor(n_threads), [functools.partial(run, job) for job in chunks])
        return [f for part in found for f in part]


def _landing(b, pos, ids, n):
    """How many slots of [0, n) the blocks ``ids`` cover (a piece's share of a read's progress)."""
    return int((np.minimum(pos[ids] + b["n"][ids], n) - np.maximum(pos[ids], 0)).clip(0).sum())


def run_all(pool, calls, done=None):
    """Run the argument-less `calls` on `pool` and return their results in order, once
    every one has finished (see :func:`gather`); the first error is raised then."""
    futures = [pool.submit(call) for call in calls]
    for exc in gather(futures, done):
        if exc is not None:
            raise exc
    return [f.result() for f in futures]


def gather(futures, done=None):
    """Wait for `futures` in order and return their exceptions (None for each that ran).

    ``done(k)`` is called once future k has finished (it may raise, e.g. CancelledError).
    If anything interrupts the wait -- Ctrl-C (KeyboardInterrupt), a cancel, an error of
    ``done`` -- the futures not yet started are cancelled and the running ones are
    waited for before it is raised: nothing keeps writing into the caller's arrays, no
    thread is left decoding a read nobody waits for, and the pool stays usable.
    """
    errors = []
    try:
        for k, f in enumerate(futures):
            errors.append(f.exception())
            if done is not None and errors[-1] is None:
                done(k)
    except BaseException:
        for f in futures:
            f.cancel()
        _wait_quietly(futures)
        raise
    return errors


def _wait_quietly(futures):
    """Wait for the running futures (their pieces are small) even through a second Ctrl-C."""
    while True:
        try:
            concurrent.futures.wait(futures)
            return
        except KeyboardInterrupt:
            continue
