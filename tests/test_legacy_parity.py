"""Parity of the legacy drop-in (``neo_mef3.legacy``) with ``mef_tools.io`` 1.2.3.

Each script below is a piece of mef_tools-style lab code. The harness
(``support.legacy_parity``) runs it with a given (MefReader, MefWriter) pair and records
every call: the return value (or the exception), what it printed and the warnings it
issued. ``assert_parity`` runs the script with mef_tools (the oracle) and with the
drop-in and compares the recordings with a strict comparator: types, shapes, dtypes,
dict keys and their order, values with NaN positions, DataFrame columns/dtypes/values,
printed text, exception types and messages, warnings. A step the oracle answered with
``None`` plus a message must also have issued a :class:`~neo_mef3.legacy.LegacyWarning`
in the drop-in.

The four (writer, reader) combinations give the cross reads: our MefReader on sessions
mef_tools wrote, mef_tools' MefReader on sessions we wrote.

Differences we keep on purpose are not hidden here: a script may name the steps where
a documented difference shows (``KNOWN``) and a dedicated test in
``test_legacy_differences.py`` asserts what exactly differs. Nothing is normalized: our
writer's sessions must read back exactly as mef_tools' own, metadata (``channel_description``)
and annotation order included.
"""
import os

import numpy as np
import pytest

mef_tools_io = pytest.importorskip("mef_tools.io")
pd = pytest.importorskip("pandas")

from neo_mef3 import errors as neo_mef3_errors  # noqa: E402
from neo_mef3 import legacy  # noqa: E402
from support.legacy_parity import (  # noqa: E402
    IMPLS, T0, Step, assert_parity, differences, lab_signal, legacy_warning_report, read_everything, step_differences,
)
from support.quiet import quiet  # noqa: E402

# mef_tools' own __del__ fails on objects whose constructor raised (no .session)
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


# --------------------------------------------------------------------------------------
# scripts: mef_tools-style lab code
# --------------------------------------------------------------------------------------
def script_basic(api, rec, d):
    """Float data, inferred precision, NaN runs below and above fs, two channels."""
    p = os.path.join(d, "basic.mefd")
    w = rec("MefWriter", lambda: api.MefWriter(p, overwrite=True))
    w = api.MefWriter(p, overwrite=False) if w is None else w
    x = lab_signal(256 * 40, 1)
    x[:5] = np.nan  # leading NaN, shorter than fs: stored as 0
    x[1000:1100] = np.nan  # < fs: stored as 0
    x[3000:3600] = np.nan  # >= fs: a gap
    x[-300:] = np.nan  # trailing gap
    rec("write ch1", lambda: w.write_data(x, "ch1", T0, 256))
    y = lab_signal(500 * 30, 2, scale=1e-3)
    y[7000:8000] = np.nan
    rec("write ch2", lambda: w.write_data(y, "ch2", T0 + 1237, 500.0))
    rec("channel_info", lambda: w.channel_info)
    rec("bi", lambda: w.bi)
    rec("section2", lambda: w.section2_ts_dict)
    rec("section3", lambda: w.section3_dict)
    del w
    read_everything(api, rec, p, windows=[
        (T0 + 1_000_000, T0 + 2_500_000),  # inside
        (T0 - 3_000_000, T0 + 1_000_000),  # starts before
        (T0 + 35_000_000, T0 + 50_000_000),  # ends after
        (T0 - 9_000_000, T0 - 1_000_000),  # entirely before
        (T0 + 100_000_000, T0 + 101_234_567),  # entirely after
        (T0 + 11_000_000, T0 + 14_500_000),  # across the gap
        (T0 + 2_000_000.7, T0 + 3_000_000.2),  # float times
        (T0 + 2_000_000, T0 + 2_000_000),  # empty
        (T0 + 3_000_000, T0 + 2_000_000),  # reversed
        (T0 + 1_953, T0 + 4_000_977),  # off the sample grid
    ])


