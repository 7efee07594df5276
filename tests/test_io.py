"""MEF3IO: registration with neo, read_block (lazy and not), write_block round trips."""

import os
import subprocess
import tempfile
import sys
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
import quantities as pq

import neo
import neo.io
import neo.rawio
import neo_mef3
from neo_mef3 import MEF3IO, MEF3RawIO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def writer_classes():
    out = []
    try:
        from neo_mef3.writer import Writer

        out.append(pytest.param(Writer, id="native"))
    except ImportError:
        pass
    try:
        import mef3io

        out.append(pytest.param(mef3io.Writer, id="mef3io"))
    except ImportError:
        pass
    return out


@pytest.fixture(params=writer_classes())
def writer_class(request, monkeypatch):
    monkeypatch.setattr(MEF3IO, "writer_class", request.param)
    return request.param


# --------------------------------------------------------------------- registration ---
def test_registered_with_neo(mef_sessions, tmp_path):
    path = mef_sessions("multi_rate", "mef3io")
    assert MEF3IO in neo.io.iolist
    assert MEF3RawIO in neo.rawio.rawiolist
    assert neo.rawio.MEF3RawIO is MEF3RawIO and neo.io.MEF3IO is MEF3IO
    for ext in ("mefd", "tmet", "tdat", "tidx", "rdat", "ridx"):
        assert MEF3IO in neo.io.io_by_extension[ext]
    io = neo.io.get_io(path)
    assert isinstance(io, MEF3IO)
    assert neo.io.list_candidate_ios(path)[0] is MEF3IO
    assert neo.rawio.get_rawio(path) is MEF3RawIO
    assert neo.rawio.get_rawio(str(tmp_path / "new.mefd")) is MEF3RawIO
    # a session still to be written
    out = neo.io.get_io(str(tmp_path / "out.mefd"))
    assert isinstance(out, MEF3IO) and not os.path.exists(tmp_path / "out.mefd")


def test_other_ios_untouched():
    assert neo.io.io_by_extension["nix"][0] is neo.io.NixIO
    assert neo.io.io_by_extension["rdat"][0] is neo.io.MedIO  # neo's own IO keeps its place
    assert neo.io.list_candidate_ios("x.edf") == [neo.io.EDFIO]
    assert neo.rawio.get_rawio("x.edf") is neo.rawio.EDFRawIO
    assert neo.rawio.rawiolist[: len(neo.rawio.rawiolist) - 1].count(MEF3RawIO) == 0
    neo_mef3._neo_registration.register()  # idempotent
    assert neo.io.iolist.count(MEF3IO) == 1 and neo.rawio.rawiolist.count(MEF3RawIO) == 1


def test_import_order_and_no_spikeinterface(mef_sessions):
    path = mef_sessions("multi_rate", "mef3io")
    code = (
        "import sys, neo, neo.io, neo.rawio\n"
        "import neo_mef3\n"
        f"io = neo.io.get_io({path!r})\n"
        "assert type(io).__name__ == 'MEF3IO', io\n"
        "assert neo.rawio.MEF3RawIO is neo_mef3.MEF3RawIO\n"
        "assert 'spikeinterface' not in sys.modules\n"
    )
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tempfile.gettempdir())


