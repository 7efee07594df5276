#!/usr/bin/env python3
"""Write the small committed fixture sessions in tests/data/ with the oracles.

For every fixture ``tests/data/<name>.mefd`` this writes the expected values as
read by pymef AND mef3io (and mef_tools' MefReader) at generation time:

* ``<name>.expected.json``: metadata, segments, records, access behaviour;
* ``<name>.expected.npz``: per channel ``<ch>/raw_samples`` (int32, mef3io
  ``read_raw``), ``<ch>/raw_valid``, ``<ch>/data`` (float64, NaN in gaps),
  ``<ch>/stored_samples`` (int32, stored samples back to back) and the block
  index (``<ch>/block_start_times``, ``block_samples``, ``block_index_start_sample``
  as stored in the .tidx, ``block_discontinuity``, ``block_segment``).

Before saving, the script ASSERTS that pymef and mef3io agree on everything
both report (and mef_tools on the scaled data); it fails otherwise.

Fixtures:
  plain.mefd             mef_tools: "A" 256 Hz with one gap; "B" 1000 Hz in 2 segments
  plain_mef3io.mefd      the same spec written by mef3io
  encrypted.mefd         mef_tools, passwords "pass1"/"pass2", session Note + EDFA,
                         channel Note (record bodies stored UNencrypted by pymef)
  encrypted_mef3io.mefd  the same written by mef3io (record bodies level-2 encrypted)

Run from the repository root:  PYTHONPATH=tests python scripts/make_test_fixtures.py [outdir]
(needs pymef, mef_tools, mef3io, pandas; tests/ on PYTHONPATH for the ``support``
package). Fixed seeds and times: reruns give the same content (the files' UUIDs and
CRCs differ).
"""
from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import support  # noqa: F401  (tests/support/)
except ImportError:
    sys.exit("needs tests/ on PYTHONPATH: PYTHONPATH=tests python scripts/make_test_fixtures.py")

from support.build_oracles import build_with_mef3io, build_with_mef_tools  # noqa: E402
from support.compare import same_samples  # noqa: E402
from support.plain import error_text, jsonable  # noqa: E402
from support.read_oracles import read_mef3io, read_mef_tools, read_pymef  # noqa: E402
from support.scenarios import T0, Channel, Write  # noqa: E402
from support.signals import float_channel_data, with_gaps  # noqa: E402

MAX_BYTES = 100 * 1024


def plain_spec():
    rng = np.random.default_rng(20240601)
    a = with_gaps(float_channel_data(1536, 256.0, rng), [(600, 900)])
    b0 = float_channel_data(2000, 1000.0, rng)
    b1 = float_channel_data(1500, 1000.0, rng)
    return dict(channels=[
        Channel("A", 256.0, T0, a, precision=2),
        Channel("B", 1000.0, T0 + 250_000, b0, precision=2, block_len=600,
                  appends=[Write(b1, T0 + 3_750_000, new_segment=True)]),
    ])


def encrypted_spec():
    rng = np.random.default_rng(20240602)
    return dict(
        channels=[Channel("E", 512.0, T0, float_channel_data(1536, 512.0, rng), precision=2)],
        password1="pass1", password2="pass2",
        annotations=[
            {"time": T0 + 500_000, "type": "Note", "text": "session note"},
            {"time": T0 + 1_000_000, "type": "EDFA", "text": "stimulus", "duration": 250_000},
            {"time": T0 + 2_000_000, "type": "Note", "text": "channel note", "channel": "E"},
        ])


FIXTURES = {
    "plain": ("mef_tools", plain_spec),
    "plain_mef3io": ("mef3io", plain_spec),
    "encrypted": ("mef_tools", encrypted_spec),
    "encrypted_mef3io": ("mef3io", encrypted_spec),
}


def _check(cond, what):
    if not cond:
        raise AssertionError(f"oracles disagree: {what}")


def _records(recs):
    """Records as JSON-able dicts in a reader-neutral form, sorted by (time, type)."""
    out = []
    for r in recs:
        r = jsonable(r)
        d = {"type": r["type"], "time": r["time"]}
        for k in ("text", "duration"):
            if r.get(k) is not None:
                d[k] = r[k]
        out.append(d)
    return sorted(out, key=lambda d: (d["time"], d["type"]))