def script_precision(api, rec, d):
    """Explicit precisions, integer arrays (int16/32/64), float32, constant data."""
    p = os.path.join(d, "prec.mefd")
    w = api.MefWriter(p)
    x = lab_signal(1000, 3)
    rec("p0", lambda: w.write_data(x, "p0", T0, 100, precision=0))
    rec("p2", lambda: w.write_data(x, "p2", T0, 100, precision=2))
    rec("p5", lambda: w.write_data(x / 1000, "p5", T0, 100, precision=5))
    rec("int32", lambda: w.write_data(np.arange(-500, 500, dtype=np.int32), "int32", T0, 100))
    rec("int64 p0", lambda: w.write_data(np.arange(1000, dtype=np.int64) * 7, "int64", T0, 100, precision=0))
    rec("int16", lambda: w.write_data((np.arange(1000) % 300 - 150).astype(np.int16), "int16", T0, 100))
    rec("float32", lambda: w.write_data(x.astype(np.float32), "float32", T0, 100))
    rec("float32 p3", lambda: w.write_data((x / 7).astype(np.float32), "float32p3", T0, 100, precision=3))
    rec("const", lambda: w.write_data(np.full(1000, 2.5), "const", T0, 100))
    rec("halves", lambda: w.write_data(np.arange(1000) * 0.0005 - 0.25, "halves", T0, 100, precision=3))
    rec("big", lambda: w.write_data(x * 1e6, "big", T0, 100))
    rec("np.int64 precision", lambda: w.write_data(x, "npint", T0, 100, precision=np.int64(2)))
    rec("negative precision", lambda: w.write_data(x, "negp", T0, 100, precision=-1))
    rec("channel_info", lambda: w.channel_info)
    del w
    read_everything(api, rec, p)


def script_appends(api, rec, d):
    """In-segment appends (contiguous, after a gap), refused ones, new segments."""
    p = os.path.join(d, "app.mefd")
    w = api.MefWriter(p)
    fs = 1000
    a = lab_signal(3000, 4)
    rec("first", lambda: w.write_data(a, "a", T0, fs, precision=2))
    rec("contiguous", lambda: w.write_data(lab_signal(2000, 5), "a", T0 + 3_000_000, fs))
    rec("after gap", lambda: w.write_data(lab_signal(1500, 6), "a", T0 + 7_000_000, fs))
    rec("overlap", lambda: w.write_data(lab_signal(100, 7), "a", T0 + 8_000_000, fs))
    rec("wrong fs", lambda: w.write_data(lab_signal(100, 7), "a", T0 + 20_000_000, 500))
    rec("end before start", lambda: w.write_data(lab_signal(100, 7), "a", T0 + 20_000_000, fs, end_uutc=T0))
    rec("new segment", lambda: w.write_data(lab_signal(2000, 8), "a", T0 + 12_000_000, fs, new_segment=True))
    rec("append to new segment", lambda: w.write_data(lab_signal(1000, 9), "a", T0 + 14_000_000, fs))
    rec("new segment + gaps", lambda: w.write_data(
        np.concatenate([lab_signal(1000, 10), np.full(1500, np.nan), lab_signal(800, 11)]), "a", T0 + 20_000_000, fs,
        new_segment=True))
    rec("precision ignored on append", lambda: w.write_data(lab_signal(500, 12), "a", T0 + 30_000_000, fs, precision=5))
    rec("channel_info", lambda: w.channel_info)
    rec("section2", lambda: w.section2_ts_dict)
    del w
    read_everything(api, rec, p, windows=[
        (T0 + 2_500_000, T0 + 13_000_000),
        (T0 + 19_000_000, T0 + 31_000_000),
        (T0 + 499, T0 + 12_000_501),  # next to half a sample off the grid
        (T0 + 500, T0 + 12_000_500),  # exactly half a sample off the grid (meflib's rounding)
        (T0 - 1_501, T0 + 9_998_499),
    ])


def script_reopen(api, rec, d):
    """Appends from a second MefWriter object on the same session (overwrite=False)."""
    p = os.path.join(d, "reopen.mefd")
    w = api.MefWriter(p, overwrite=True)
    rec("first", lambda: w.write_data(lab_signal(2560, 13), "b", T0, 256))
    del w
    w2 = rec("reopen", lambda: api.MefWriter(p))
    rec("reopen channel_info", lambda: w2.channel_info)
    rec("append", lambda: w2.write_data(lab_signal(2560, 14), "b", T0 + 10_000_000, 256))
    rec("refused", lambda: w2.write_data(lab_signal(256, 14), "b", T0 + 15_000_000, 256))
    rec("new channel", lambda: w2.write_data(lab_signal(1000, 15), "c", T0 + 5_000_000, 100))
    del w2
    read_everything(api, rec, p)


