"""Fuzz targets over the RED decoder, the record parser, the header parsers and whole
sessions, with three drivers: seeded random mutation, hypothesis, and atheris.

Each target takes ``bytes`` and either returns or raises ``Failure`` (an
AssertionError): an exception other than a MefError, decoder modes that disagree with
each other, a block that does not decode back to what was encoded, or a damaged session
read silently wrong. Inputs are structure-aware: the bytes pick a real seed (blocks
encoded here and by meflib, record streams of every type, real headers) and say how
to mutate it, and whether to recompute the CRCs afterwards so that the checks behind
them are reached.

    python -m support.fuzz_targets random     red|records|headers|session [--n N] [--seed S]
    python -m support.fuzz_targets hypothesis red|records|headers|session [--n N]
    python -m support.fuzz_targets atheris    red|records|headers|session [-atheris_runs=N ...]

(with tests/ on PYTHONPATH, outside the checkout: see :mod:`support.child`; or
``fuzz/targets.py``, which takes the same arguments). ``random`` and ``hypothesis``
print one JSON line: target, driver, executions, failures (each with the input in
hex). A crash (signal) or a hang shows as the child's death; run them through
``tests/test_fuzz.py`` or ``fuzz/campaign.py``, which count it.
"""

import json
import os
import random
import struct
import sys
import time

import numpy as np

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "atheris":
    import atheris  # coverage feedback needs the Python modules instrumented as they load

    with atheris.instrument_imports(include=["neo_mef3", "support"]):
        import neo_mef3  # noqa: F401
        import neo_mef3.check  # noqa: F401
        from support import build_ours, damage, outcomes  # noqa: F401

from neo_mef3 import _red  # noqa: E402
from neo_mef3.errors import CrcError, FormatError, MefError  # noqa: E402
from neo_mef3.format import crypto, headers  # noqa: E402
from neo_mef3.format import records as _records  # noqa: E402
from support.build_ours import build_writer_session  # noqa: E402
from support.damage import fix_crcs, restore, session_files  # noqa: E402
from support.outcomes import FAILURE_PREFIXES, classify_raise, classify_skip, read_everything, windows_of  # noqa: E402
from support.paths import DATA_DIR  # noqa: E402

MAX_SAMPLES = 1 << 20  # the fuzzer's output arrays stay small


class Failure(AssertionError):
    pass


# --------------------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------------------


def _tdat_blocks(path):
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 1024
    while pos + 304 <= len(data):
        bb = struct.unpack_from("<I", data, pos + 36)[0]
        if bb < 304 or pos + bb > len(data):
            break
        out.append(data[pos : pos + bb])
        pos += bb
    return out


def _seed_blocks():
    rng = np.random.default_rng(5)
    M = 2**31 - 2
    signals = [
        np.cumsum(rng.integers(-50, 50, 500)).astype(np.int32),
        np.full(300, 7, np.int32),
        np.array([M, -M, 0, M, M, -M, 1, -1] * 20, np.int32),
        rng.integers(-M, M, 200).astype(np.int32),
        np.array([5], np.int32),
        (np.sin(np.arange(2000) / 10) * 3000).astype(np.int32),
    ]
    seeds = [(bytes(_red.encode_block(s, start_time=-(1_600_000_000_000_000 + 1000 * k))), s) for k, s in enumerate(signals)]
    for name in ("plain.mefd/A.timd/A-000000.segd/A-000000.tdat", "encrypted.mefd/E.timd/E-000000.segd/E-000000.tdat"):
        p = os.path.join(DATA_DIR, name)
        if os.path.exists(p):
            seeds += [(b, None) for b in _tdat_blocks(p)[:2]]
    return seeds


def _seed_records():
    t = 1_600_000_000_000_000
    recs = [
        {"type": "Note", "time": t, "text": "a note"},
        {"type": "EDFA", "time": t + 1, "text": "edf", "duration": 5},
        {"type": "Seiz", "time": t + 2, "earliest_onset": t, "latest_offset": t + 9, "duration": 9,
         "channels": [{"name": "A", "onset": t, "offset": t + 5}]},
        {"type": "CSti", "time": t + 3, "task_type": "x", "stimulus_duration": 1, "stimulus_type": "y",
         "patient_response": "z"},
        {"type": "ESti", "time": t + 4, "amplitude": 1.0, "frequency": 2.0, "pulse_width": 3, "waveform": "w"},
        {"type": "Curs", "time": t + 5, "id_number": 1, "trace_timestamp": t, "latency": 2, "value": 1.5, "name": "c"},
        {"type": "Epoc", "time": t + 6, "id_number": 2, "timestamp": t, "end_timestamp": t + 1, "duration": 1,
         "epoch_type": "e", "text": "t"},
        {"type": "LNTP", "time": t + 7, "template": np.arange(7)},
        {"type": "SyLg", "time": t + 8, "text": "log"},
        {"type": "Xtra", "time": t + 9, "body": b"raw body bytes"},
    ]
    keys = crypto.Keys.for_writing("pw1", "pw2")
    plain, _, _ = _records.build_records(recs)
    enc, _, _ = _records.build_records(recs, keys=keys, encryption_level=2)
    return [(plain, len(recs), False), (enc, len(recs), True)], keys


