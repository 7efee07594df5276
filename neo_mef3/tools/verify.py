"""Check a copy against its source: same channels, blocks, samples and records, every
time moved by the same shift. Run by the commands that rewrite a session before they
publish their output."""

import numpy as np

from ..errors import MefError
from ..reader import Reader

__all__ = ["compare_sessions"]

_CHUNK = 1 << 22
_SAME_FIELDS = ("number_of_samples", "first_sample", "segment", "discontinuity", "maximum_sample_value",
                "minimum_sample_value", "units_conversion_factor")


def _record_keys(records, shift):
    return [(r["type"], None if r["time"] is None else r["time"] + shift) for r in records]


def compare_sessions(src, dst, tracker, src_password="", dst_password="", shift_us=0):
    """Raise MefError listing every difference between ``dst`` and ``src`` (times of
    ``dst`` expected ``shift_us`` later); returns the number of samples compared."""
    problems = []
    with Reader(src, password=src_password) as a, Reader(dst, password=dst_password) as b:
        if a.channels != b.channels:
            raise MefError(f"the copy has channels {b.channels}, the source {a.channels}", dst)
        total = sum(a.info(ch)["number_of_samples"] for ch in a.channels)
        tracker.phase("verify", total, unit="samples")
        for ch in a.channels:
            ia, ib = a.info(ch), b.info(ch)
            for key in ("sampling_frequency", "units_conversion_factor", "number_of_samples"):
                if ia[key] != ib[key]:
                    problems.append(f"{ch}: {key} {ib[key]} instead of {ia[key]}")
            ta, tb = a.block_table(ch), b.block_table(ch)
            if len(ta["start_uutc"]) != len(tb["start_uutc"]):
                problems.append(f"{ch}: {len(tb['start_uutc'])} blocks instead of {len(ta['start_uutc'])}")
                continue
            if not np.array_equal(tb["start_uutc"], ta["start_uutc"] + shift_us):
                problems.append(f"{ch}: block times are not the source's moved by {shift_us} us")
            for key in _SAME_FIELDS:
                if not np.array_equal(ta[key], tb[key]):
                    problems.append(f"{ch}: block {key} differ")
            n = int(ta["number_of_samples"].sum())
            for start in range(0, n, _CHUNK):
                stop = min(n, start + _CHUNK)
                if not np.array_equal(a.read_samples(ch, start, stop), b.read_samples(ch, start, stop)):
                    problems.append(f"{ch}: stored samples {start}..{stop} differ")
                    break
                tracker.advance(stop - start)
        for level in [None] + a.channels:
            ka, kb = _record_keys(a.records(level), shift_us), _record_keys(b.records(level), 0)
            if ka != kb:
                problems.append(f"records of {level or 'the session'}: {len(kb)} in the copy, {len(ka)} in the "
                                "source, or other types or times")
    if problems:
        shown = "; ".join(problems[:8]) + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else "")
        raise MefError(f"the copy does not match its source: {shown}", dst)
    return total