def expected_for(name, writer, spec, path):
    pw = spec.get("password2")
    pm = read_pymef(path, pw)
    m3 = read_mef3io(path, pw or "")
    mt = read_mef_tools(path, pw)
    _check(not pm["errors"] and not m3["errors"], f"read errors {pm['errors']} {m3['errors']}")
    chans = sorted(pm["channels"])
    _check(chans == sorted(m3["channels"]) == sorted(mt["channels"]), "channel list")
    exp = {
        "name": name,
        "writer": writer,
        "generator": "scripts/make_test_fixtures.py",
        "oracle_versions": {p: version(p) for p in ("pymef", "mef_tools", "mef3io")},
        "password1": spec.get("password1"),
        "password2": spec.get("password2"),
        "channel_names": chans,
        "start_time": pm["start_time"],
        "end_time": pm["end_time"],
        "records": _records(m3["records"]),
        "channels": {},
        "notes": [],
    }
    _check(_records(pm["records"]) == exp["records"], "session records")
    _check(exp["start_time"] == min(m3["channels"][c]["info"]["start_time"] for c in chans),
           "session start")
    _check(exp["end_time"] == max(m3["channels"][c]["info"]["end_time"] for c in chans),
           "session end")
    arrays = {}
    for c in chans:
        p, m = pm["channels"][c], m3["channels"][c]
        info = m["info"]
        for key_pm, key_m3 in (("fs", "sampling_frequency"), ("ufact", "units_conversion_factor"),
                               ("units", "units_description"), ("start_time", "start_time"),
                               ("end_time", "end_time"), ("number_of_samples", "number_of_samples")):
            _check(p[key_pm] == info[key_m3], f"{c} {key_pm}: {p[key_pm]!r} vs {info[key_m3]!r}")
        _check(len(p["segments"]) == info["n_segments"] == len(m["segments"]), f"{c} n_segments")
        segs = []
        for sp, sm in zip(p["segments"], m["segments"]):
            for k in ("start_sample", "number_of_samples", "number_of_blocks", "start_time",
                      "end_time"):
                _check(sp[k] == sm[k], f"{c} segment {sm['segment']} {k}: {sp[k]} vs {sm[k]}")
            _check(sp["ufact"] == sm["units_conversion_factor"], f"{c} segment ufact")
            segs.append({k: sm[k] for k in ("segment", "start_time", "end_time", "start_sample",
                                            "number_of_samples", "number_of_blocks",
                                            "units_conversion_factor")})
        # block index: pymef's .tidx mapping vs mef3io's toc
        bt = np.concatenate([s["block_start_times"] for s in p["segments"]])
        bn = np.concatenate([s["block_samples"] for s in p["segments"]])
        bs = np.concatenate([s["block_start_samples"] for s in p["segments"]])
        bf = np.concatenate([s["block_flags"] for s in p["segments"]]) & 1
        bseg = np.concatenate([np.full(len(s["block_samples"]), i) for i, s in enumerate(p["segments"])])
        toc = m["toc"]
        _check(np.array_equal(bt, [t["start_uutc"] for t in toc]), f"{c} block start times")
        _check(np.array_equal(bn, [t["number_of_samples"] for t in toc]), f"{c} block sizes")
        _check(np.array_equal(bs, [t["start_sample"] for t in toc]), f"{c} block start samples")
        _check(np.array_equal(bf, [int(t["discontinuity"]) for t in toc]), f"{c} block flags")
        # samples
        raw = m["read_raw"]
        valid = raw["valid"].astype(bool)
        _check(raw["start_uutc"] == info["start_time"], f"{c} read_raw start")
        _check(same_samples(p["data_scaled"], m["read"]), f"{c} pymef uutc read * ufact vs mef3io read")
        _check(same_samples(mt["data"][c], m["read"]), f"{c} mef_tools get_data vs mef3io read")
        _check(same_samples(np.where(valid, raw["samples"] * info["units_conversion_factor"],
                                       np.nan), m["read"]), f"{c} read_raw vs read")
        stored = raw["samples"][valid]
        _check(len(stored) == info["number_of_samples"], f"{c} stored sample count")
        sample_read_ok = same_samples(p["samples"], stored)
        if len(p["segments"]) > 1 and writer == "mef3io":
            # mef3io writes channel-wide start_sample into the .tidx, meflib/pymef
            # expect segment-relative ones: pymef's sample-mode read is wrong here.
            _check(not sample_read_ok, f"{c} pymef sample read unexpectedly right")
            exp["notes"].append(
                f"{c}: pymef read_ts_channels_sample is WRONG on this file (mef3io stores "
                "channel-wide .tidx start_sample); stored_samples come from mef3io read_raw")
        else:
            _check(sample_read_ok, f"{c} pymef sample read vs mef3io read_raw[valid]")
        _check(_records(p["records"]) == _records(m["records"]), f"{c} channel records")
        exp["channels"][c] = {
            "fs": info["sampling_frequency"], "ufact": info["units_conversion_factor"],
            "units": info["units_description"], "start_time": info["start_time"],
            "end_time": info["end_time"], "number_of_samples": info["number_of_samples"],
            "n_segments": info["n_segments"], "n_read": int(len(m["read"])),
            "n_blocks": int(len(toc)), "segments": segs, "records": _records(m["records"]),
            "recording_time_offset": info["recording_time_offset"],
        }
        arrays.update({
            f"{c}/raw_samples": raw["samples"].astype(np.int32),
            f"{c}/raw_valid": valid.astype(np.uint8),
            f"{c}/data": np.asarray(m["read"], dtype=np.float64),
            f"{c}/stored_samples": stored.astype(np.int32),
            f"{c}/block_start_times": bt.astype(np.int64),
            f"{c}/block_samples": bn.astype(np.int64),
            f"{c}/block_index_start_sample": bs.astype(np.int64),
            f"{c}/block_discontinuity": bf.astype(np.uint8),
            f"{c}/block_segment": bseg.astype(np.int64),
        })
    if spec.get("password1"):
        exp["access"] = access_levels(path, spec, chans, m3)
    return exp, arrays


