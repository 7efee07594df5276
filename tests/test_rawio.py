"""MEF3RawIO: neo's compliance suite, values by time against the Reader, the
stream/segment mapping, records, annotations, passwords and read locality."""

import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import MEF3RawIO
from neo.test.rawiotest import rawio_compliance as compliance

from support.neo_sessions import all_cases, scenario

COMPLIANCE = (
    compliance.header_is_total,
    compliance.check_signal_stream_buffer_hierachy,
    compliance.count_element,
    compliance.read_analogsignals,
    compliance.read_events,
    compliance.has_annotations,
    compliance.check_buffer_api,  # no buffers (RED blocks are compressed): checks the empty case
)


def open_rawio(path, password=None, **kw):
    r = MEF3RawIO(path, password=password, **kw)
    r.parse_header()
    return r


def neo_signals(r):
    """{channel: [(t_start_uutc (float), float64 values)]} over all segments, in segment order."""
    origin = r.raw_annotations["blocks"][0]["mef_session_start_uutc"]
    out = {}
    for seg in range(r.segment_count(0)):
        for si in range(r.signal_streams_count()):
            n = r.get_signal_size(0, seg, si)
            if n == 0:
                continue
            raw = r.get_analogsignal_chunk(0, seg, 0, n, si)
            vals = r.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=si)
            t0 = r.get_signal_t_start(0, seg, si) * 1e6 + (0 if r.keep_original_times else origin)
            sid = r.header["signal_streams"][si]["id"]
            names = r.header["signal_channels"]["name"][r.header["signal_channels"]["stream_id"] == sid]
            for c, name in enumerate(names):
                out.setdefault(str(name), []).append((t0, vals[:, c]))
    return out


def check_against_reader(r, reader):
    """Every stored sample in exactly one segment, at its time, with the Reader's value."""
    sigs = neo_signals(r)
    expected = [c for c in reader.channels if sum(b["number_of_samples"] for b in reader.toc(c))]
    if r.stream_ids is not None:
        expected = [str(c) for c in r.header["signal_channels"]["name"]]
    assert sorted(sigs) == sorted(expected)
    for name, pieces in sigs.items():
        fs = reader.info(name)["sampling_frequency"]
        # by time: each neo signal is gap-free on the Reader's grid at its t_start
        for t0, vals in pieces:
            a = int(np.floor(t0))
            ref = reader.read(name, a, a + int(round(len(vals) * 1e6 / fs)))
            m = min(len(ref), len(vals))
            assert abs(len(ref) - len(vals)) <= 1
            assert not np.isnan(ref[:m]).any(), f"{name}: neo signal at {t0} covers a gap"
            np.testing.assert_allclose(vals[:m], ref[:m], rtol=1e-12, atol=0)
        # all stored samples, once, in time order
        total = sum(b["number_of_samples"] for b in reader.toc(name))
        got = np.concatenate([v for _, v in sorted(pieces, key=lambda p: p[0])])
        assert len(got) == total
        full = reader.read(name)
        np.testing.assert_allclose(got, full[~np.isnan(full)], rtol=1e-12, atol=0)


def all_records(reader):
    recs = list(reader.records(None))
    for ch in reader.channels:
        recs.extend(reader.records(ch))
    return recs


def neo_records(r):
    out = []
    for seg in range(r.segment_count(0)):
        for c in range(r.event_channels_count()):
            ts, dur, labels = r.get_event_timestamps(0, seg, c)
            for k in range(len(ts)):
                out.append((str(r.header["event_channels"]["name"][c]), int(ts[k]), str(labels[k]), seg))
    return out


def check_records(r, reader):
    recs = all_records(reader)
    got = neo_records(r)
    assert len(got) == len(recs), "every record appears exactly once"
    assert sorted((t, ts) for t, ts, _, _ in got) == sorted((x["type"], x["time"]) for x in recs)
    # each record in the last segment starting at or before it (segment 0 if before all)
    starts = [r.segment_t_start(0, s) for s in range(r.segment_count(0))]
    origin = r._time_origin
    for rtype, ts, _, seg in got:
        t = (ts - origin) / 1e6
        assert starts[seg] <= t <= r.segment_t_stop(0, seg)
        if seg + 1 < len(starts):
            assert t < starts[seg + 1]