def script_knobs(api, rec, d):
    """max_nans_written, mef_block_len, data_units, record_offset, discont_handler, end_uutc."""
    p = os.path.join(d, "knobs.mefd")
    w = api.MefWriter(p)
    rec("defaults", lambda: (w.max_nans_written, w.mef_block_len, w.data_units, w.record_offset, w.verbose))
    rec("get_mefblock_len", lambda: [w.get_mefblock_len(fs) for fs in (100, 256, 499.9, 4999, 5000, 32000, -5)])
    rec("max_nans=-1", lambda: setattr(w, "max_nans_written", -1))
    rec("max_nans=1.5", lambda: setattr(w, "max_nans_written", 1.5))
    rec("max_nans='fs'", lambda: setattr(w, "max_nans_written", "fs"))
    rec("max_nans after bad", lambda: w.max_nans_written)
    rec("data_units=b'mV'", lambda: setattr(w, "data_units", b"mV"))
    rec("data_units=5", lambda: setattr(w, "data_units", 5))
    rec("data_units='mV'", lambda: setattr(w, "data_units", "mV"))
    rec("units", lambda: (w.data_units, w.section2_ts_dict["units_description"]))
    x = lab_signal(3000, 16)
    x[100:103] = np.nan
    x[500:700] = np.nan
    rec("max_nans=0", lambda: setattr(w, "max_nans_written", 0))
    rec("write nans0", lambda: w.write_data(x, "n0", T0, 100, precision=1))
    rec("max_nans=50", lambda: setattr(w, "max_nans_written", 50))
    rec("write nans50", lambda: w.write_data(x, "n50", T0, 100, precision=1))
    rec("max_nans=5000", lambda: setattr(w, "max_nans_written", 5000))
    rec("write nans5000", lambda: w.write_data(x, "n5000", T0, 100, precision=1))
    rec("block_len=333", lambda: setattr(w, "mef_block_len", 333))
    rec("get_mefblock_len set", lambda: w.get_mefblock_len(100))
    rec("write block333", lambda: w.write_data(x, "b333", T0, 100, precision=1))
    rec("no discont", lambda: w.write_data(x, "nodisc", T0, 100, precision=1, discont_handler=False))
    rec("record_offset", lambda: setattr(w, "record_offset", 12345))
    rec("write after offset", lambda: w.write_data(x[:1000], "rto", T0, 100, precision=1))
    rec("channel_info", lambda: w.channel_info)
    rec("section dicts", lambda: (w.section2_ts_dict, w.section3_dict))
    del w
    read_everything(api, rec, p, windows=[(T0 + 900_000, T0 + 7_100_000), (T0 + 4_999, T0 + 25_005_001),
                                          (T0 - 15_001, T0 + 6_664_999)])


def script_reload_off(api, rec, d):
    """reload_metadata=False appends (faster, unprotected in mef_tools)."""
    p = os.path.join(d, "noreload.mefd")
    w = api.MefWriter(p)
    rec("first", lambda: w.write_data(lab_signal(1000, 17), "r", T0, 100, precision=2))
    rec("append1", lambda: w.write_data(lab_signal(1000, 18), "r", T0 + 10_000_000, 100, reload_metadata=False))
    rec("info stale", lambda: w.channel_info)
    rec("append2", lambda: w.write_data(lab_signal(1000, 19), "r", T0 + 25_000_000, 100, reload_metadata=False))
    rec("append3 reload", lambda: w.write_data(lab_signal(500, 20), "r", T0 + 40_000_000, 100))
    rec("info fresh", lambda: w.channel_info)
    del w
    read_everything(api, rec, p)


def script_verbose(api, rec, d):
    """verbose=True progress messages."""
    p = os.path.join(d, "verbose.mefd")
    w = api.MefWriter(p, verbose=True)
    x = lab_signal(2000, 21)
    x[800:1100] = np.nan
    rec("write", lambda: w.write_data(x, "v", T0, 100, precision=1))
    rec("append", lambda: w.write_data(x, "v", T0 + 25_000_000, 100))
    rec("segment", lambda: w.write_data(x, "v", T0 + 50_000_000, 100, new_segment=True))
    del w
    read_everything(api, rec, p)


