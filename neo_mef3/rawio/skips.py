"""``MEF3RawIO(on_error="skip")``: damaged RED blocks read as zeros, and where they are.

The Reader (``on_error="skip"``) leaves a damaged block out and warns once per block,
naming its data file and stored-sample range; MEF3RawIO returns zeros (int32) there and
keeps the block's time span here. The spans become the epochs of an event channel
``bad blocks`` (label: the channel), and the SpikeInterface extractor's ``bad_blocks``
property. Spans are found as blocks are read: after the signals were loaded every
damaged block they cross is listed (``MEF3RawIO.find_bad_blocks()`` reads everything
to list them in advance).
"""

import threading

import numpy as np

from .. import forksafe

#: the name of the event channel that lists damaged blocks
BAD_BLOCKS = "bad blocks"


class BadBlocks:
    """The damaged spans met so far: ``spans`` is a sorted list of ``(start uUTC, stop
    uUTC, channel)``, each once."""

    def __init__(self):
        self.spans = []
        self._seen = set()
        self._lock = threading.Lock()
        forksafe.register(self, BadBlocks._after_fork)

    def _after_fork(self):
        self._lock = threading.Lock()

    def __getstate__(self):  # (a MEF3RawIO is pickled for worker processes: no lock in it)
        return {"spans": list(self.spans), "_seen": set(self._seen)}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._after_fork()
        forksafe.register(self, BadBlocks._after_fork)

    def note(self, table, s0, valid):
        """Note the runs of ``valid == 0`` of a read of stored samples [s0, s0 + len)."""
        bad = np.flatnonzero(np.diff(np.concatenate(([1], valid.astype(np.int8), [1]))))
        for a, z in zip(bad[::2].tolist(), bad[1::2].tolist()):
            start, stop = _uutc(table, s0 + a), _uutc(table, s0 + z - 1) + 1e6 / table.fs
            key = (table.name, int(round(start)))
            with self._lock:
                if key not in self._seen:
                    self._seen.add(key)
                    self.spans.append((int(round(start)), int(round(stop)), table.name))
                    self.spans.sort()

    def in_segment(self, starts, g, origin):
        """Spans whose start falls in neo segment g (segments start at ``starts``, us after
        ``origin``; the last one starting at or before a span holds it)."""
        lo = starts[g]
        hi = starts[g + 1] if g + 1 < len(starts) else float("inf")
        with self._lock:
            return [s for s in self.spans if (lo <= s[0] - origin < hi) or (g == 0 and s[0] - origin < lo)]

    def by_channel(self, origin):
        """``{channel: "t0-t1 s; ..."}`` of the spans, seconds on the given origin (uUTC)."""
        out = {}
        with self._lock:
            for a, z, name in self.spans:
                out.setdefault(name, []).append(f"{(a - origin) / 1e6:.6f}-{(z - origin) / 1e6:.6f} s")
        return {k: "; ".join(v) for k, v in out.items()}


def _uutc(table, s):
    """uUTC of stored sample `s` of a channel table (its section's start + offset / fs)."""
    j = int(np.searchsorted(table.sec_first, s, side="right")) - 1
    return float(table.sec_start[j]) + (s - int(table.sec_first[j])) * 1e6 / table.fs