# -------------------------------------------------------------------------- reading ---
def test_read_block_matches_rawio(mef_sessions):
    path = mef_sessions("differing_gaps", "mef3io")
    io = MEF3IO(path)
    bl = io.read_block()
    lazy = MEF3IO(path).read_block(lazy=True)
    assert isinstance(bl.rec_datetime, datetime)
    assert bl.rec_datetime == datetime.fromtimestamp(1_600_000_000, tz=timezone.utc)
    assert len(bl.segments) == len(lazy.segments) == 3
    with neo_mef3.Reader(path) as reader:
        for seg, lseg in zip(bl.segments, lazy.segments):
            assert len(seg.analogsignals) == 4
            for sig, proxy in zip(seg.analogsignals, lseg.analogsignals):
                loaded = proxy.load()
                np.testing.assert_array_equal(sig.magnitude, loaded.magnitude)
                assert sig.units == pq.uV
                ann = sig.array_annotations
                for key in ("channel_names", "units_description", "acquisition_channel_number",
                            "low_frequency_filter_setting", "channel_description"):
                    assert len(ann[key]) == sig.shape[1]
                if sig.shape[0] == 0:
                    continue
                t0 = int(round(float(sig.t_start.rescale("s")) * 1e6)) + 1_600_000_000_000_000
                for c, name in enumerate(ann["channel_names"]):
                    fs = reader.info(str(name))["sampling_frequency"]
                    ref = reader.read(str(name), t0, t0 + int(round(sig.shape[0] * 1e6 / fs)))
                    np.testing.assert_allclose(sig.magnitude[:, c], ref, rtol=1e-6)
            # a time slice through the proxy
            p = lseg.analogsignals[0]
            if p.shape[0] > 10:
                part = p.load(time_slice=(p.t_start, p.t_start + 10 / p.sampling_rate))
                np.testing.assert_array_equal(part.magnitude, p.load().magnitude[:10])
    labels = sorted(str(l) for s in bl.segments for e in s.events for l in e.labels)
    assert labels == ["after the data", "before the data", "in y's gap", "y channel note"]
    epochs = [e for s in bl.segments for e in s.epochs if len(e)]
    assert len(epochs) == 1 and float(epochs[0].durations[0].rescale("s")) == pytest.approx(1.0)


# -------------------------------------------------------------------------- writing ---
def _adc(n, step, seed):
    return (np.random.default_rng(seed).integers(-3000, 3000, n) * step).astype(np.float32)


def _handmade_block():
    bl = neo.Block(name="handmade", rec_datetime=datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc))
    for k, t0 in enumerate((0.0, 10.0)):
        seg = neo.Segment(name=f"trial {k}")
        ab = np.stack([_adc(2000, 0.0305, 10 + k), _adc(2000, 0.0305, 20 + k)], axis=1)
        ab[500:800, 1] = np.nan  # a gap in B
        seg.analogsignals.append(
            neo.AnalogSignal(ab, units="mV", sampling_rate=1000 * pq.Hz, t_start=t0 * pq.s, name="AB",
                             array_annotations={"channel_names": np.array(["A", "B"])})
        )
        c = np.round(np.random.default_rng(30 + k).normal(0, 50, 500), 3)
        seg.analogsignals.append(
            neo.AnalogSignal(c[:, None], units="uV", sampling_rate=250 * pq.Hz, t_start=(t0 + 0.5) * pq.s, name="C")
        )
        seg.events.append(neo.Event(np.array([0.25, 1.5]) + t0, units="s", labels=np.array(["go", "stop"]), name="stim"))
        seg.events.append(neo.Event(np.array([0.75]) + t0, units="s", labels=np.array(["plain"]), name="Note"))
        seg.epochs.append(
            neo.Epoch(np.array([0.1]) + t0, durations=np.array([0.4]), units="s", labels=np.array(["N2"]), name="sleep")
        )
        bl.segments.append(seg)
    return bl


def _signals_by_channel(bl):
    out = {}
    for s, seg in enumerate(bl.segments):
        for sig in seg.analogsignals:
            names = sig.array_annotations.get("channel_names")
            if names is None or len(names) != sig.shape[1]:
                names = [sig.name]
            for c, name in enumerate(names):
                if sig.shape[0]:
                    out.setdefault(str(name), []).append((s, sig[:, c]))
    return out