def script_annotations(api, rec, d):
    """write_annotations at session and channel level, repeated; get_annotations."""
    p = os.path.join(d, "ann.mefd")
    w = api.MefWriter(p)
    rec("data", lambda: w.write_data(lab_signal(2000, 22), "ch", T0, 100, precision=1))
    rec("data2", lambda: w.write_data(lab_signal(2000, 23), "other", T0, 100, precision=1))
    df = pd.DataFrame({"time": [T0 + 3_000_000, T0 + 1_000_000], "type": ["Note", "EDFA"],
                       "text": ["third", "first"], "duration": [0, 250_000]})
    rec("session notes", lambda: w.write_annotations(df))
    rec("frame after", lambda: df)
    df2 = pd.DataFrame({"time": [T0 + 2.0e6], "type": ["Note"], "text": ["second (float time)"]})
    rec("session more", lambda: w.write_annotations(df2))
    rec("frame2 after", lambda: df2)
    df3 = pd.DataFrame({"time": [T0 + 5_000_000, T0 + 4_000_000], "type": ["EDFA", "SyLg"],
                        "text": ["ch event", "ch log"], "duration": [1.5e6, 0.0]})
    rec("channel notes", lambda: w.write_annotations(df3, channel="ch"))
    rec("channel more", lambda: w.write_annotations(df3.iloc[:1].copy(), channel="ch"))
    rec("unknown channel", lambda: w.write_annotations(df3.copy(), channel="nope"))
    rec("list not frame", lambda: w.write_annotations([{"time": T0, "type": "Note", "text": "x"}]))
    del w
    read_everything(api, rec, p)


def script_annotations_first(api, rec, d):
    """Annotations on a new session before any data."""
    p = os.path.join(d, "ann_first.mefd")
    w = api.MefWriter(p)
    rec("notes", lambda: w.write_annotations(pd.DataFrame({"time": [T0], "type": ["Note"], "text": ["start"]})))
    rec("data", lambda: w.write_data(lab_signal(500, 24), "ch", T0, 100, precision=1))
    rec("more", lambda: w.write_annotations(pd.DataFrame({"time": [T0 + 1], "type": ["Note"], "text": ["more"]})))
    del w
    read_everything(api, rec, p)


def script_encrypted(api, rec, d):
    """Encrypted session: write, reopen with both passwords, read with level 2 and bad passwords."""
    p = os.path.join(d, "enc.mefd")
    w = api.MefWriter(p, overwrite=True, password1="pass1", password2="pass2")
    x = lab_signal(2560, 25)
    x[1000:1400] = np.nan
    rec("write", lambda: w.write_data(x, "e", T0, 256, precision=2))
    rec("annotations", lambda: w.write_annotations(
        pd.DataFrame({"time": [T0 + 500_000], "type": ["Note"], "text": ["secret"]})))
    del w
    w = rec("reopen both", lambda: api.MefWriter(p, password1="pass1", password2="pass2"))
    rec("append", lambda: w.write_data(lab_signal(512, 26), "e", T0 + 10_000_000, 256))
    rec("channel_info", lambda: w.channel_info)
    del w
    rec("reopen no password", lambda: api.MefWriter(p))
    rec("reopen wrong", lambda: api.MefWriter(p, password2="wrong"))
    read_everything(api, rec, p, password2="pass2")
    rec("read no password", lambda: api.MefReader(p))
    rec("read wrong", lambda: api.MefReader(p, "wrong"))


def script_channel_picking(api, rec, d):
    """get_data / get_raw_data call shapes: names, np.int64, arrays, duplicates, unknowns."""
    p = os.path.join(d, "pick.mefd")
    w = api.MefWriter(p)
    for i, name in enumerate(["b", "a", "c"]):
        rec(f"write {name}", lambda: w.write_data(lab_signal(1000 + 200 * i, 30 + i), name, T0 + 10_000 * i, 100,
                                                  precision=1))
    del w
    r = api.MefReader(p)
    rec("channels", lambda: r.channels)
    for label, arg in [("np.int64(1)", np.int64(1)), ("int 1", 1), ("np.int64(9)", np.int64(9)),
                       ("array", np.array(["c", "a"])), ("list int64", [np.int64(2), np.int64(0)]),
                       ("dup", ["a", "a"]), ("unknown in list", ["a", "zz"]), ("unknown", "zz"),
                       ("list", ["c", "a"]), ("list one", ["b"]), ("empty list", []), ("np.str_", np.str_("a")),
                       ("tuple", ("a", "b"))]:
        rec(f"raw {label}", lambda: r.get_raw_data(arg))
        rec(f"data {label}", lambda: r.get_data(arg))
        rec(f"raw {label} window", lambda: r.get_raw_data(arg, T0, T0 + 5_000_000))
        rec(f"data {label} window", lambda: r.get_data(arg, T0 + 10_000, T0 + 3_000_000))
    del r


