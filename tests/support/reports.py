"""Everything a Reader and MEF3RawIO report about a session, as comparable values: what
two ways of opening the same session (the C scan or not, a metadata cache or not) must
agree on exactly."""
import warnings

import numpy as np

import neo_mef3
from neo_mef3.errors import MefError
from neo_mef3.rawio import MEF3RawIO


def session_report(path, password="", **reader_options):
    """A dict of every channel's info, segments, segment table, toc, sections from
    metadata, samples (read_raw) and records, the session's records, and MEF3RawIO's
    header, opened with `reader_options` (e.g. ``cache=``)."""
    out = {}
    with neo_mef3.Reader(path, password=password, **reader_options) as r:
        out["channels"] = r.channels
        for ch in r.channels:
            out[ch, "info"] = r.info(ch)
            out[ch, "segments"] = r.segments(ch)
            out[ch, "segment_table"] = {k: v.tolist() for k, v in r.segment_table(ch).items()}
            out[ch, "toc"] = r.toc(ch)
            out[ch, "sections"] = [x.tolist() for x in r.continuous_sections(ch, from_metadata=True) or ()]
            raw = r.read_raw(ch)
            out[ch, "raw"] = (raw["samples"].tolist(), raw["valid"].tolist(), raw["start_uutc"])
            try:
                out[ch, "records"] = r.records(ch)
            except MefError as exc:
                out[ch, "records"] = repr(exc)
        try:
            out["session records"] = r.records()
        except MefError as exc:
            out["session records"] = repr(exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (records a password does not open)
        io = MEF3RawIO(dirname=path, password=password or None, **reader_options)
        io.parse_header()
    for key, value in io.header.items():
        out["neo", key] = value.tolist() if isinstance(value, np.ndarray) else value
    io.close()
    return out