def _seed_headers():
    out = []
    for root, _, names in os.walk(os.path.join(DATA_DIR, "plain.mefd")):
        for n in sorted(names):
            with open(os.path.join(root, n), "rb") as f:
                out.append((n.rsplit(".", 1)[-1], f.read()))
    with open(os.path.join(DATA_DIR, "encrypted.mefd", "E.timd", "E-000000.segd", "E-000000.tmet"), "rb") as f:
        out.append(("tmet-enc", f.read()))
    return out


_SEEDS = {}


def _seeds(kind):
    if kind not in _SEEDS:
        _SEEDS[kind] = {"red": _seed_blocks, "records": _seed_records, "headers": _seed_headers}[kind]()
    return _SEEDS[kind]


class _Bytes:
    """Reads fuzzer bytes as choices (zeros once exhausted)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def u8(self):
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self):
        return self.u8() | (self.u8() << 8)

    def u32(self):
        return self.u16() | (self.u16() << 16)

    def rest(self):
        return self.data[self.pos :]


def _mutate(buf, src, protect=0):
    """Apply the fuzzer's mutations to bytearray buf (positions >= protect)."""
    n_mut = src.u8() % 9
    for _ in range(n_mut):
        kind = src.u8() % 6
        if len(buf) <= protect:
            break
        pos = protect + src.u32() % (len(buf) - protect)
        if kind == 0:
            buf[pos] ^= 1 << (src.u8() % 8)
        elif kind == 1:
            buf[pos] = src.u8()
        elif kind == 2:  # a 32-bit field to an extreme
            v = [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, src.u32()][src.u8() % 6]
            buf[pos : pos + 4] = struct.pack("<I", v)[: len(buf[pos : pos + 4])]
        elif kind == 3:  # truncate
            del buf[pos:]
        elif kind == 4:  # zero a run
            k = src.u8()
            buf[pos : pos + k] = bytes(len(buf[pos : pos + k]))
        else:  # insert bytes
            buf[pos:pos] = bytes(src.u8() for _ in range(src.u8() % 17))
    return buf


# --------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------


def _status_of(block, counts=-1, check_crc=True, allow_encrypted=False, room=None):
    n = struct.unpack_from("<I", block, 32)[0] if len(block) >= 304 else 0
    room = min(n, MAX_SAMPLES) if room is None else room
    out = np.zeros(room, np.int32)
    st = np.zeros(1, np.int8)
    _red.decode_blocks(block, [0], [len(block)], [counts], out, [0], check_crc=check_crc, status=st,
                       allow_encrypted=allow_encrypted)
    return int(st[0]), out


