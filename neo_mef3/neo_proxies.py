"""neo's lazy signal proxies, with errors that say which times exist.

``proxy.load(time_slice=(t0, t1))`` past a signal's end raises neo's bare "`t_stop` is
outside of the time range". MEF3IO gives its proxies this subclass, whose error (a
:class:`~neo_mef3.errors.RangeError`, still a ValueError) names the signal's segment and
time range and the ranges of all segments of the block.
"""

from neo.io.proxyobjects import AnalogSignalProxy

from .errors import RangeError

__all__ = ["explain_time_slices"]


class _ExplainedSignalProxy(AnalogSignalProxy):
    """An AnalogSignalProxy whose time_slice errors name the segments' ranges."""

    _mef_segment = 0
    _mef_ranges = ()
    _mef_path = None

    def _time_slice_indices(self, time_slice, strict_slicing=True):
        try:
            return super()._time_slice_indices(time_slice, strict_slicing=strict_slicing)
        except ValueError as exc:
            t0, t1 = time_slice
            here = f"{float(self.t_start.rescale('s').magnitude):.6f} s to {float(self.t_stop.rescale('s').magnitude):.6f} s"
            ranges = "; ".join(f"segment {g}: {a:.6f} s to {b:.6f} s" for g, (a, b) in enumerate(self._mef_ranges))
            raise RangeError(
                f"{exc}: time_slice ({t0}, {t1}) of signal {self.name!r} in segment {self._mef_segment}, which holds "
                f"it from {here} (the block's segments: {ranges}); slice within that range, load it from the segment "
                "that holds the time, or pass strict_slicing=False to clip",
                self._mef_path,
            ) from None


def explain_time_slices(segments, indices, ranges, path):
    """Give the analog-signal proxies of `segments` (neo Segments number `indices` of a
    block whose segments span `ranges`, (t_start, t_stop) in s) errors that name them."""
    for g, seg in zip(indices, segments):
        for proxy in seg.analogsignals:
            if type(proxy) is AnalogSignalProxy:
                proxy.__class__ = _ExplainedSignalProxy
                proxy._mef_segment = g
                proxy._mef_ranges = ranges
                proxy._mef_path = path