def script_edge_data(api, rec, d):
    """Empty and all-NaN data, discont_handler=False with NaN, channels with odd names."""
    p = os.path.join(d, "edge.mefd")
    w = api.MefWriter(p)
    rec("all nan", lambda: w.write_data(np.full(500, np.nan), "allnan", T0, 100))
    rec("all nan p", lambda: w.write_data(np.full(500, np.nan), "allnanp", T0, 100, precision=1))
    rec("empty", lambda: w.write_data(np.zeros(0), "empty", T0, 100))
    rec("nan no discont", lambda: w.write_data(np.r_[np.full(300, np.nan), np.ones(300)], "nd", T0, 100,
                                               precision=1, discont_handler=False))
    rec("one sample", lambda: w.write_data(np.array([1.25]), "one", T0, 100, precision=2))
    rec("list input", lambda: w.write_data([1.0, 2.0, 3.0], "lst", T0, 100, precision=1))
    rec("int start", lambda: w.write_data(np.ones(100), "np_start", np.int64(T0), np.float64(100), precision=1))
    rec("channel_info", lambda: w.channel_info)
    del w
    read_everything(api, rec, p)


def script_rates(api, rec, d):
    """Sampling rates whose periods are not whole microseconds; chunked contiguous appends.

    Chunk durations with a fraction of a microsecond below one half (mef_tools' truncated
    end equals the rounded one) and of one half or more (2048 Hz x 3000 samples =
    1464843.75 us, 1024 Hz x 1000 = 976562.5 us: the next chunk starts 1 us before the
    rounded end)."""
    p = os.path.join(d, "rates.mefd")
    w = api.MefWriter(p)
    for fs, n in [(2048, 2500), (499.907, 2000), (30000, 45000), (250, 1000), (1024, 1000 + 24 * 9),
                  (2048, 3000), (1024, 1000), (499.907, 2001)]:
        name = f"fs{fs}n{n}"
        t = T0
        for k in range(3):
            rec(f"{name} chunk{k}", lambda: w.write_data(lab_signal(n, int(fs) + k), name, t, fs, precision=2))
            t = int(t + n / fs * 1e6)  # next chunk right after (mef_tools' own end rule)
    del w
    read_everything(api, rec, p, windows=[(T0 + 333_333, T0 + 2_777_777)])


def script_end_times(api, rec, d):
    """end_uutc with discont_handler=False (past the data, truncated), chunked writes at
    mef_tools' truncated times, appends at and just before the stored end, reopen."""
    p = os.path.join(d, "ends.mefd")
    w = api.MefWriter(p)
    rec("end past data", lambda: w.write_data(np.ones(100), "c", T0, 100, end_uutc=T0 + 5_000_000, precision=1,
                                              discont_handler=False))
    rec("info", lambda: w.channel_info)
    rec("before stored end", lambda: w.write_data(np.ones(100), "c", T0 + 2_000_000, 100))
    rec("at stored end", lambda: w.write_data(np.ones(100) * 2, "c", T0 + 5_000_000, 100))
    rec("trunc end", lambda: w.write_data(lab_signal(3000, 60), "t", T0, 2048, precision=2, discont_handler=False))
    t1 = int(T0 + 3000 / 2048 * 1e6)
    rec("at trunc end", lambda: w.write_data(lab_signal(3000, 61), "t", t1, 2048, discont_handler=False))
    rec("1 us before end", lambda: w.write_data(lab_signal(10, 62), "t", int(t1 + 3000 / 2048 * 1e6) - 1, 2048))
    x = lab_signal(3000, 63)
    x[1000:2500] = np.nan  # a gap longer than fs: two intervals, each with its truncated end
    rec("gapped", lambda: w.write_data(x, "g", T0 + 333, 1024, precision=1))
    rec("gapped next", lambda: w.write_data(lab_signal(1000, 64), "g", int(T0 + 333 + 3000 / 1024 * 1e6), 1024))
    rec("info all", lambda: w.channel_info)
    del w
    w = api.MefWriter(p)
    rec("reopen next chunk", lambda: w.write_data(lab_signal(1000, 65), "g",
                                                  int(int(T0 + 333 + 3000 / 1024 * 1e6) + 1000 / 1024 * 1e6), 1024))
    rec("reopen info", lambda: w.channel_info)
    del w
    read_everything(api, rec, p, windows=[(T0, T0 + 3_000_000), (T0 + 1_464_000, T0 + 1_466_000)])


