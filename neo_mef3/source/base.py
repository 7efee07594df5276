"""The two classes of the byte-source seam; the contract is in :mod:`neo_mef3.source`."""


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


class RangeFile:
    """Byte ranges of one file. Subclasses implement :meth:`read` and :meth:`close`.

    ``read(start, stop)`` returns bytes ``[start, stop)`` (fewer only at the end of the
    file: the caller judges a short read). ``read_ranges`` reads several ranges, merging
    those that lie within ``merge_gap`` bytes of each other into one read.
    """

    path = None

    def read(self, start, stop):
        raise NotImplementedError

    def read_ranges(self, ranges, merge_gap=0):
        """Bytes of each ``(start, stop)`` of `ranges` (in their order), with as few reads
        as merging ranges no more than `merge_gap` bytes apart allows."""
        out = [b""] * len(ranges)
        for lo, hi, members in merge_ranges(ranges, merge_gap):
            data = self.read(lo, hi)
            for i in members:
                a, b = ranges[i]
                out[i] = data[a - lo : b - lo]
        return out

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
