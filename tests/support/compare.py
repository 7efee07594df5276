"""Compare what different readers report: samples with NaN gaps, records in any order."""
from __future__ import annotations

import json
from typing import Optional, Sequence

import numpy as np

from support.plain import jsonable


def record_key(rec: dict) -> tuple:
    """A writer/reader-neutral summary of a record for comparisons."""
    t = rec.get("type")
    body = {k: v for k, v in rec.items()
            if k not in ("type", "time", "level", "channel", "segment",
                         "version_major", "version_minor")}
    if t in ("Note", "SyLg"):
        body = {"text": body.get("text")}
    elif t == "EDFA":
        body = {"text": body.get("text"), "duration": body.get("duration")}
    return (t, int(rec["time"]), json.dumps(jsonable(body), sort_keys=True))


def records_summary(recs: Optional[Sequence[dict]]) -> Optional[list]:
    """Records as sorted ``(type, time, body-json)`` tuples (order-insensitive)."""
    if recs is None:
        return None
    return sorted(record_key(r) for r in recs)


def same_samples(a, b) -> bool:
    """Equal arrays with NaN in the same places."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