def script_metadata(api, rec, d):
    """mef_tools' metadata dicts: defaults, edited before a new channel and before a new
    segment (each segment keeps what the dicts held when it was created), reopen."""
    p = os.path.join(d, "meta.mefd")
    w = api.MefWriter(p)
    rec("defaults", lambda: w.write_data(lab_signal(500, 70), "a", T0, 100, precision=1))
    w.section2_ts_dict["channel_description"] = b"Fp1 depth 3"
    w.section2_ts_dict["reference_description"] = b"Cz"
    w.section2_ts_dict["AC_line_frequency"] = 50
    w.section3_dict["subject_name_1"] = b"Zelda"
    w.section3_dict["GMT_offset"] = 3600
    rec("edited", lambda: w.write_data(lab_signal(500, 71), "b", T0, 100, precision=1))
    rec("append a", lambda: w.write_data(lab_signal(500, 72), "a", T0 + 5_000_000, 100))
    w.section2_ts_dict["channel_description"] = b"segment two"
    rec("new segment b", lambda: w.write_data(lab_signal(500, 73), "b", T0 + 20_000_000, 100, new_segment=True))
    rec("dicts", lambda: (w.section2_ts_dict, w.section3_dict))
    del w
    w = api.MefWriter(p)
    rec("reopen dicts", lambda: (w.section2_ts_dict, w.section3_dict))
    rec("reopen new channel", lambda: w.write_data(lab_signal(500, 74), "c", T0, 100, precision=1))
    del w
    read_everything(api, rec, p)


SCRIPTS = {
    "basic": script_basic,
    "precision": script_precision,
    "appends": script_appends,
    "reopen": script_reopen,
    "knobs": script_knobs,
    "reload_off": script_reload_off,
    "verbose": script_verbose,
    "annotations": script_annotations,
    "annotations_first": script_annotations_first,
    "encrypted": script_encrypted,
    "channel_picking": script_channel_picking,
    "edge_data": script_edge_data,
    "rates": script_rates,
    "end_times": script_end_times,
    "metadata": script_metadata,
}

#: steps where a difference documented in docs/legacy.md shows, per script
KNOWN = {}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_parity(name, tmp_path):
    """mef_tools and the drop-in give the same results for the same script."""
    assert_parity(SCRIPTS[name], tmp_path, "ours", known=KNOWN.get(name, ()))


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_our_reader_on_mef_tools_sessions(name, tmp_path):
    """Sessions written by mef_tools, read by our MefReader: same as mef_tools reads them."""
    assert_parity(SCRIPTS[name], tmp_path, "their_writer_our_reader", known=KNOWN.get(name, ()))


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_mef_tools_reader_on_our_sessions(name, tmp_path):
    """Sessions written by our MefWriter, read by mef_tools: same as mef_tools' own."""
    assert_parity(SCRIPTS[name], tmp_path, "our_writer_their_reader", known=KNOWN.get(name, ()))