def check_segments(r):
    n = r.segment_count(0)
    for s in range(n):
        t0, t1 = r.segment_t_start(0, s), r.segment_t_stop(0, s)
        assert t1 > t0
        if s:
            assert t0 >= r.segment_t_start(0, s - 1)
        for si in range(r.signal_streams_count()):
            size = r.get_signal_size(0, s, si)
            ts = r.get_signal_t_start(0, s, si)
            fs = r.get_signal_sampling_rate(si)
            assert ts >= t0 - 1e-9
            assert ts + size / fs <= t1 + 1e-9


@pytest.mark.parametrize("name,writer", all_cases())
def test_session(mef_sessions, name, writer):
    path = mef_sessions(name, writer)
    password = scenario(name).read_password
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a full-access read warns about nothing
        r = open_rawio(path, password=password)
    for check in COMPLIANCE:
        check(r)
    with neo_mef3.Reader(path, password=password or "") as reader:
        check_against_reader(r, reader)
        check_records(r, reader)
    check_segments(r)
    r.close()


@pytest.mark.parametrize("writer", ["mef_tools", "mef3io", "native"])
def test_streams_and_segments_when_gaps_differ(mef_sessions, writer):
    r = open_rawio(mef_sessions("differing_gaps", writer))
    chans = r.header["signal_channels"]
    streams = {
        tuple(sorted(str(c) for c in chans["name"][chans["stream_id"] == s["id"]])): i
        for i, s in enumerate(r.header["signal_streams"])
    }
    # same rate, same layout -> one stream; each other gap layout -> its own stream
    assert sorted(streams) == [("w",), ("x", "x2"), ("y",), ("z",)]
    # cuts where y resumes (4 s) and where z resumes (7.5 s); the record before the data
    # widens segment 0 back to -1 s
    assert r.segment_count(0) == 3
    np.testing.assert_allclose([r.segment_t_start(0, s) for s in range(3)], [-1.0, 4.0, 7.5])
    x, y, z, w = streams[("x", "x2")], streams[("y",)], streams[("z",)], streams[("w",)]
    sizes = [[r.get_signal_size(0, s, k) for k in (x, y, z, w)] for s in range(3)]
    # x and w (continuous) are split at the cuts; y stops at its gap; z is whole until 6 s
    assert sizes == [[4000, 3000, 4000, 1000], [3500, 3500, 2000, 875], [2500, 2500, 2500, 625]]
    assert r.get_signal_t_start(0, 1, z) == pytest.approx(4.0)
    assert r.get_signal_t_start(0, 2, z) == pytest.approx(7.5)
    # records: in y's gap -> segment 0; after the data -> the last segment
    got = {lab: seg for _, _, lab, seg in neo_records(r)}
    assert got == {"before the data": 0, "in y's gap": 0, "y channel note": 0, "z epoch": 1, "after the data": 2}
    assert r.segment_t_stop(0, 2) == pytest.approx(12.0)


def test_session_with_records_maps_types(mef_sessions):
    r = open_rawio(mef_sessions("records", "mef_tools"))
    ev = r.header["event_channels"]
    kinds = {str(n): t.decode() for n, t in zip(ev["name"], ev["type"])}
    assert kinds == {
        "CSti": "event", "Curs": "event", "EDFA": "epoch", "ESti": "event", "Epoc": "epoch",
        "LNTP": "event", "Note": "event", "Seiz": "epoch", "SyLg": "event",
    }
    c = list(ev["name"]).index("Seiz")
    ts, dur, labels = r.get_event_timestamps(0, 0, c)
    secs = r.rescale_event_timestamp(ts, "float64", c)
    assert list(labels) == ["seizure", "focal"]
    np.testing.assert_allclose(secs, [2.0, 2.2])
    np.testing.assert_allclose(r.rescale_epoch_duration(dur, "float64", c), [2.0, 0.7])
    arr = r.raw_annotations["blocks"][0]["segments"][0]["events"][c]["__array_annotations__"]
    assert list(arr["mef_channel"]) == ["", "r256"]
    assert list(arr["mef_level"]) == ["session", "channel"]
    c = list(ev["name"]).index("Epoc")
    ts, dur, labels = r.get_event_timestamps(0, 0, c)
    assert list(labels) == ["N2", "W"]
    np.testing.assert_allclose(r.rescale_epoch_duration(dur, "float64", c), [1.0, 0.5])
    # t_start/t_stop filtering (seconds)
    c = list(ev["name"]).index("Note")
    ts, _, labels = r.get_event_timestamps(0, 0, c, t_start=1.0, t_stop=2.0)
    assert list(labels) == ["Note at channel level"]


