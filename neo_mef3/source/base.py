"""The two classes of the byte-source seam; the contract is in :mod:`neo_mef3.source`."""

from ..session import first_segments, join_scans


def merge_ranges(ranges, merge_gap=0):
    """``(start, stop, members)`` reads covering `ranges` (a list of ``(start, stop)``):
    ranges no more than `merge_gap` bytes apart share one read; ``members`` are the
    positions in `ranges` each read serves."""
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    reads = []
    k = 0
    while k < len(order):
        lo, hi = ranges[order[k]]
        j = k + 1
        while j < len(order) and ranges[order[j]][0] <= hi + merge_gap:
            hi = max(hi, ranges[order[j]][1])
            j += 1
        reads.append((lo, hi, order[k:j]))
        k = j
    return reads


def read_merged(ranges, merge_gap, size, fetch):
    """The bytes of each ``(start, stop)`` of `ranges`: the reads :func:`merge_ranges`
    makes, cut at `size` (when known), go to ``fetch([(start, stop), ...])`` together
    (which returns their bytes or raises), and are split again."""
    out = [b""] * len(ranges)
    reads = []
    for lo, hi, members in merge_ranges(ranges, merge_gap):
        hi = hi if size is None else min(hi, size)
        if lo < hi:
            reads.append((lo, hi, members))
    datas = fetch([(lo, hi) for lo, hi, _ in reads]) if reads else []
    for (lo, _, members), data in zip(reads, datas):
        for i in members:
            a, b = ranges[i]
            out[i] = data[max(a - lo, 0): max(b - lo, 0)]
    return out


class RangeFile:
    """Byte ranges of one file. Subclasses implement :meth:`read` and :meth:`close`.

    ``read(start, stop)`` returns bytes ``[start, stop)`` (fewer only at the end of the
    file: the caller judges a short read); ``read_into(start, buf)`` reads as many into
    a buffer the caller keeps. ``read_ranges`` reads several ranges, merging
    those that lie within ``merge_gap`` bytes of each other into one read.
    """

    path = None

    def read(self, start, stop):
        raise NotImplementedError

    def read_into(self, start, buf):
        """Fill the writable buffer `buf` with bytes from `start` on; return how many were
        read (fewer only at the end of the file). Sources that can read into memory they
        are given override it (a local file: no fresh buffer per read)."""
        data = self.read(start, start + len(buf))
        buf[: len(data)] = data
        return len(data)

    def read_ranges(self, ranges, merge_gap=0):
        """Bytes of each ``(start, stop)`` of `ranges` (in their order), with as few reads
        as merging ranges no more than `merge_gap` bytes apart allows."""
        return read_merged(ranges, merge_gap, None, lambda spans: [self.read(lo, hi) for lo, hi in spans])

    def close(self):
        raise NotImplementedError


class ByteSource:
    """Where one session's bytes come from (see the module docstring for the contract)."""

    location = None
    #: the smallest range worth one read of a data file (None: the Reader's own rule,
    #: made for local disks); a remote source asks for large ranges, each a request
    read_piece_bytes = None

    def describe(self):
        raise NotImplementedError

    def list_session(self):
        raise NotImplementedError

    def scan_channels(self, names, probe=False, executor=None, parts=1):
        raise NotImplementedError

    def scan_session(self, names, probe=False, threads=1, executor=None, first_only=False):
        """The scans of many channels as one :class:`~neo_mef3.session.SessionScan`
        (what the Reader opens channels from), using up to `threads` threads
        (`executor`: a callable giving the Reader's pool); ``first_only``: each
        channel's first segment only. By default :meth:`scan_channels` joined, on the
        pool; a source that can scan a whole session at once does so here."""
        pool = executor() if executor is not None and threads > 1 else None
        scan = join_scans(names, self.scan_channels(names, probe, pool, 4 * threads if pool else 1))
        return first_segments(scan) if first_only else scan

    def supports_change_tokens(self):
        """Whether :meth:`change_tokens` is implemented (the metadata cache needs it)."""
        return False

    def change_tokens(self, paths, threads=1):
        raise NotImplementedError

    def use_tree(self, tree):
        """Take `tree` (a SessionTree the metadata cache kept) as this session's listing."""

    def read_files(self, paths, what="", expected=None):
        raise NotImplementedError

    def read_file(self, path, what="", expected=None):
        got = self.read_files([path], what, expected)[0]
        if isinstance(got, Exception):
            raise got
        return got

    def sizes(self, paths):
        raise NotImplementedError

    def size(self, path):
        return self.sizes([path])[0]

    def exists(self, path):
        raise NotImplementedError

    def open(self, path):
        raise NotImplementedError

    def close(self):
        pass

    def __repr__(self):
        return f"<{type(self).__name__} {self.location!r}>"