def test_comparator_is_strict():
    """The comparator sees every kind of difference the parity tests rely on."""
    assert differences(np.array([1.0, np.nan]), np.array([1.0, 1.0]))  # NaN positions
    assert differences(np.array([1.0, 2.0]), np.array([1.0, 2.5]))  # values
    assert differences(np.array([1], np.int64), np.array([1], np.int32))  # dtype
    assert differences(np.zeros((2, 1)), np.zeros(2))  # shape
    assert differences(np.float64(1.0), 1.0)  # numpy vs Python scalar
    assert differences(np.bytes_(b"uV"), b"uV")
    assert differences({"a": 1, "b": 2}, {"b": 2, "a": 1})  # key order
    assert differences([1, 2], [1, 2, 3])
    assert differences(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1.0]}))  # frame dtypes
    assert differences(pd.DataFrame({"a": [1], "b": [2]}), pd.DataFrame({"b": [2], "a": [1]}))  # columns
    assert not differences([np.array([np.nan, 1.0]), {"k": np.int64(3)}], [np.array([np.nan, 1.0]), {"k": np.int64(3)}])
    ok = Step("s", "value", None, "", [])
    assert step_differences(ok, Step("s", "value", None, "message\n", []))  # printed text
    assert step_differences(ok, Step("s", "value", None, "", [(RuntimeWarning, "w")]))  # warnings
    assert not step_differences(ok, Step("s", "value", None, "", [(legacy.LegacyWarning, "w")]))
    err = Step("s", "raise", ValueError("m"), "", [])
    assert step_differences(err, Step("s", "raise", KeyError("m"), "", []))  # exception type
    assert step_differences(err, Step("s", "raise", ValueError("n"), "", []))  # message
    assert not step_differences(Step("s", "raise", RuntimeError("m"), "", []),
                                Step("s", "raise", neo_mef3_errors.PasswordError("m"), "", []))  # a subclass
    none_msg = [Step("s", "value", None, "refused\n", [])]
    assert legacy_warning_report(none_msg, [Step("s", "value", None, "refused\n", [])])
    assert not legacy_warning_report(none_msg, [Step("s", "value", None, "refused\n", [(legacy.LegacyWarning, "")])])


# --------------------------------------------------------------------------------------
# formerly pending differences (docs/legacy.md P1, P2, D10): now identical
# --------------------------------------------------------------------------------------

#: Reader.info fields mef_tools writes from section2_ts_dict / section3_dict
DESCRIPTIVE = ("channel_description", "session_description", "reference_description",
               "acquisition_channel_number", "low_frequency_filter_setting", "high_frequency_filter_setting",
               "notch_filter_frequency_setting", "AC_line_frequency", "subject_name_1", "subject_name_2",
               "subject_id", "recording_location", "GMT_offset")


def _segment_metadata(path, password=""):
    """{channel: [per segment {field: value}]} of every descriptive field, via the native Reader."""
    import neo_mef3
    from neo_mef3.format import headers

    out = {}
    with neo_mef3.Reader(path, password=password) as r:
        for ch in r.channels:
            out[ch] = []
            for seg in r.segments(ch):
                tmet = [f for f in os.listdir(seg["path"]) if f.endswith(".tmet")][0]
                with open(os.path.join(seg["path"], tmet), "rb") as fh:
                    meta = headers.parse_metadata(fh.read(), password=password)
                s3 = meta.s3
                row = {k: meta.s2[k] for k in DESCRIPTIVE[:8]}
                row.update({k: (s3[{"subject_id": "subject_ID"}.get(k, k)] if s3 is not None else None)
                            for k in DESCRIPTIVE[8:]})
                out[ch].append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


@pytest.mark.parametrize("passwords", [(None, None), ("pass1", "pass2")])
def test_metadata_sections_match(tmp_path, passwords):
    """Every descriptive section-2/3 field of every segment equals mef_tools' (defaults,
    edited dicts, new segments), also in encrypted sessions; section 3 stays level-2
    encrypted on disk."""
    meta = {}
    for name, mod in IMPLS.items():
        p = str(tmp_path / f"{name}.mefd")
        with quiet():
            w = mod.MefWriter(p, overwrite=True, password1=passwords[0], password2=passwords[1])
            assert w.write_data(lab_signal(2560, 41), "e", T0, 256, precision=2) is True
            w.section2_ts_dict["channel_description"] = b"Fp1"
            w.section2_ts_dict["acquisition_channel_number"] = 7
            w.section2_ts_dict["high_frequency_filter_setting"] = 250.5
            w.section3_dict["subject_name_2"] = b"Quokkaberg"
            w.section3_dict["subject_ID"] = b"S-0042"
            w.section3_dict["GMT_offset"] = 7200
            assert w.write_data(lab_signal(5120, 42), "f", T0, 512, precision=3) is True
            assert w.write_data(lab_signal(512, 43), "e", T0 + 20_000_000, 256, new_segment=True) is True
            del w
            r = mod.MefReader(p, passwords[1])
            assert r.get_property("channel_description") == [b"", b"Fp1"]  # e's segments disagree
        meta[name] = _segment_metadata(p, passwords[1] or "")
        if passwords[1]:
            for root, _dirs, files in os.walk(p):
                for f in files:
                    if f.endswith(".tmet"):
                        with open(os.path.join(root, f), "rb") as fh:
                            assert b"Quokkaberg" not in fh.read()
    assert meta["neo_mef3"] == meta["mef_tools"]
    assert meta["neo_mef3"]["e"][0]["channel_description"] == b"ts_channel"
    assert meta["neo_mef3"]["e"][1]["subject_id"] == b"S-0042"


