"""neo users learn the real cause: a missing password, a time_slice past the data."""
import warnings

import neo
import pytest

import neo_mef3
from neo_mef3.errors import MefWarning, RangeError


def test_get_io_without_the_password_names_the_password(fixture_data):
    path = fixture_data("encrypted")["path"]
    for kwargs in ({}, {"password": "wrong"}):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            with pytest.raises(OSError, match="Could not identify IO"):
                neo.io.get_io(path, **kwargs)
        said = [str(w.message) for w in got if issubclass(w.category, MefWarning)]
        assert len(said) == 1 and "password" in said[0].lower() and "MEF3IO cannot open" in said[0], said
    io = neo.io.get_io(path, password="pass2")  # the right one opens
    assert isinstance(io, neo_mef3.MEF3IO)


def test_time_slice_past_the_end_names_the_ranges(mef_sessions):
    path = mef_sessions("segments", "mef3io")
    block = neo_mef3.MEF3IO(path).read_block(lazy=True)
    proxy = block.segments[0].analogsignals[0]
    stop = float(block.segments[0].t_stop.rescale("s").magnitude)
    with pytest.raises(RangeError) as info:
        proxy.load(time_slice=(0.0, stop + 100.0))
    msg = str(info.value)
    assert "`t_stop` is outside of the time range" in msg
    assert "segment 0, which holds it from 0.000000 s" in msg
    assert f"segment {len(block.segments) - 1}:" in msg
    assert isinstance(info.value, ValueError)  # what neo users catch still works
    sig = proxy.load(time_slice=(0.0, 1.0))  # a slice inside loads as before
    assert sig.shape[0] == 500
