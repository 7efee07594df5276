"""Reference readers answer in numpy scalars, byte strings and 1-element arrays: make
them plain Python values, so results compare with ``==`` and serialize to JSON."""
import math
from typing import Any

import numpy as np


def plain(v: Any) -> Any:
    """numpy scalars / bytes / 1-element arrays -> plain Python (recursively)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    if isinstance(v, np.ndarray):
        if v.size == 1 and v.dtype.kind in "biufSa":
            return plain(v.reshape(-1)[0])
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def jsonable(v):
    """:func:`plain`, with arrays as lists and non-finite floats as None."""
    v = plain(v)
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def error_text(e: BaseException) -> str:
    """``"<Class>: <message>"``, how the readers record what raised."""
    return f"{type(e).__name__}: {e}"