def red_target(data):
    """The RED decoder: status, raising, float64 and single-block modes agree; no crash."""
    src = _Bytes(data)
    seeds = _seeds("red")
    k = src.u8() % len(seeds)
    block, original = seeds[k]
    flags = src.u8()
    buf = bytearray(block)
    if flags & 1:
        buf = bytearray(src.rest()) if flags & 16 else _mutate(buf, src)
    if flags & 2 and len(buf) >= 40:  # make block_bytes agree with the buffer
        buf[36:40] = struct.pack("<I", len(buf))
    if flags & 4 and len(buf) >= 304:  # recompute the CRC (reach the checks behind it)
        buf[0:4] = struct.pack("<I", _red.crc32(bytes(buf[4:])))
    check_crc = not flags & 8
    allow_enc = bool(flags & 32)
    block = bytes(buf)
    counts = -1 if not flags & 64 else (src.u32() % (MAX_SAMPLES + 2))
    try:
        st, out = _status_of(block, counts, check_crc, allow_enc)
    except MefError as exc:  # pragma: no cover - status mode never raises for a block
        raise Failure(f"status mode raised {exc!r}")
    # raising mode: the same verdict
    n = struct.unpack_from("<I", block, 32)[0] if len(block) >= 304 else 0
    room = min(n, MAX_SAMPLES)
    out2 = np.zeros(room, np.int32)
    try:
        _red.decode_blocks(block, [0], [len(block)], [counts], out2, [0], check_crc=check_crc, allow_encrypted=allow_enc)
        raised = 0
    except CrcError:
        raised = 3
    except FormatError:
        raised = -1
    except Exception as exc:
        raise Failure(f"decode_blocks raised {type(exc).__name__}: {exc}")
    if (st == 0) != (raised == 0) or (st == 3) != (raised == 3):
        raise Failure(f"status {st} but raising mode gave {raised}")
    if st == 0 and not np.array_equal(out, out2):
        raise Failure("status and raising modes decoded different samples")
    # float64 mode: the same status and the same values (scaled)
    if hasattr(_red, "decode_blocks_f64"):
        f = np.full(room, np.nan)
        st64 = np.zeros(1, np.int8)
        factor = 0.5 if flags & 128 else 1.0
        try:
            _red.decode_blocks_f64(block, [0], [len(block)], [counts], f, [0], [factor], check_crc=check_crc,
                                   status=st64, allow_encrypted=allow_enc)
        except Exception as exc:
            raise Failure(f"decode_blocks_f64 raised {type(exc).__name__}: {exc}")
        s64 = int(st64[0])
        if st == 6 and s64 in (0, 9):  # no OUTPUT_BOUNDS in float64 mode: it decodes what fits
            pass
        elif s64 != st:
            raise Failure(f"float64 status {s64}, int32 status {st}")
        elif st == 0 and not np.array_equal(f, out.astype(np.float64) * factor):
            raise Failure("float64 and int32 decoders disagree")
    # single-block API, when the header's own count is sane
    if room == n and counts == -1:
        try:
            one = _red.decode_block(block, check_crc=check_crc, allow_encrypted=allow_enc)
            if st != 0 or not np.array_equal(one, out):
                raise Failure("decode_block disagrees with decode_blocks")
        except MefError:
            if st == 0:
                raise Failure("decode_block raised where decode_blocks succeeded")
    try:
        _red.block_header(block)
    except MefError:
        pass
    # an untouched encoder-made block decodes to what was encoded
    if original is not None and counts == -1 and bytes(block) == bytes(seeds[k][0]):
        if st != 0 or not np.array_equal(out, original):
            raise Failure("an intact block does not decode to its samples")


def records_target(data):
    """The record parser: records or a MefError, whatever the bytes."""
    src = _Bytes(data)
    seeds, keys = _seeds("records")
    body, n, enc = seeds[src.u8() % len(seeds)]
    flags = src.u8()
    buf = _mutate(bytearray(body), src) if flags & 1 else bytearray(src.rest() if flags & 16 else body)
    if flags & 2:  # recompute each record's CRC along the (possibly damaged) chain
        pos = 0
        while pos + 24 <= len(buf):
            size = struct.unpack_from("<I", buf, pos + 20)[0]
            end = pos + 24 + size
            if end > len(buf):
                break
            buf[pos : pos + 4] = struct.pack("<I", _red.crc32(bytes(buf[pos + 4 : end])))
            pos = end
    use_keys = keys if flags & 4 else crypto.Keys(crypto.LEVEL_2_ACCESS)
    expected = None if flags & 8 else n
    try:
        recs = _records.parse_records(bytes(buf), use_keys, rto=src.u32(), path="fuzz.rdat",
                                      check_crc=not flags & 32, expected=expected)
    except MefError:
        return
    except Exception as exc:
        raise Failure(f"parse_records raised {type(exc).__name__}: {exc}")
    if not isinstance(recs, list):
        raise Failure("parse_records returned no list")
    for rtype in _records.KNOWN_TYPES:  # body decoders on arbitrary bytes
        try:
            _records.decode_body(rtype, bytes(buf[: src.u16() % (len(buf) + 1)]), 0)
        except Exception as exc:
            raise Failure(f"decode_body({rtype!r}) raised {type(exc).__name__}: {exc}")


