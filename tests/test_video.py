"""Video channels (``.vidd``): listed, their metadata and clip index read as pymef reads
them, exposed as neo epochs, and their damage never touches the time series.

The video channel is written with pymef's ``write_mef_v_segment_metadata`` and
``write_mef_v_segment_indices`` next to a time-series channel of our Writer.
"""
import os
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import FormatError, MefWarning
from neo_mef3.writer import Writer

T0 = 1_600_000_000_000_000


def _session(path, passwords=(None, None)):
    from pymef.mef_file.pymef3_file import create_vi_dtype
    from pymef.mef_session import MefSession

    p1, p2 = passwords
    with Writer(path, password1=p1 or "", password2=p2 or "") as w:
        w.write("ts", np.arange(2000) / 10.0, T0, 100.0)
    s = MefSession(path + "/", p2 or "", False)
    try:
        for seg, start in ((0, T0), (1, T0 + 12_000_000)):
            s.write_mef_v_segment_metadata(
                "cam", seg, p1, p2, start, start + 6_000_000,
                {"horizontal_resolution": 640, "vertical_resolution": 480, "frame_rate": 30.0, "number_of_clips": 2,
                 "maximum_clip_bytes": 5000, "video_format": b"mp4", "channel_description": b"left camera"},
                {"recording_time_offset": 0, "GMT_offset": 0})
            vi = np.zeros(2, create_vi_dtype())
            vi["start_time"] = [start, start + 3_000_000]
            vi["end_time"] = [start + 3_000_000, start + 6_000_000]
            vi["start_frame"] = [0, 90]
            vi["end_frame"] = [89, 179]
            vi["file_offset"] = [0, 4000]
            vi["clip_bytes"] = [4000, 5000]
            s.write_mef_v_segment_indices("cam", seg, p1, p2, start, start + 6_000_000, vi)
    finally:
        s.close()
    with open(os.path.join(path, "cam.vidd", "cam-000000.segd", "cam-000000.mp4"), "wb") as f:
        f.write(b"\0" * 9000)
    return path


def _pymef_segments(path, password=""):
    from pymef.mef_session import MefSession

    s = MefSession(path + "/", password)
    try:
        segs = s.session_md["video_channels"]["cam"]["segments"]
        return {name: (dict(zip(seg["section_2"].dtype.names, (seg["section_2"][k][0] for k in seg["section_2"].dtype.names))),
                       seg["indices"].copy()) for name, seg in segs.items()}
    finally:
        s.close()


@pytest.mark.parametrize("passwords", [(None, None), ("pw1", "pw2")])
def test_video_channels_read_as_pymef_reads_them(tmp_path, passwords, oracles_installed):
    path = _session(str(tmp_path / "v.mefd"), passwords)
    ref = _pymef_segments(path, passwords[1] or "")
    with neo_mef3.Reader(path, password=passwords[1] or "") as r:
        assert r.channels == ["ts"] and r.video_channels == ["cam"]
        v = r.video("cam")
    assert [s["segment"] for s in v["segments"]] == [0, 1]
    for seg in v["segments"]:
        s2, idx = ref[f"cam-{seg['segment']:06d}"]
        assert seg["frame_rate"] == s2["frame_rate"] == 30.0
        assert (seg["horizontal_resolution"], seg["vertical_resolution"]) == (640, 480)
        assert seg["number_of_clips"] == int(s2["number_of_clips"]) == 2
        assert seg["video_format"] == s2["video_format"].decode() == "mp4"
        assert seg["channel_description"] == "left camera"
        for key in ("start_time", "end_time", "start_frame", "end_frame", "file_offset", "clip_bytes"):
            np.testing.assert_array_equal(seg["clips"][key], idx[key].astype(np.int64))
    assert v["segments"][0]["files"] == [os.path.join(path, "cam.vidd", "cam-000000.segd", "cam-000000.mp4")]


def test_video_clips_are_neo_epochs(tmp_path, oracles_installed):
    path = _session(str(tmp_path / "v.mefd"))
    io = neo_mef3.MEF3RawIO(path)
    io.parse_header()
    names = list(io.header["event_channels"]["name"])
    k = names.index("video cam")
    assert io.header["event_channels"]["type"][k] == b"epoch"
    got = []
    for g in range(io.segment_count(0)):
        ts, durations, labels = io.get_event_timestamps(0, g, k)
        got += list(zip(io.rescale_event_timestamp(ts, event_channel_index=k).tolist(),
                        io.rescale_epoch_duration(durations, event_channel_index=k).tolist(), labels.tolist()))
    assert got == [(0.0, 3.0, "segment 0 clip 0: frames 0-89"), (3.0, 3.0, "segment 0 clip 1: frames 90-179"),
                   (12.0, 3.0, "segment 1 clip 0: frames 0-89"), (15.0, 3.0, "segment 1 clip 1: frames 90-179")]


@pytest.mark.parametrize("damage", ["vmet", "vidx", "missing"])
def test_damaged_video_never_touches_the_time_series(tmp_path, damage, oracles_installed):
    path = _session(str(tmp_path / "v.mefd"))
    with neo_mef3.Reader(path) as r:
        want = r.read("ts")
    seg = os.path.join(path, "cam.vidd", "cam-000000.segd")
    target = os.path.join(seg, "cam-000000." + ("vidx" if damage == "vidx" else "vmet"))
    if damage == "missing":
        os.remove(target)
    else:
        with open(target, "r+b") as f:
            f.seek(1100)
            f.write(b"\xff\xff\xff\xff")
    with neo_mef3.Reader(path) as r:
        np.testing.assert_array_equal(r.read("ts"), want)
        with pytest.raises(FormatError) as info:
            r.video("cam")
        assert "cam-000000" in str(info.value)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        with neo_mef3.Reader(path, on_error="skip") as r:
            v = r.video("cam")
    assert [s["segment"] for s in v["segments"]] == [1]
    assert any(issubclass(w.category, MefWarning) and "cam-000000" in str(w.message) for w in got)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        io = neo_mef3.MEF3RawIO(path)
        io.parse_header()
        x = io.get_analogsignal_chunk(0, 0, None, None, 0)
    assert "video cam" not in list(io.header["event_channels"]["name"])
    assert any("video channel 'cam' cannot be read" in str(w.message) for w in got)
    np.testing.assert_allclose(x[:, 0] * io.header["signal_channels"]["gain"][0], want, rtol=1e-12)