def test_annotations(mef_sessions):
    r = open_rawio(mef_sessions("encrypted", "mef3io"), password="pass2")
    bl = r.raw_annotations["blocks"][0]
    assert bl["rec_datetime"].timestamp() == pytest.approx(1_600_000_000.0)
    assert bl["mef_session_start_uutc"] == 1_600_000_000_000_000
    for key in ("session_description", "subject_name_1", "subject_id", "recording_location"):
        assert key in bl
    seg = bl["segments"][0]
    assert seg["rec_datetime"] == bl["rec_datetime"]
    arr = seg["signals"][0]["__array_annotations__"]
    for key in (
        "units_description", "channel_description", "reference_description", "acquisition_channel_number",
        "low_frequency_filter_setting", "high_frequency_filter_setting", "notch_filter_frequency_setting",
        "AC_line_frequency", "units_conversion_factor",
    ):
        assert len(arr[key]) == r.signal_channels_count(0)
    assert r.header["signal_channels"]["units"][0] == "uV"
    assert r.header["signal_channels"]["gain"][0] == pytest.approx(0.01)
    assert r.header["signal_channels"]["offset"][0] == 0.0
    assert r.header["signal_channels"]["dtype"][0] == "int32"


def test_level1_password_gives_signals_only(mef_sessions):
    path = mef_sessions("encrypted", "mef3io")
    with pytest.warns(UserWarning, match="records"):
        r = open_rawio(path, password="pass1")
    assert r.event_channels_count() == 0
    bl = r.raw_annotations["blocks"][0]
    assert "subject_name_1" not in bl and "subject_id" not in bl and "recording_location" not in bl
    for check in COMPLIANCE:
        check(r)
    with neo_mef3.Reader(path, password="pass1") as reader:
        check_against_reader(r, reader)


def test_wrong_or_missing_password_fails(mef_sessions):
    path = mef_sessions("encrypted", "mef3io")
    for pw in (None, "nope"):
        with pytest.raises(neo_mef3.MefError):
            open_rawio(path, password=pw)


def test_keep_original_times(mef_sessions):
    path = mef_sessions("segments", "mef3io")
    rel, ab = open_rawio(path), open_rawio(path, keep_original_times=True)
    for s in range(rel.segment_count(0)):
        assert ab.segment_t_start(0, s) == pytest.approx(rel.segment_t_start(0, s) + 1_600_000_000.0, abs=1e-6)
        for si in range(rel.signal_streams_count()):
            assert ab.get_signal_t_start(0, s, si) == pytest.approx(
                rel.get_signal_t_start(0, s, si) + 1_600_000_000.0, abs=1e-6
            )
    assert rel.segment_t_start(0, 0) == 0.0
    with neo_mef3.Reader(path) as reader:
        check_against_reader(ab, reader)


def test_multiple_factors_per_channel(mef_sessions):
    path = mef_sessions("mixed_factors", "mef3io")
    r = open_rawio(path)
    ch = {str(c["name"]): c for c in r.header["signal_channels"]}
    assert ch["dec"]["dtype"] == "int32" and ch["dec"]["gain"] == pytest.approx(0.001)
    assert ch["amp"]["dtype"] == "float64" and ch["amp"]["gain"] == 1.0
    for check in COMPLIANCE:
        check(r)
    with neo_mef3.Reader(path) as reader:
        check_against_reader(r, reader)


def test_small_window_decodes_few_blocks(mef_sessions):
    path = mef_sessions("long", "mef3io")
    r = open_rawio(path)
    n = r.get_signal_size(0, 0, 0)
    assert n == 120_000
    before = r._stored.blocks_decoded
    chunk = r.get_analogsignal_chunk(0, 0, 60_500, 60_510, 0)
    assert chunk.shape == (10, 1)
    assert r._stored.blocks_decoded - before == 1
    before = r._stored.blocks_decoded
    r.get_analogsignal_chunk(0, 0, 59_990, 60_010, 0)
    assert r._stored.blocks_decoded - before == 2
    with neo_mef3.Reader(path) as reader:
        t = 1_600_000_000_000_000 + 60_500_000
        ref = reader.read("long", t, t + 10_000)
    np.testing.assert_allclose(r.rescale_signal_raw_to_float(chunk, "float64", 0)[:, 0], ref)