def headers_target(data):
    """Universal header, metadata and index parsers: a result or a MefError."""
    src = _Bytes(data)
    seeds = _seeds("headers")
    kind, raw = seeds[src.u8() % len(seeds)]
    flags = src.u8()
    buf = _mutate(bytearray(raw), src) if flags & 1 else bytearray(raw)
    if flags & 2 and len(buf) >= 1024:  # recompute CRCs
        tmp = os.path.join(_scratch(), "h." + kind.split("-")[0])
        with open(tmp, "wb") as f:
            f.write(buf)
        fix_crcs(tmp)
        with open(tmp, "rb") as f:
            buf = bytearray(f.read())
    raw = bytes(buf)
    keys = crypto.Keys(crypto.LEVEL_2_ACCESS)
    try:
        if kind.startswith("tmet"):
            password = "pass2" if flags & 4 else ("pass1" if flags & 8 else "")
            headers.parse_metadata(raw, "fuzz.tmet", password=password if kind == "tmet-enc" else "")
        elif kind == "tidx":
            headers.parse_index(raw, "fuzz.tidx")
        else:
            uh = headers.parse_universal_header(raw, "fuzz." + kind)
            headers.check_body_crc(raw, uh, "fuzz")
            if kind == "rdat":
                _records.parse_records(memoryview(raw)[1024:], keys, 0, "fuzz.rdat",
                                       expected=max(-1, int(uh["number_of_entries"])) if int(uh["number_of_entries"]) >= 0 else None)
    except MefError:
        return
    except Exception as exc:
        raise Failure(f"{kind} parser raised {type(exc).__name__}: {exc}")


_SCRATCH = []


def _scratch():
    if not _SCRATCH:
        import tempfile

        _SCRATCH.append(tempfile.mkdtemp(prefix="neo_mef3-fuzz-"))
    return _SCRATCH[0]


_SESSION = {}


def _session_state():
    if not _SESSION:
        import shutil

        pristine = os.path.join(_scratch(), "pristine.mefd")
        build_writer_session(pristine)
        work = os.path.join(_scratch(), "work", "s.mefd")
        shutil.copytree(pristine, work)
        base = read_everything(work)
        windows = windows_of(base)
        base = read_everything(work, "", windows)
        _SESSION.update(pristine=pristine, work=work, base=base, windows=windows,
                        files=session_files(pristine))
    return _SESSION


def session_target(data):
    """A whole session with one damaged file, read in raise and skip modes."""
    s = _session_state()
    src = _Bytes(data)
    rel = s["files"][src.u8() % len(s["files"])]
    target = os.path.join(s["work"], rel)
    with open(target, "rb") as f:
        buf = bytearray(f.read())
    flags = src.u8()
    buf = _mutate(buf, src)
    with open(target, "wb") as f:
        f.write(buf)
    crafted = bool(flags & 1)
    if crafted:
        fix_crcs(target)
    try:
        r_out, r_msg = classify_raise(s["work"], "", s["base"], s["windows"], crafted, [rel])
        s_out, s_msg = classify_skip(s["work"], "", s["base"], s["windows"], crafted)
    finally:
        restore(s["work"], s["pristine"], [rel])
    for out, msg in ((r_out, r_msg), (s_out, s_msg)):
        if out.split(":")[0] in FAILURE_PREFIXES:
            raise Failure(f"{rel}: {out}: {msg}")


TARGETS = {"red": red_target, "records": records_target, "headers": headers_target, "session": session_target}


# --------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------


def run_random(name, n, seed, max_len=512):
    target = TARGETS[name]
    rng = random.Random(seed)
    failures = []
    t = time.perf_counter()
    for _ in range(n):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, max_len)))
        try:
            target(data)
        except Failure as exc:
            failures.append({"input": data.hex(), "failure": str(exc)[:500]})
    return {"target": name, "driver": "random", "executions": n, "seconds": round(time.perf_counter() - t, 2),
            "failures": failures[:20], "n_failures": len(failures)}


def run_hypothesis(name, n):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    target = TARGETS[name]
    count = {"n": 0}

    @settings(max_examples=n, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(min_size=1, max_size=512))
    def prop(data):
        count["n"] += 1
        target(data)

    t = time.perf_counter()
    failures = []
    try:
        prop()
    except Failure as exc:
        failures.append({"failure": str(exc)[:1000]})
    return {"target": name, "driver": "hypothesis", "executions": count["n"],
            "seconds": round(time.perf_counter() - t, 2), "failures": failures, "n_failures": len(failures)}


def run_atheris(name, argv):
    import atheris

    target = TARGETS[name]
    atheris.Setup(argv, target)
    atheris.Fuzz()


def main(argv):
    if len(argv) < 3 or argv[2] not in TARGETS:
        print(__doc__)
        return 2
    driver, name = argv[1], argv[2]
    if driver == "atheris":
        run_atheris(name, [argv[0]] + argv[3:])
        return 0
    opts = dict(zip(argv[3::2], argv[4::2]))
    n = int(opts.get("--n", 1000))
    if driver == "random":
        res = run_random(name, n, int(opts.get("--seed", 1)))
    elif driver == "hypothesis":
        res = run_hypothesis(name, n)
    else:
        print(__doc__)
        return 2
    print(json.dumps(res), flush=True)
    return 1 if res["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