def test_end_time_truncation_matches(tmp_path):
    """The chunking idiom t = int(t + n/fs*1e6) at 2048 Hz x 3000 samples (1464843.75 us):
    the second chunk is accepted and ends where mef_tools ends it (truncated)."""
    res, ends, data = {}, {}, {}
    for name, mod in IMPLS.items():
        with quiet():
            w = mod.MefWriter(str(tmp_path / f"{name}.mefd"))
            first = w.write_data(lab_signal(3000, 1), "c", T0, 2048, precision=2)
            t = int(T0 + 3000 / 2048 * 1e6)
            second = w.write_data(lab_signal(3000, 2), "c", t, 2048)
            ends[name] = int(w.channel_info["c"]["end_time"][0]) - T0
            res[name] = (first, second)
            del w
            data[name] = mod.MefReader(str(tmp_path / f"{name}.mefd")).get_data("c")
    assert res == {"mef_tools": (True, True), "neo_mef3": (True, True)}
    assert ends == {"mef_tools": 2929686, "neo_mef3": 2929686}
    assert np.array_equal(data["mef_tools"], data["neo_mef3"]) and not np.isnan(data["neo_mef3"]).any()


def test_discont_handler_false_end_uutc_matches(tmp_path):
    """With discont_handler=False both store end_uutc as the end time, even past the data."""
    ends = {}
    for name, mod in IMPLS.items():
        with quiet():
            w = mod.MefWriter(str(tmp_path / f"{name}.mefd"))
            assert w.write_data(np.ones(100), "c", T0, 100, end_uutc=T0 + 5_000_000, precision=1,
                                discont_handler=False) is True
            ends[name] = int(w.channel_info["c"]["end_time"][0]) - T0
            del w
    assert ends == {"mef_tools": 5_000_000, "neo_mef3": 5_000_000}


def test_record_order_matches(tmp_path):
    """Each write_annotations() call's records go before the stored ones, in both."""
    out = {}
    for name, mod in IMPLS.items():
        with quiet():
            w = mod.MefWriter(str(tmp_path / f"{name}.mefd"))
            w.write_data(np.ones(1000), "c", T0, 100, precision=1)
            w.write_annotations(pd.DataFrame({"time": [T0 + 1], "type": ["Note"], "text": ["a"]}))
            w.write_annotations(pd.DataFrame({"time": [T0 + 3, T0 + 2], "type": ["Note", "Note"], "text": ["c", "b"]}))
            del w
            out[name] = [a["text"] for a in mod.MefReader(str(tmp_path / f"{name}.mefd")).get_annotations()]
    assert out == {"mef_tools": ["c", "b", "a"], "neo_mef3": ["c", "b", "a"]}


def test_exact_half_sample_windows_match(tmp_path):
    """A block whose start is exactly k + 1/2 samples after the window start: meflib
    rounds the half away from zero (leaving a NaN before the block); the drop-in reads
    with the native Reader's rounding="meflib" and matches sample for sample."""
    p = str(tmp_path / "half.mefd")
    with quiet():
        w = mef_tools_io.MefWriter(p)
        w.mef_block_len = 1000
        w.write_data(np.arange(3000, dtype=float), "c", T0, 1000, precision=0)
        del w
        for t1, t2 in [(T0 + 500, T0 + 2_500_500), (T0 - 500, T0 + 1_999_500), (T0 + 1500, T0 + 3_000_500),
                       (T0 - 1_000_500, T0 + 500)]:
            a = mef_tools_io.MefReader(p).get_data("c", t1, t2)
            b = legacy.MefReader(p).get_data("c", t1, t2)
            assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), (t1 - T0, t2 - T0)
        a = mef_tools_io.MefReader(p).get_data("c", T0 + 500, T0 + 2_500_500)
    assert np.isnan(a[999]) and a[1000] == 1000.0  # the case at hand
