"""A session's window as a new session: ``cut_session(src, dst, t0, t1, channels=...)``.

Every chosen channel keeps exactly the samples a read of ``[t0, t1)`` returns, at the
same times (see :mod:`neo_mef3.tools.copy`), its metadata and segment boundaries;
records of the session, the channels and their segments whose time lies in the window
are kept (segment records become channel records). The copy has the source's
passwords (an encrypted source needs its level-2 password).
"""

import os

from ..errors import MefError, RangeError, UnknownChannelError
from ..progress import Tracker
from ..reader import Reader
from .access import writer_passwords
from .atomic import atomic_output, check_output_outside
from .copy import channel_runs, copy_records, copy_runs, metadata_fields, open_writer, plain_records

__all__ = ["cut_session"]


def cut_session(src, dst, t0, t1, *, channels=None, password="", overwrite=False, progress=None, cancel=None):
    """Write the window ``[t0, t1)`` (uUTC) of ``src`` to the new session ``dst``.

    Returns a dict: destination, channels (copied), channels_without_samples, samples,
    records. Raises RangeError for an empty or inverted window or one holding no sample.
    """
    t0, t1 = int(t0), int(t1)
    if t1 <= t0:
        raise RangeError(f"the window ends ({t1}) before it starts ({t0})", src)
    check_output_outside(dst, [src])
    passwords = writer_passwords(src, password)
    with Reader(src, password=password) as r:
        chosen = list(channels) if channels else r.channels
        for ch in chosen:
            if ch not in r.channels:
                raise UnknownChannelError(f"no channel {ch!r} (the session has {', '.join(r.channels)})", r.path)
        plan = {ch: channel_runs(r, ch, t0, t1) for ch in chosen}
        empty = [ch for ch, runs in plan.items() if not runs]
        total = sum(run.count for runs in plan.values() for run in runs)
        if not total:
            raise RangeError("the window holds no sample of the chosen channels", r.path)
        records = {None: plain_records(r.records(None), t0, t1)}
        for ch in chosen:
            if plan[ch]:
                records[ch] = plain_records(r.records(ch), t0, t1)
        with Tracker(total, "cut", unit="samples", progress=progress, cancel=cancel) as tracker:
            with atomic_output(dst, overwrite=overwrite) as tmp:
                for ch in chosen:
                    if not plan[ch]:
                        continue
                    info = r.info(ch)
                    with open_writer(tmp, passwords, info["units_description"]) as w:
                        w.set_metadata(metadata_fields(info), channel=ch)
                        copy_runs(r, w, ch, plan[ch], tracker)
                with open_writer(tmp, passwords, None) as w:
                    copy_records(w, records)
                if not os.path.isdir(tmp):
                    raise MefError("nothing was written", dst)
    return {"destination": os.path.abspath(dst), "channels": [c for c in chosen if plan[c]],
            "channels_without_samples": empty, "samples": total,
            "records": sum(len(v) for v in records.values())}
