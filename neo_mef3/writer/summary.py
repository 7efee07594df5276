"""What a Writer did, for :attr:`neo_mef3.Writer.summary`: per channel the precision and
conversion factor of each segment it wrote to, the segments it created and why, sample
counts, clamped values; the repairs made when it opened the session; the warnings it gave.
"""

import copy

__all__ = ["WriteSummary"]


class WriteSummary:
    """Accumulates the results of a Writer's calls (see :meth:`as_dict` for the layout)."""

    def __init__(self, path):
        self.path = path
        self.channels = {}
        self.repairs = []
        self.repair_skipped = None
        self.warnings = []

    def _channel(self, name):
        return self.channels.setdefault(name, {
            "samples_written": 0, "blocks_written": 0, "gaps_skipped": 0, "clamped": 0, "clamped_infinite": 0,
            "segments_created": [], "segments": [], "precision": None, "units_conversion_factor": None,
        })

    def record_write(self, channel, result):
        """Add one write's result (the dict ``Writer.write`` returns)."""
        ch = self._channel(channel)
        for key, total in (("samples_written", "samples_written"), ("blocks", "blocks_written"),
                           ("gaps_skipped", "gaps_skipped"), ("clamped", "clamped"),
                           ("clamped_infinite", "clamped_infinite")):
            ch[total] += int(result.get(key, 0))
        if not result["samples_written"] and not result.get("segment_created"):
            return
        number = result["segment"]
        ch["precision"] = result["precision"]
        ch["units_conversion_factor"] = result["units_conversion_factor"]
        segs = [s for s in ch["segments"] if s["number"] == number]
        if result.get("segment_created"):
            ch["segments_created"].append(number)
        if not segs:
            ch["segments"].append({"number": number, "created": bool(result.get("segment_created")),
                                   "reason": result.get("reason"), "precision": result["precision"],
                                   "units_conversion_factor": result["units_conversion_factor"],
                                   "samples_written": 0})
            segs = ch["segments"][-1:]
        segs[0]["samples_written"] += int(result["samples_written"])

    def record_warning(self, message):
        self.warnings.append(str(message))

    def as_dict(self):
        """``{"path", "channels": {name: {"precision", "units_conversion_factor" (of the
        last segment written), "samples_written", "blocks_written", "gaps_skipped",
        "clamped", "clamped_infinite", "segments_created": [numbers], "segments": [{"number",
        "created", "reason", "precision", "units_conversion_factor", "samples_written"}]}},
        "repairs": [{"path", "action"}], "repair_skipped": None or why, "warnings": [...]}``
        (a copy)."""
        return copy.deepcopy({"path": self.path, "channels": self.channels,
                              "repairs": [{"path": p, "action": a} for p, a in self.repairs],
                              "repair_skipped": self.repair_skipped, "warnings": self.warnings})

    def text(self):
        """The summary as lines a person reads."""
        lines = [f"session {self.path}"]
        for p, a in self.repairs:
            lines.append(f"  repaired {p}: {a}")
        if self.repair_skipped:
            lines.append(f"  no repair at open: {self.repair_skipped}")
        for name, ch in self.channels.items():
            lines.append(f"  {name}: {ch['samples_written']} samples, {ch['blocks_written']} blocks, "
                         f"{ch['gaps_skipped']} gaps, {ch['clamped']} clamped")
            for s in ch["segments"]:
                p = "-" if s["precision"] is None else s["precision"]
                made = f"created ({s['reason']})" if s["created"] else "appended to"
                lines.append(f"    segment {s['number']} {made}: factor {s['units_conversion_factor']:g} "
                             f"(precision {p}), {s['samples_written']} samples")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)