def access_levels(path, spec, chans, full):
    """What each oracle does with no / level-1 / wrong passwords (``full``: the
    mef3io read with the level-2 password)."""
    import mef3io

    out = {}
    for label, pw in (("none", ""), ("level1", spec["password1"]), ("wrong", "wrong")):
        r = {}
        try:
            m = read_mef3io(path, pw, data=True)
            c = chans[0]
            r["mef3io_opens"] = True
            r["mef3io_section3_available"] = m["channels"][c]["info"]["section3_available"]
            r["mef3io_fs"] = m["channels"][c]["info"]["sampling_frequency"]
            r["mef3io_data_same_as_level2"] = same_samples(m["channels"][c]["read"],
                                                             full["channels"][c]["read"])
            r["mef3io_records"] = (None if m["records"] is None else _records(m["records"]))
            r["mef3io_records_error"] = m["errors"].get("records")
        except mef3io.PasswordError as e:
            r["mef3io_opens"] = False
            r["mef3io_error"] = error_text(e)
        try:
            p = read_pymef(path, pw or None)
            c = chans[0]
            r["pymef_opens"] = True
            r["pymef_fs_correct"] = bool(
                p["channels"][c]["fs"] == full["channels"][c]["info"]["sampling_frequency"])
            d = p["channels"][c].get("data")
            r["pymef_n_data"] = None if d is None else int(len(d))
            r["pymef_records"] = None if p["records"] is None else _records(p["records"])
            r["pymef_records_error"] = p["errors"].get("records")
        except Exception as e:  # noqa: BLE001
            r["pymef_opens"] = False
            r["pymef_error"] = error_text(e)
        out[label] = r
    return out


def main(outdir=None):
    outdir = outdir or os.path.join(REPO, "tests", "data")
    os.makedirs(outdir, exist_ok=True)
    for name, (writer, make) in FIXTURES.items():
        spec = make()
        path = os.path.join(outdir, f"{name}.mefd")
        build = build_with_mef_tools if writer == "mef_tools" else build_with_mef3io
        build(path, spec["channels"], spec.get("password1"), spec.get("password2"),
              spec.get("annotations"))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
        if size > MAX_BYTES:
            raise SystemExit(f"{name}: {size} bytes > {MAX_BYTES}")
        exp, arrays = expected_for(name, writer, spec, path)
        exp["session_bytes"] = size
        with open(os.path.join(outdir, f"{name}.expected.json"), "w") as f:
            json.dump(exp, f, indent=1, sort_keys=True)
            f.write("\n")
        np.savez_compressed(os.path.join(outdir, f"{name}.expected.npz"), **arrays)
        print(f"{name}: {writer}, {size} bytes, channels {exp['channel_names']}, notes {exp['notes']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
