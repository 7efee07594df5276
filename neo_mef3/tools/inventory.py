"""What a session holds, one line per channel: rate, span, samples, segments, gaps and
records (``neo-mef3 info``). Gaps come from the block index (nothing is decoded): a gap
is where the next block starts at least half a sample period after the previous one
ends, so it is what a read of the channel returns as NaN."""

import numpy as np

from ..errors import PasswordError
from .when import format_time

__all__ = ["channel_gaps", "session_span", "session_inventory", "inventory_table"]


def session_span(reader, channels=None):
    """(first start, last end) in uUTC over ``channels`` (all), from metadata; Nones when empty."""
    infos = [reader.info(ch) for ch in channels or reader.channels]
    starts = [i["start_time"] for i in infos if i["start_time"] is not None]
    ends = [i["end_time"] for i in infos if i["end_time"] is not None]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def channel_gaps(table, fs):
    """(count, total us, longest us) of the gaps between a channel's blocks."""
    start = table["start_uutc"].astype(np.int64)
    if len(start) < 2:
        return 0, 0, 0
    ends = start + np.floor(table["number_of_samples"].astype(np.int64) * 1e6 / fs + 0.5).astype(np.int64)
    covered = np.maximum.accumulate(ends)[:-1]
    holes = start[1:] - covered
    holes = holes[holes >= 0.5e6 / fs]
    return int(len(holes)), int(holes.sum()), int(holes.max()) if len(holes) else 0


def _count_records(reader, channel):
    try:
        return len(reader.records(channel))
    except PasswordError:
        return None


def session_inventory(reader, channels=None):
    """A JSON-ready dict of the session open in ``reader`` (see the module docstring)."""
    rows = []
    for ch in channels or reader.channels:
        info = reader.info(ch)
        fs = info["sampling_frequency"]
        count, total, longest = channel_gaps(reader.block_table(ch), fs)
        start, end = info["start_time"], info["end_time"]
        rows.append({
            "name": ch, "sampling_frequency": fs, "units": info["units_description"],
            "units_conversion_factor": info["units_conversion_factor"],
            "start_time": start, "end_time": end,
            "duration_s": (end - start) / 1e6 if start is not None and end is not None else None,
            "number_of_samples": info["number_of_samples"], "segments": info["n_segments"],
            "blocks": info["number_of_blocks"],
            "gaps": {"count": count, "total_s": total / 1e6, "longest_s": longest / 1e6},
            "records": _count_records(reader, ch),
        })
    start, end = session_span(reader, channels)
    session_records = _count_records(reader, None)
    counts = [session_records] + [r["records"] for r in rows]
    return {
        "path": reader.path,
        "start_time": start,
        "end_time": end,
        "channels": rows,
        "session_records": session_records,
        "records_total": None if None in counts else sum(counts),
    }


def _seconds(s):
    if s is None:
        return "-"
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.3f} s"


def inventory_table(inv, tz=None):
    """The inventory as text: a header and one line per channel."""
    total = inv["records_total"]
    lines = [
        f"session  {inv['path']}",
        f"span     {format_time(inv['start_time'], tz)} .. {format_time(inv['end_time'], tz)}",
        f"channels {len(inv['channels'])}   records {'locked (level-2 password needed)' if total is None else total}"
        + ("" if inv["session_records"] is None else f" ({inv['session_records']} at the session level)"),
        "",
        f"{'channel':<16} {'rate Hz':>10} {'duration':>10} {'samples':>11} {'seg':>4} "
        f"{'gaps':>5} {'gap total':>10} {'longest':>10} {'records':>7}  units",
    ]
    for r in inv["channels"]:
        g = r["gaps"]
        lines.append(
            f"{r['name']:<16} {r['sampling_frequency']:>10.3f} {_seconds(r['duration_s']):>10} "
            f"{r['number_of_samples']:>11} {r['segments']:>4} {g['count']:>5} "
            f"{_seconds(g['total_s']) if g['count'] else '-':>10} {_seconds(g['longest_s']) if g['count'] else '-':>10} "
            f"{'locked' if r['records'] is None else r['records']:>7}  {r['units'] or '?'}"
        )
    return "\n".join(lines)