def test_write_block_round_trip(tmp_path, writer_class):
    bl = _handmade_block()
    path = str(tmp_path / "hand.mefd")
    io = neo.io.get_io(path)
    assert io.is_writable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = io.write_block(bl)
    # the ADC channels keep their step, the decimal one its 3 decimals
    assert info["channels"]["A"]["units_conversion_factor"] == pytest.approx(0.0305, rel=1e-6)
    assert info["channels"]["C"]["units_conversion_factor"] == pytest.approx(0.001)
    assert info["inexact"] == {}

    back = MEF3IO(path).read_block()
    assert back.rec_datetime == bl.rec_datetime
    # each trial is split where B resumes after its gap (neo segments follow the gaps)
    np.testing.assert_allclose([float(s.t_start.rescale("s")) for s in back.segments], [0.0, 0.8, 10.0, 10.8])
    orig, got = _signals_by_channel(bl), _signals_by_channel(back)
    assert sorted(got) == ["A", "B", "C"]
    for name in orig:
        pieces = [p for _, p in got[name]]
        for _, o in orig[name]:
            # find the read-back piece(s) covering o's time span
            t0 = float(o.t_start.rescale("s"))
            fs = float(o.sampling_rate)
            vals = np.full(o.shape[0], np.nan, np.float32)
            for p in pieces:
                i = int(round((float(p.t_start.rescale("s")) - t0) * fs))
                if 0 <= i < o.shape[0]:
                    assert p.units == o.units
                    vals[i : i + p.shape[0]] = p.magnitude[:, 0]
            np.testing.assert_array_equal(np.isnan(vals), np.isnan(np.asarray(o.magnitude[:, 0])))
            np.testing.assert_allclose(vals, np.asarray(o.magnitude[:, 0], np.float32), rtol=1e-6, atol=1e-9)
    # events and epochs
    ev = {e.name: e for s in back.segments for e in s.events}
    note = np.concatenate([e.labels for s in back.segments for e in s.events if e.name == "Note"])
    assert sorted(note) == sorted(["stim: go", "stim: stop", "plain"] * 2)
    times = np.sort(np.concatenate([e.times.rescale("s").magnitude for s in back.segments for e in s.events]))
    np.testing.assert_allclose(times, [0.25, 0.75, 1.5, 10.25, 10.75, 11.5], atol=1e-6)
    ep = [e for s in back.segments for e in s.epochs if len(e)]
    assert [str(l) for e in ep for l in e.labels] == ["sleep: N2", "sleep: N2"]
    np.testing.assert_allclose([float(d) for e in ep for d in e.durations.rescale("s")], [0.4, 0.4])
    np.testing.assert_allclose([float(t) for e in ep for t in e.times.rescale("s")], [0.1, 10.1], atol=1e-6)
    assert set(ev) == {"Note"}


def test_write_block_refuses_to_overwrite(tmp_path, writer_class):
    bl = _handmade_block()
    path = str(tmp_path / "x.mefd")
    MEF3IO(path).write_block(bl)
    with pytest.raises(FileExistsError):
        MEF3IO(path).write_block(bl)
    MEF3IO(path).write_block(bl, overwrite=True)
    assert len(MEF3IO(path).read_block().segments) == 4


def test_write_block_encrypted(tmp_path, writer_class):
    path = str(tmp_path / "enc.mefd")
    MEF3IO(path).write_block(_handmade_block(), password1="p1", password2="p2")
    with pytest.raises(neo_mef3.MefError):
        MEF3IO(path).read_block()
    full = MEF3IO(path, password="p2").read_block()
    assert sum(len(e) for s in full.segments for e in s.events) == 6
    with pytest.warns(UserWarning):
        l1 = MEF3IO(path, password="p1").read_block()
    assert sum(len(e) for s in l1.segments for e in s.events) == 0
    np.testing.assert_array_equal(full.segments[0].analogsignals[0].magnitude, l1.segments[0].analogsignals[0].magnitude)