def test_chunk_bounds(mef_sessions):
    r = open_rawio(mef_sessions("multi_rate", "mef3io"))
    n = r.get_signal_size(0, 0, 0)
    with pytest.raises(IndexError):
        r.get_analogsignal_chunk(0, 0, 0, n + 1, 0)
    assert r.get_analogsignal_chunk(0, 0, 5, 5, 0).shape == (0, 1)
    assert r.get_analogsignal_chunk(0, 0, None, None, 0).shape == (n, 1)


def test_stream_subset_has_its_own_segments(mef_sessions):
    path = mef_sessions("differing_gaps", "mef3io")
    full = open_rawio(path)
    chans = full.header["signal_channels"]
    by_chan = {str(c["name"]): str(c["stream_id"]) for c in chans}
    y, w = by_chan["y"], by_chan["w"]
    sub = open_rawio(path, stream_ids=[y, w])
    assert list(sub.header["signal_streams"]["id"]) == sorted([y, w], key=int)
    # y resumes at 4 s: the only cut; the record before the data still widens segment 0
    np.testing.assert_allclose([sub.segment_t_start(0, s) for s in range(sub.segment_count(0))], [-1.0, 4.0])
    for check in COMPLIANCE:
        check(sub)
    with neo_mef3.Reader(path) as reader:
        check_against_reader(sub, reader)
        check_records(sub, reader)
    only_w = open_rawio(path, stream_ids=w)
    assert only_w.segment_count(0) == 1 and only_w.get_signal_size(0, 0, 0) == 2500
    assert only_w.get_signal_t_start(0, 0, 0) == 0.0  # same time origin as the whole session
    with pytest.raises(ValueError):
        open_rawio(path, stream_ids=["99"])


def test_overlapping_segments(mef_sessions):
    """A MEF segment starting before the previous one ends: both kept, in overlapping neo segments."""
    try:
        path = mef_sessions("overlap", "mef3io")
    except Exception as exc:  # pragma: no cover - a writer refusing overlaps
        pytest.skip(f"cannot build an overlapping session: {exc}")
    r = open_rawio(path)
    for check in COMPLIANCE:
        check(r)
    chans = r.header["signal_channels"]
    o = [i for i, s in enumerate(r.header["signal_streams"]) if s["id"] == chans["stream_id"][list(chans["name"]).index("o")]][0]
    p = 1 - o
    assert r.segment_count(0) == 2
    assert [r.get_signal_size(0, s, o) for s in range(2)] == [1000, 1000]
    assert [r.get_signal_size(0, s, p) for s in range(2)] == [500, 1500]
    assert [r.get_signal_t_start(0, s, o) for s in range(2)] == [0.0, 5.0]
    assert r.segment_t_stop(0, 0) == pytest.approx(10.0) and r.segment_t_start(0, 1) == pytest.approx(5.0)
    with neo_mef3.Reader(path) as reader:
        t = 1_600_000_000_000_000
        seg0 = r.rescale_signal_raw_to_float(r.get_analogsignal_chunk(0, 0, 0, 500, o), "float64", o)[:, 0]
        seg1 = r.rescale_signal_raw_to_float(r.get_analogsignal_chunk(0, 1, 500, 1000, o), "float64", o)[:, 0]
        # where only one MEF segment has data, the Reader agrees
        np.testing.assert_allclose(seg0, reader.read("o", t, t + 5_000_000))
        np.testing.assert_allclose(seg1, reader.read("o", t + 10_000_000, t + 15_000_000))


@pytest.mark.parametrize("seed", range(6))
def test_sections_vectorised_matches_loop(seed):
    from neo_mef3.reader.sections import continuous_sections, sections_reference

    rng = np.random.default_rng(seed)
    fs = [1000.0, 499.907, 32000.0, 250.0, 2048.0, 100.0][seed]
    nblocks = 3000
    n = rng.integers(0, 700, nblocks)
    n[rng.random(nblocks) < 0.05] = 0  # empty blocks
    cum = np.concatenate([[0], np.cumsum(n)])
    t = 1_600_000_000_000_000 + np.round(cum[:-1] * 1e6 / fs).astype(np.int64)
    # gaps, small jitter, and (seed 5) a drifting clock that needs many cuts
    jump = np.cumsum(np.where(rng.random(nblocks) < 0.02, rng.integers(1, 5_000_000, nblocks), 0))
    jitter = rng.integers(-int(0.3e6 / fs), int(0.3e6 / fs) + 1, nblocks)
    drift = np.cumsum(np.full(nblocks, int(0.2e6 / fs))) if seed == 5 else 0
    t = t + jump + jitter + drift
    seg = np.cumsum(rng.random(nblocks) < 0.01)
    got = continuous_sections(t, n, seg, cum, fs)
    ref = sections_reference(t, n, seg, cum, fs)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert got[1].sum() == n.sum()


