#!/usr/bin/env python3
"""A quick check of an installed neo_mef3 (cibuildwheel's test command for each wheel).

    python scripts/wheel_smoke_test.py

Run from outside the checkout, so the installed package is the one imported. It checks
the compiled codec against independent references that need nothing beyond numpy: the
CRC against a bit-at-a-time CRC written here, the exact division against integer
division, RED blocks round-tripped, and the committed fixture sessions (written by
meflib and mef3io) read back as the reference readers read them when the fixtures were
made (``tests/data/*.expected.npz``).
"""
import json
import sys
from pathlib import Path

import numpy as np

import neo_mef3
from neo_mef3 import _red

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def bitwise_crc(data, crc=0xFFFFFFFF):
    """MEF's CRC-32 one bit at a time: reflected Koopman polynomial, no final XOR."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEB31D82E if crc & 1 else 0)
    return crc


def check_crc(rng):
    data = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    for n in (0, 1, 15, 16, 63, 64, 65, 200, 1000, 2999):
        assert _red.crc32(data[1:1 + n]) == bitwise_crc(data[1:1 + n]), n


def check_division(rng):
    d = np.concatenate([np.arange(1, 65281), rng.integers(2, 2**32, 65280)]).astype(np.uint32)
    n = rng.integers(0, 2**32, d.size).astype(np.uint32)
    want = (n.astype(np.uint64) // d).astype(np.uint32)
    assert np.array_equal(_red._divide(n, d), want)
    assert np.array_equal(_red._divide(n, d, portable=True), want)


def check_round_trip(rng):
    for x in (np.cumsum(rng.integers(-140, 141, 5000)),
              rng.integers(-2**31 + 2, 2**31 - 1, 3000),
              np.full(100, -7)):
        x = x.astype(np.int32)
        starts = np.arange(0, x.size, 700)
        counts = np.minimum(700, x.size - starts)
        data, sizes, _, _, _ = _red.encode_blocks(x, starts, counts, starts, np.zeros(starts.size, np.uint8))
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        out = np.zeros(x.size, np.int32)
        _red.decode_blocks(data, offsets, sizes, counts, out, starts)
        assert np.array_equal(out, x)


def check_fixtures():
    if not DATA.is_dir():
        return "fixtures not found (not a source checkout): skipped"
    names = []
    for name in ("plain", "plain_mef3io", "encrypted", "encrypted_mef3io"):
        expected = json.loads((DATA / f"{name}.expected.json").read_text())
        arrays = np.load(DATA / f"{name}.expected.npz")
        with neo_mef3.Reader(str(DATA / f"{name}.mefd"), password=expected.get("password2") or "") as r:
            for ch in expected["channel_names"]:
                raw = r.read_raw(ch)
                assert np.array_equal(raw["samples"], arrays[f"{ch}/raw_samples"]), (name, ch)
                assert np.array_equal(r.read(ch), arrays[f"{ch}/data"], equal_nan=True), (name, ch)
        names.append(name)
    return "fixtures read as the reference readers read them: " + ", ".join(names)


def main():
    rng = np.random.default_rng(1)
    check_crc(rng)
    check_division(rng)
    check_round_trip(rng)
    fixtures = check_fixtures()
    print(f"neo_mef3 {getattr(neo_mef3, '__version__', '?')} from {Path(_red.__file__).parent}: "
          f"codec {_red._platform()}; {fixtures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