def test_mef_session_round_trip(mef_sessions, tmp_path, writer_class):
    """A MEF session read with neo, written back, reads the same (segments, values, records)."""
    src = mef_sessions("differing_gaps", "mef3io")
    bl = MEF3IO(src).read_block(lazy=True)
    path = str(tmp_path / "copy.mefd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MEF3IO(path).write_block(bl)
    a, b = MEF3RawIO(src), MEF3RawIO(path)
    a.parse_header()
    b.parse_header()
    assert a.segment_count(0) == b.segment_count(0)
    assert sorted(a.header["signal_channels"]["name"]) == sorted(b.header["signal_channels"]["name"])
    for s in range(a.segment_count(0)):
        assert a.segment_t_start(0, s) == pytest.approx(b.segment_t_start(0, s))
    sa, sb = _signals_by_channel(MEF3IO(src).read_block()), _signals_by_channel(MEF3IO(path).read_block())
    for name in sa:
        for (_, x), (_, y) in zip(sa[name], sb[name]):
            assert x.t_start == y.t_start
            np.testing.assert_array_equal(x.magnitude, y.magnitude)
    with neo_mef3.Reader(src) as ra, neo_mef3.Reader(path) as rb:
        def recs(r):
            out = [(x["type"], x["time"], x.get("text"), None) for x in r.records(None)]
            for ch in r.channels:
                out += [(x["type"], x["time"], x.get("text"), ch) for x in r.records(ch)]
            return sorted(out)

        assert recs(ra) == recs(rb)


def test_generated_block_round_trip(tmp_path, writer_class):
    """A Block from neo's own test generator (every Segment starting at t=0)."""
    from neo.test.generate_datasets import generate_one_simple_block

    np.random.seed(0)
    bl = generate_one_simple_block(
        nb_segment=2,
        supported_objects=[neo.Block, neo.Segment, neo.AnalogSignal, neo.Event, neo.Epoch, neo.SpikeTrain],
        duration=0.5 * pq.s,
        sampling_rate=1000 * pq.Hz,
        nb_spiketrain=1,
        epoch_duration_range=[0.1, 0.2],
    )
    path = str(tmp_path / "gen.mefd")
    with pytest.warns(UserWarning) as rec:
        info = MEF3IO(path).write_block(bl)
    msgs = " ".join(str(w.message) for w in rec)
    assert "SpikeTrain" in msgs and "overlaps" in msgs
    assert info["segment_shifts_s"][0] == 0 and info["segment_shifts_s"][1] == pytest.approx(0.5)
    back = MEF3IO(path).read_block()
    assert len(back.segments) == 2
    # random floats have no step of their own: stored at 1/1000 of their typical change
    factor = max(f for c in info["channels"].values() for f in c["units_conversion_factors"])
    for so, sb in zip(bl.segments, back.segments):
        sig = sb.analogsignals[0]
        assert sig.shape == (500, 4) and sig.units == pq.mV
        orig = np.stack([np.asarray(a.magnitude)[:, 0] for a in so.analogsignals], axis=1)
        assert factor <= np.abs(np.diff(orig, axis=0)).mean() / 1000
        np.testing.assert_allclose(sig.magnitude, orig, rtol=0, atol=0.5 * factor + 1e-6)
        n_ev = sum(len(e) for e in so.events)
        assert sum(len(e) for e in sb.events) == n_ev
        assert sum(len(e) for e in sb.epochs) == sum(len(e) for e in so.epochs)
        # times relative to their segment survive the shift
        t_seg = float(sb.t_start.rescale("s"))
        t_orig = np.sort(np.concatenate([e.times.rescale("s").magnitude for e in so.events]))
        t_back = np.sort(np.concatenate([e.times.rescale("s").magnitude for e in sb.events])) - t_seg
        np.testing.assert_allclose(t_back, t_orig, atol=1e-6)


def test_block_from_another_format(tmp_path, writer_class):
    """neo's ExampleIO (int16 ADC counts with a gain, uV and pA channels) -> MEF -> neo."""
    src = neo.io.ExampleIO("fake.fake")
    lazy = src.read_block(block_index=0, lazy=True)
    bl = neo.Block(name="example", rec_datetime=datetime(2022, 1, 1, tzinfo=timezone.utc))
    for lseg in lazy.segments:
        seg = neo.Segment()
        t0 = lseg.t_start
        sl = (t0, t0 + 0.3 * pq.s)
        for p in lseg.analogsignals:
            seg.analogsignals.append(p.load(time_slice=sl))
        for e in lseg.events:
            seg.events.append(e.load(time_slice=sl))
        for e in lseg.epochs:
            seg.epochs.append(e.load(time_slice=sl))
        bl.segments.append(seg)
    path = str(tmp_path / "example.mefd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = MEF3IO(path).write_block(bl)
    assert info["inexact"] == {}
    units = {n: c["units"] for n, c in info["channels"].items()}
    assert units["ch0"] == "uV" and units["ch15"] == "pA"
    back = MEF3IO(path).read_block()
    assert len(back.segments) == len(bl.segments)
    orig, got = _signals_by_channel(bl), _signals_by_channel(back)
    assert sorted(orig) == sorted(got)
    for name in orig:
        for (_, o), (_, g) in zip(orig[name], got[name]):
            assert g.units == o.units
            assert float(g.t_start.rescale("s")) == pytest.approx(float(o.t_start.rescale("s")))
            np.testing.assert_array_equal(g.magnitude, o.magnitude)  # exact: the ADC step is kept
    n_orig = sum(len(e) for s in bl.segments for e in list(s.events) + list(s.epochs))
    n_back = sum(len(e) for s in back.segments for e in list(s.events) + list(s.epochs))
    assert n_orig == n_back
