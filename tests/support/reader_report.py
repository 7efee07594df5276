"""Everything a Reader tells about a session, as comparable values (the byte-source and
remote-session tests compare a Reader on a source with one on the directory)."""

import numpy as np

from neo_mef3.errors import MefError


def reader_report(reader, where=None):
    """A dict of every answer `reader` gives for the session; with `where`, as text with
    the session directory's path (as the source makes it) replaced by `where`, so that
    paths compare between sources."""
    out = {}
    for ch in reader.channels:
        out[ch, "info"] = reader.info(ch)
        out[ch, "segments"] = reader.segments(ch)
        out[ch, "segment_table"] = {k: v.tolist() for k, v in reader.segment_table(ch).items()}
        out[ch, "toc"] = reader.toc(ch)
        out[ch, "blocks"] = {k: v.tolist() for k, v in reader.block_table(ch).items()}
        for meta in (False, True):
            got = reader.continuous_sections(ch, from_metadata=meta)
            out[ch, "sections", meta] = None if got is None else [a.tolist() for a in got]
        raw = reader.read_raw(ch)
        out[ch, "raw"] = (raw["samples"].tolist(), raw["valid"].tolist(), raw["start_uutc"])
        out[ch, "read"] = np.nan_to_num(reader.read(ch), nan=-1e300).tolist()
        out[ch, "samples"] = reader.read_samples(ch).tolist()
        try:
            out[ch, "records"] = repr(reader.records(ch))  # (repr: records may hold arrays)
        except MefError as exc:
            out[ch, "records"] = type(exc).__name__
    try:
        out["records"] = repr(reader.records())
    except MefError as exc:
        out["records"] = type(exc).__name__
    if where is None:
        return out
    return repr(out).replace(reader.source.list_session().path, where)