def test_threads_give_identical_chunks(mef_sessions):
    path = mef_sessions("long", "mef3io")
    a, b = open_rawio(path, n_threads=3), open_rawio(path, n_threads=1)
    np.testing.assert_array_equal(
        a.get_analogsignal_chunk(0, 0, 123, 119_000, 0), b.get_analogsignal_chunk(0, 0, 123, 119_000, 0)
    )


def _layout(r):
    """Everything parse_header derives from the sections, for comparing two parses."""
    out = {
        "header": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.header.items()},
        "segments": [(r.segment_t_start(0, s), r.segment_t_stop(0, s)) for s in range(r.segment_count(0))],
        "signals": [
            [(r.get_signal_size(0, s, si), r.get_signal_t_start(0, s, si)) for si in range(r.signal_streams_count())]
            for s in range(r.segment_count(0))
        ],
        "tables": {
            n: (t.sec_start.tolist(), t.sec_n.tolist(), t.sec_first.tolist(), t.dtype, t.gain, t.multipliers.tolist())
            for n, t in r._tables.items()
        },
    }
    return out


@pytest.mark.parametrize("name,writer", all_cases() + [("overlap", "mef3io")])
def test_sections_from_metadata_equal_block_tables(mef_sessions, name, writer, monkeypatch):
    """The header built from metadata is the one the block tables give (and its tables check out)."""
    try:
        path = mef_sessions(name, writer)
    except Exception as exc:  # pragma: no cover - a writer refusing overlaps
        pytest.skip(f"cannot build {name}: {exc}")
    password = scenario(name).read_password
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = open_rawio(path, password=password)
        monkeypatch.setattr(MEF3RawIO, "_sections_from_metadata", False)
        full = open_rawio(path, password=password)
    assert _layout(fast) == _layout(full)
    assert all(t._verified for t in full._tables.values())
    for t in fast._tables.values():
        t.verify()  # the block table agrees with what the metadata said
    assert _layout(fast) == _layout(full)
    fast.close()
    full.close()


def test_sections_from_metadata_used_for_plain_sessions(mef_sessions):
    """Continuous segments need no block table at parse_header; a read checks it."""
    r = open_rawio(mef_sessions("multi_rate", "native"), password=scenario("multi_rate").read_password)
    lazy = [t for t in r._tables.values() if not t._verified]
    assert lazy, "no channel took its sections from metadata"
    for t in lazy:
        assert "time" not in t.__dict__
    neo_signals(r)
    assert all(t._verified for t in r._tables.values())
    r.close()


def test_sections_from_metadata_damaged_index_raises_at_read(mef_sessions, tmp_path):
    """A .tidx not read at parse_header: its damage is reported by the first chunk read."""
    import glob
    import shutil

    path = str(tmp_path / "s.mefd")
    shutil.copytree(mef_sessions("multi_rate", "native"), path)
    r = open_rawio(path, password=scenario("multi_rate").read_password)
    name = next(n for n, t in r._tables.items() if not t._verified)
    tidx = sorted(glob.glob(f"{path}/{name}.timd/*.segd/*.tidx"))[0]
    with open(tidx, "r+b") as f:  # one entry byte flipped: the body CRC no longer matches
        f.seek(1024 + 8)
        b = f.read(1)
        f.seek(1024 + 8)
        f.write(bytes([b[0] ^ 0xFF]))
    si = [i for i, s in enumerate(r.header["signal_streams"]["id"])
          if s == r.header["signal_channels"]["stream_id"][list(r.header["signal_channels"]["name"]).index(name)]][0]
    c = list(r.header["signal_channels"]["name"][r.header["signal_channels"]["stream_id"] == r.header["signal_streams"]["id"][si]]).index(name)
    with pytest.raises(neo_mef3.MefError, match=r"\.tidx"):
        r.get_analogsignal_chunk(0, 0, 0, 1, si, [c])
    r.close()
