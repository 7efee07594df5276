"""How MEF3RawIO and the SpikeInterface extractor fare with ``on_error="skip"`` on a
damaged session, judged against the undamaged session read by MEF3RawIO (raise mode).

Every exposed sample is placed at its time (``keep_original_times=True``: uUTC from the
signal's t_start and rate); outside the reported ``bad blocks`` spans it must equal the
undamaged sample at that time (physical values), inside them it must be 0.

    ``full``     every sample of the undamaged session, no span reported
    ``partial``  a subset or reported spans, and a MefWarning said so
    ``error:<Class>``   a MefError (whole-session damage)
    ``wrong``    a sample outside the spans that differs or has no counterpart, a
                 nonzero sample inside one, or data left out without a warning (a failure)
    ``exception:<T>``   any other exception (a failure)
Crafted (CRC-consistent) cases: ``accepted`` for anything returned without an exception.
"""

import warnings

import numpy as np


def _chunks(rawio):
    """{channel: (uUTC times, physical values)} of every signal of a parsed MEF3RawIO."""
    out = {}
    h = rawio.header
    for si in range(len(h["signal_streams"])):
        sid = h["signal_streams"][si]["id"]
        chans = h["signal_channels"][h["signal_channels"]["stream_id"] == sid]
        fs = float(chans["sampling_rate"][0]) if len(chans) else 1.0
        for g in range(h["nb_segment"][0]):
            n = rawio.get_signal_size(0, g, si)
            if not n:
                continue
            t0 = rawio.get_signal_t_start(0, g, si)
            raw = rawio.get_analogsignal_chunk(0, g, 0, n, si)
            values = rawio.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=si)
            times = np.round((t0 + np.arange(n) / fs) * 1e6).astype(np.int64)
            for c, name in enumerate(chans["name"]):
                t, v = out.setdefault(str(name), ([], []))
                t.append(times)
                v.append(values[:, c])
    return {k: (np.concatenate(t), np.concatenate(v)) for k, (t, v) in out.items()}


def neo_baseline(path, password=""):
    from neo_mef3 import MEF3RawIO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = MEF3RawIO(path, password=password, keep_original_times=True)
        io.parse_header()
        try:
            got = _chunks(io)
            fs = {str(c["name"]): float(c["sampling_rate"]) for c in io.header["signal_channels"]}
        finally:
            io.close()
    return {"data": got, "fs": fs}


def _judge(got, spans, baseline):
    """None if every sample is right for its place, else why not; and whether all is there."""
    complete = set(got) == set(baseline["data"])
    for name, (t, v) in got.items():
        if name not in baseline["data"]:
            return f"{name}: a channel the undamaged session does not have", False
        bt, bv = baseline["data"][name]
        half = 0.5e6 / baseline["fs"][name]
        inside = np.zeros(len(t), bool)
        for a, z, ch in spans:
            if ch == name:
                inside |= (t >= a - half) & (t < z - half)
        if np.any(v[inside] != 0):
            return f"{name}: a sample inside a reported bad block is not 0", False
        out = ~inside
        k = np.clip(np.searchsorted(bt, t[out]), 0, max(len(bt) - 1, 0))
        k2 = np.clip(k - 1, 0, max(len(bt) - 1, 0))
        near = np.where(np.abs(bt[k2] - t[out]) < np.abs(bt[k] - t[out]), k2, k) if len(bt) else k
        if len(bt) == 0 and out.any():
            return f"{name}: samples where the undamaged session has none", False
        if out.any():
            if np.any(np.abs(bt[near] - t[out]) >= half):
                return f"{name}: a sample at a time the undamaged session has none", False
            if not np.allclose(v[out], bv[near], rtol=1e-12, atol=0):
                return f"{name}: a sample outside the reported spans differs from the undamaged session", False
        if inside.any() or len(t) != len(bt):
            complete = False
    return None, complete


def classify_neo_skip(path, password, baseline, crafted=False):
    """Outcome of MEF3RawIO(on_error="skip") and the SpikeInterface extractor."""
    import neo_mef3
    from neo_mef3 import MEF3RawIO

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            io = MEF3RawIO(path, password=password, keep_original_times=True, on_error="skip")
            io.parse_header()
            try:
                got = _chunks(io)
                spans = io.find_bad_blocks()
                why, complete = _judge(got, spans, baseline)
                streams = list(io.header["signal_streams"]["id"])
            finally:
                io.close()
            if why is None:
                why = _spikeinterface(path, password, streams, baseline)
        warned = [w for w in caught if issubclass(w.category, neo_mef3.errors.MefWarning)]
    except neo_mef3.MefError as exc:
        return f"error:{type(exc).__name__}", str(exc)
    except Exception as exc:  # noqa: BLE001
        return f"exception:{type(exc).__name__}", f"{exc!s}"[:500]
    if crafted:
        return "accepted", ""
    if why is not None:
        return "wrong", why
    if complete and not spans:
        return "full", ""
    if not warned:
        return "wrong", "data left out without a MefWarning"
    return "partial", f"{len(spans)} bad block span(s)"


def _spikeinterface(path, password, streams, baseline):
    """The extractor's traces, per stream, judged the same way (None: all right)."""
    try:
        from neo_mef3.spikeinterface import read_mef3
    except ImportError:  # pragma: no cover - SpikeInterface not installed
        return None
    for sid in streams:
        rec = read_mef3(path, stream_id=sid, password=password or None, keep_original_times=True, on_error="skip")
        got = {}
        for g in range(rec.get_num_segments()):
            traces = rec.get_traces(segment_index=g, return_in_uV=False).astype(np.float64)
            gains = rec.get_channel_gains()
            times = np.round(rec.get_times(segment_index=g) * 1e6).astype(np.int64)
            for c, name in enumerate(rec.get_channel_ids()):
                t, v = got.setdefault(str(name), ([], []))
                t.append(times)
                v.append(traces[:, c] * _gain_to_units(rec, c, gains))
        got = {k: (np.concatenate(t), np.concatenate(v)) for k, (t, v) in got.items()}
        spans = rec.neo_reader.bad_blocks.spans
        listed = rec.get_property("bad_blocks")
        rec.neo_reader.close()  # (its Reader's threads, now: a worker runs thousands of cases)
        sub = {"data": {k: baseline["data"][k] for k in got if k in baseline["data"]}, "fs": baseline["fs"]}
        why, _ = _judge(got, spans, sub)
        if why is not None:
            return f"SpikeInterface stream {sid}: {why}"
        if any(s for s in spans) and not any(listed):
            return f"SpikeInterface stream {sid}: bad blocks not in the bad_blocks property"
    return None


def _gain_to_units(rec, c, gains):
    """The MEF factor of channel c: SpikeInterface's gain is to uV, the neo gain is in the
    channel's own units (the same for uV channels, the only ones rescaled here)."""
    factors = rec.get_property("gain_to_physical_unit")
    return float(factors[c]) if factors is not None else float(gains[c])
