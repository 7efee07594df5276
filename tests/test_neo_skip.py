"""MEF3RawIO and the SpikeInterface extractor with ``on_error="skip"``: a damaged block
reads as zeros, is reported once with its file and sample range, and its span is an
epoch of ``bad blocks`` (neo) and in the ``bad_blocks`` property (SpikeInterface); every
other sample equals the undamaged session's (support.neo_outcomes, as in the campaign)."""
import random
import shutil
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import CrcError, MefWarning
from support.damage import generate_cases, apply_case
from support.neo_outcomes import classify_neo_skip, neo_baseline


def _damage_one_block(path, channel, k):
    with neo_mef3.Reader(path) as r:
        offset = int(r.block_table(channel)["file_offset"][k])
        tdat = r.segment_files(channel)[0].tdat
    with open(tdat, "r+b") as f:
        f.seek(offset + 60)
        byte = f.read(1)
        f.seek(offset + 60)
        f.write(bytes([byte[0] ^ 0xFF]))
    return tdat


def _stream_of(io, channel):
    h = io.header
    sid = h["signal_channels"][h["signal_channels"]["name"] == channel]["stream_id"][0]
    return h["signal_streams"]["id"].tolist().index(sid)


def test_a_damaged_block_reads_as_zeros_and_is_an_epoch(tmp_path, mef_sessions):
    path = str(tmp_path / "s.mefd")
    shutil.copytree(mef_sessions("odd_blocks", "mef3io"), path)
    before = neo_mef3.MEF3RawIO(path)
    before.parse_header()
    si = _stream_of(before, "b13")
    y = before.get_analogsignal_chunk(0, 0, None, None, si)
    before.close()
    tdat = _damage_one_block(path, "b13", 5)
    io = neo_mef3.MEF3RawIO(path)  # default: raise
    io.parse_header()
    with pytest.raises(CrcError):
        io.get_analogsignal_chunk(0, 0, None, None, si)
    io.close()
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        io = neo_mef3.MEF3RawIO(path, on_error="skip")
        io.parse_header()
        names = list(io.header["event_channels"]["name"])
        assert names[-1] == "bad blocks"
        x = io.get_analogsignal_chunk(0, 0, None, None, si)
        io.get_analogsignal_chunk(0, 0, None, None, si)  # read again: reported once
    said = [str(w.message) for w in got if issubclass(w.category, MefWarning)]
    assert len(said) == 1 and tdat in said[0] and "stored samples [65, 78)" in said[0], said
    assert x.dtype == np.int32 and x.shape == y.shape
    assert (x[65:78] == 0).all()
    np.testing.assert_array_equal(np.delete(x, range(65, 78), axis=0), np.delete(y, range(65, 78), axis=0))
    k = len(names) - 1
    assert io.event_count(0, 0, k) == 1
    ts, durations, labels = io.get_event_timestamps(0, 0, k)
    t = io.rescale_event_timestamp(ts, event_channel_index=k)
    assert labels.tolist() == ["b13"]
    assert t[0] == pytest.approx(65 / 250.0) and durations[0] == 13 * 4000  # 13 samples at 250 Hz, in us
    block = neo_mef3.MEF3IO(path, on_error="skip").read_block(lazy=False)
    epochs = [e for e in block.segments[0].epochs if e.name == "bad blocks"]
    assert len(epochs) == 1 and len(epochs[0]) == 1


def test_spikeinterface_bad_blocks_property(tmp_path, mef_sessions):
    pytest.importorskip("spikeinterface")
    from neo_mef3.spikeinterface import read_mef3

    path = str(tmp_path / "s.mefd")
    shutil.copytree(mef_sessions("segments", "mef3io"), path)
    _damage_one_block(path, "ref", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ids = neo_mef3.spikeinterface.get_streams(path)
        recs = [read_mef3(path, stream_id=i, on_error="skip") for i in ids]
        rec = [r for r in recs if "ref" in list(r.get_channel_ids())][0]
        assert rec._kwargs["on_error"] == "skip"
        assert list(rec.get_property("bad_blocks")) == [""]  # nothing met yet
        traces = rec.get_traces(segment_index=0)
    prop = dict(zip(rec.get_channel_ids(), rec.get_property("bad_blocks")))
    assert prop["ref"].startswith("0.000000-")  # the first block, from the session start
    first = int(round(float(prop["ref"].split("-")[1].split()[0]) * 500))
    assert first > 0 and (traces[:first, 0] == 0).all() and traces[first:, 0].any()


@pytest.mark.timeout(120)
def test_short_damage_campaign_through_neo_and_spikeinterface(tmp_path, mef_sessions):
    """A sample of the campaign's cases (support.damage): nothing wrong outside the spans."""
    pytest.importorskip("spikeinterface")
    src = mef_sessions("nan_gaps", "mef3io")
    work = str(tmp_path / "w.mefd")
    shutil.copytree(src, work)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = neo_baseline(work)
    cases = generate_cases(src, "s", random.Random(3), n_random=12, systematic=False, crafted=4)
    seen = {}
    for case in cases:
        shutil.rmtree(work)
        shutil.copytree(src, work)
        apply_case(work, case)
        out, why = classify_neo_skip(work, "", baseline, bool(case.get("fix_crc")))
        assert out.split(":")[0] not in ("wrong", "exception"), (case, out, why)
        seen[out.split(":")[0]] = seen.get(out.split(":")[0], 0) + 1
    assert seen.get("partial", 0) + seen.get("error", 0) > 0  # the damage was met
