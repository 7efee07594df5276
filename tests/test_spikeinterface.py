"""neo_mef3.spikeinterface: read_mef3 / MEF3RecordingExtractor."""

import numpy as np
import pytest

si = pytest.importorskip("spikeinterface")
import spikeinterface.core as sic  # noqa: E402
import spikeinterface.preprocessing as spre  # noqa: E402

import neo_mef3  # noqa: E402
from neo_mef3.spikeinterface import MEF3RecordingExtractor, get_streams, read_mef3  # noqa: E402


def _reader_pieces(reader, name):
    """The channel's stored samples as (start_uutc, counts, values) runs without gaps."""
    raw = reader.read_raw(name)
    vals = reader.read(name)
    valid = raw["valid"].astype(bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    fs = raw["sampling_frequency"]
    return [
        (raw["start_uutc"] + a * 1e6 / fs, raw["samples"][a:b], vals[a:b]) for a, b in zip(edges[::2], edges[1::2])
    ]


def test_traces_match_reader(mef_sessions):
    path = mef_sessions("differing_gaps", "mef3io")
    names, ids = get_streams(path)
    assert len(ids) == 4
    with pytest.raises(ValueError):
        read_mef3(path)  # several streams: SpikeInterface asks which one
    with neo_mef3.Reader(path) as reader:
        for stream_id in ids:
            rec = read_mef3(path, stream_id=stream_id)
            assert isinstance(rec, MEF3RecordingExtractor)
            assert rec.get_dtype() == np.int32
            chans = [str(c) for c in rec.get_channel_ids()]
            for c in chans:
                assert c in reader.channels
            gains = rec.get_channel_gains()
            np.testing.assert_allclose(gains, [reader.info(c)["units_conversion_factor"] for c in chans])
            np.testing.assert_array_equal(rec.get_channel_offsets(), 0.0)
            assert rec.get_property("physical_unit")[0] == "uV"
            for k, c in enumerate(chans):
                counts = np.concatenate(
                    [rec.get_traces(segment_index=s)[:, k] for s in range(rec.get_num_segments())]
                )
                uv = np.concatenate(
                    [rec.get_traces(segment_index=s, return_in_uV=True)[:, k] for s in range(rec.get_num_segments())]
                )
                pieces = _reader_pieces(reader, c)
                np.testing.assert_array_equal(counts, np.concatenate([p[1] for p in pieces]))
                np.testing.assert_allclose(uv, np.concatenate([p[2] for p in pieces]), rtol=1e-6)
            # segment start times are the samples' true times (relative to the session start)
            t0 = reader.info(chans[0])["start_time"]
            starts = sorted({round((p[0] - 1_600_000_000_000_000) / 1e6, 6) for p in _reader_pieces(reader, chans[0])})
            seg_starts = [rec.get_start_time(s) for s in range(rec.get_num_segments())]
            # by default segments follow this stream's own gaps: one per continuous run
            assert starts == [round(s, 6) for s in seg_starts]
            session = read_mef3(path, stream_id=stream_id, session_segments=True)
            assert set(starts) <= {round(session.get_start_time(s), 6) for s in range(session.get_num_segments())}
            np.testing.assert_array_equal(
                np.concatenate([session.get_traces(segment_index=s) for s in range(session.get_num_segments())]),
                np.concatenate([rec.get_traces(segment_index=s) for s in range(rec.get_num_segments())]),
            )
            assert t0 >= 1_600_000_000_000_000


def test_empty_segments(mef_sessions):
    path = mef_sessions("differing_gaps", "mef3io")
    _, ids = get_streams(path)
    for stream_id in ids:
        rec = read_mef3(path, stream_id=stream_id, session_segments=True)
        full = read_mef3(path, stream_id=stream_id, session_segments=True, keep_empty_segments=True)
        assert full.get_num_segments() == 3
        assert rec.get_num_segments() == sum(full.get_num_samples(s) > 0 for s in range(3))
        assert rec.get_annotation("neo_segment_indices") == [s for s in range(3) if full.get_num_samples(s) > 0]


def test_continuous_stream_is_one_segment(mef_sessions):
    path = mef_sessions("differing_gaps", "mef3io")
    names, ids = get_streams(path)
    w = ids[names.index("250 Hz")]
    rec = read_mef3(path, stream_name="250 Hz")
    assert rec.get_num_segments() == 1 and rec.get_num_samples(0) == 2500
    assert read_mef3(path, stream_id=w, session_segments=True).get_num_segments() == 3
    assert rec.get_start_time(0) == 0.0


def test_save_and_preprocess(mef_sessions, tmp_path):
    path = mef_sessions("differing_gaps", "mef3io")
    _, ids = get_streams(path)
    # the stream of x and x2 (the only one with two channels)
    stream = [sid for sid in ids if read_mef3(path, stream_id=sid).get_num_channels() == 2]
    rec = read_mef3(path, stream_id=stream[0])
    assert sorted(rec.get_channel_ids()) == ["x", "x2"]
    saved = rec.save(folder=tmp_path / "bin", overwrite=True, progress_bar=False)
    for s in range(rec.get_num_segments()):
        np.testing.assert_array_equal(saved.get_traces(segment_index=s), rec.get_traces(segment_index=s))
        assert saved.get_start_time(s) == pytest.approx(rec.get_start_time(s))
    loaded = sic.load(tmp_path / "bin")
    np.testing.assert_array_equal(loaded.get_traces(segment_index=0), rec.get_traces(segment_index=0))

    cmr = spre.common_reference(spre.astype(rec, "float32"), operator="median")
    scaled = spre.scale_to_uV(rec)
    out = cmr.save(folder=tmp_path / "cmr", overwrite=True, progress_bar=False)
    tr = rec.get_traces(segment_index=0).astype("float32")
    np.testing.assert_allclose(out.get_traces(segment_index=0), tr - np.median(tr, axis=1, keepdims=True), atol=1e-3)
    with neo_mef3.Reader(path) as reader:
        t = 1_600_000_000_000_000
        ref = reader.read("x", t, t + 1_000_000)
    np.testing.assert_allclose(scaled.get_traces(segment_index=0, end_frame=1000)[:, list(rec.get_channel_ids()).index("x")], ref, rtol=1e-6)


def test_encrypted_and_single_stream(mef_sessions):
    path = mef_sessions("encrypted", "mef3io")
    with pytest.raises(Exception):
        read_mef3(path, stream_id="0")
    with pytest.warns(UserWarning, match="records"):  # level 1: signals only
        rec = read_mef3(path, stream_id="0", password="pass1")
    assert rec.get_num_channels() == 1
    path = mef_sessions("long", "mef3io")
    rec = read_mef3(path)  # one stream: no stream_id needed
    assert rec.get_num_samples(0) == 120_000
    assert list(rec.get_channel_ids()) == ["long"]
    chunk = rec.get_traces(start_frame=50_000, end_frame=50_100)
    with neo_mef3.Reader(path) as reader:
        t = 1_600_000_000_000_000 + 50_000_000
        np.testing.assert_array_equal(chunk[:, 0], reader.read_raw("long", t, t + 100_000)["samples"])
