"""Damage a session: the cases and how to apply them.

A *case* is a JSON dict naming a session and one damage (``op``): a bit flip, a
truncation, zeroed or random bytes, a deleted or foreign file, trailing garbage, or an
absurd value written into a header, index or block field (optionally with every CRC
recomputed, so that the checks behind the CRCs are exercised too). The cases run in
worker processes (:mod:`support.isolated`); :mod:`support.outcomes` judges them.
"""

import os
import random
import shutil
import struct

UH = 1024  # universal header bytes
TIDX_ENTRY = 56
RED_HEADER = 304


def session_files(session):
    out = []
    for root, _, names in os.walk(session):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), session))
    return sorted(out)


def _kind(rel):
    return rel.rsplit(".", 1)[-1]


def _crc(data):
    from neo_mef3 import _red

    return _red.crc32(data)


def fix_crcs(path, block_offset=None):
    """Recompute the CRCs of a file after a deliberate edit (what a crafted file has).

    ``block_offset``: a .tdat RED block whose CRC to recompute first. Body CRCs cover
    everything after the header (a .tidx: every whole entry), then the header CRC.
    """
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    if len(buf) < UH:
        return
    kind = _kind(path)
    if kind == "tdat" and block_offset is not None and block_offset + RED_HEADER <= len(buf):
        bb = struct.unpack_from("<I", buf, block_offset + 36)[0]
        end = min(len(buf), block_offset + max(bb, RED_HEADER))
        struct.pack_into("<I", buf, block_offset, _crc(bytes(buf[block_offset + 4 : end])))
    body = bytes(buf[UH:])
    if kind == "tidx":
        body = body[: len(body) // TIDX_ENTRY * TIDX_ENTRY]
    if struct.unpack_from("<I", buf, 4)[0] != 0 or kind != "rdat":
        struct.pack_into("<I", buf, 4, _crc(body))
    struct.pack_into("<I", buf, 0, _crc(bytes(buf[4:UH])))
    with open(path, "wb") as f:
        f.write(buf)


# header fields (offset, struct format) a damaged or hostile file may hold absurd values in
UH_FIELDS = {
    "start_time": (16, "<q"),
    "end_time": (24, "<q"),
    "number_of_entries": (32, "<q"),
    "maximum_entry_size": (40, "<q"),
    "segment_number": (48, "<i"),
}
TMET_FIELDS = {  # section 2 (plain sessions only: encrypted ones hold ciphertext there)
    "recording_duration": (2560 + 4096, "<q"),
    "sampling_frequency": (2560 + 6160, "<d"),
    "units_conversion_factor": (2560 + 6200, "<d"),
    "start_sample": (2560 + 6352, "<q"),
    "number_of_samples": (2560 + 6360, "<q"),
    "number_of_blocks": (2560 + 6368, "<q"),
    "maximum_block_bytes": (2560 + 6376, "<q"),
    "maximum_block_samples": (2560 + 6384, "<I"),
    "recording_time_offset": (13312, "<q"),
}
TIDX_FIELDS = {
    "file_offset": (0, "<q"),
    "start_time": (8, "<q"),
    "start_sample": (16, "<q"),
    "number_of_samples": (24, "<I"),
    "block_bytes": (28, "<I"),
    "flags": (48, "<B"),
}
RED_FIELDS = {
    "flags": (4, "<B"),
    "scale_factor": (24, "<f"),
    "difference_bytes": (28, "<I"),
    "number_of_samples": (32, "<I"),
    "block_bytes": (36, "<I"),
    "start_time": (40, "<q"),
}


def _absurd_values(fmt, old, rng):
    if fmt in ("<d", "<f"):
        return rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e300 if fmt == "<d" else 3e38, old * 2 + 1, -old])
    bits = struct.calcsize(fmt) * 8
    signed = fmt[-1].islower()
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    cands = [lo, hi, 0, 1, old + 1, old - 1, old * 2, old // 2, hi // 2, hi - 1]
    if signed:
        cands += [-1, -old]
    v = rng.choice(cands)
    return max(lo, min(hi, v))


def _tdat_blocks(path):
    """Offsets of the RED blocks of a .tdat, walking block_bytes from the header."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = UH
    while pos + RED_HEADER <= len(data) and len(out) < 10000:
        bb = struct.unpack_from("<I", data, pos + 36)[0]
        out.append(pos)
        if bb < RED_HEADER:
            break
        pos += bb
    return out


def generate_cases(session, key, rng, n_random=0, systematic=True, crafted=0, encrypted=False):
    """Damage cases for one session (a list of JSON-able dicts)."""
    files = session_files(session)
    sizes = {f: os.path.getsize(os.path.join(session, f)) for f in files}
    cases = []

    def add(**c):
        c["session"] = key
        cases.append(c)

    if systematic:
        for f in files:
            size = sizes[f]
            for off in sorted({0, 4, 8, 20, 32, 600, 1023, 1024, 1030, 1100, 1340, size // 2, size - 1}):
                if 0 <= off < size:
                    add(op="flip", file=f, offset=off, bit=4)
            for cut in sorted({0, 500, 1024, 1030, size // 2, size - 1}):
                if cut < size:
                    add(op="truncate", file=f, size=cut)
            add(op="zero", file=f, start=0, stop=size)
            add(op="delete", file=f)
            add(op="append", file=f, length=rng.choice([1, 56, 304, 4096]), seed=rng.randrange(2**31))
    by_kind = {}
    for f in files:
        by_kind.setdefault(_kind(f), []).append(f)
    ops = ["flip", "flip", "flip", "truncate", "zero", "garbage", "append", "foreign"]
    for _ in range(n_random):
        f = rng.choice(files)
        size = sizes[f]
        op = rng.choice(ops)
        if op == "flip":
            add(op="flip", file=f, offset=rng.randrange(max(size, 1)), bit=rng.randrange(8))
        elif op == "truncate":
            add(op="truncate", file=f, size=rng.randrange(max(size, 1)))
        elif op == "zero":
            a = rng.randrange(max(size, 1))
            add(op="zero", file=f, start=a, stop=min(size, a + rng.choice([1, 8, 56, 304, 1024, 4096])))
        elif op == "garbage":
            a = rng.randrange(max(size, 1))
            add(op="garbage", file=f, start=a, length=rng.choice([1, 4, 16, 64, 512]), seed=rng.randrange(2**31))
        elif op == "append":
            add(op="append", file=f, length=rng.choice([1, 24, 56, 300, 4096]), seed=rng.randrange(2**31))
        else:
            others = [g for g in by_kind[_kind(f)] if g != f]
            if others:
                add(op="foreign", file=f, source=rng.choice(others))
            else:
                add(op="delete", file=f)
    for _ in range(crafted):
        f = rng.choice([g for g in files if _kind(g) in ("tdat", "tidx", "tmet", "rdat")] or files)
        kind = _kind(f)
        where = rng.random()
        if kind == "tidx" and sizes[f] >= UH + TIDX_ENTRY and where < 0.7:
            n = (sizes[f] - UH) // TIDX_ENTRY
            name = rng.choice(sorted(TIDX_FIELDS))
            off, fmt = TIDX_FIELDS[name]
            add(op="field", file=f, offset=UH + rng.randrange(n) * TIDX_ENTRY + off, fmt=fmt, field=name,
                fix_crc=True, seed=rng.randrange(2**31))
        elif kind == "tdat" and where < 0.7:
            blocks = _tdat_blocks(os.path.join(session, f))
            if not blocks:
                continue
            name = rng.choice(sorted(RED_FIELDS))
            off, fmt = RED_FIELDS[name]
            b = rng.choice(blocks)
            add(op="field", file=f, offset=b + off, fmt=fmt, field=name, fix_crc=True, block=b,
                seed=rng.randrange(2**31))
        elif kind == "tmet" and not encrypted and where < 0.7:
            name = rng.choice(sorted(TMET_FIELDS))
            off, fmt = TMET_FIELDS[name]
            add(op="field", file=f, offset=off, fmt=fmt, field=name, fix_crc=True, seed=rng.randrange(2**31))
        else:
            name = rng.choice(sorted(UH_FIELDS))
            off, fmt = UH_FIELDS[name]
            add(op="field", file=f, offset=off, fmt=fmt, field=name, fix_crc=True, seed=rng.randrange(2**31))
    return cases


def apply_case(work, case):
    """Damage the session copy `work`; return the relative paths touched."""
    f = case.get("file")
    target = os.path.join(work, f) if f else None
    op = case["op"]
    if op == "flip":
        with open(target, "r+b") as fh:
            fh.seek(case["offset"])
            b = fh.read(1)
            fh.seek(case["offset"])
            fh.write(bytes([b[0] ^ (1 << case["bit"])]))
    elif op == "truncate":
        os.truncate(target, case["size"])
    elif op == "zero":
        with open(target, "r+b") as fh:
            fh.seek(case["start"])
            fh.write(bytes(case["stop"] - case["start"]))
    elif op == "garbage":
        rnd = random.Random(case["seed"])
        size = os.path.getsize(target)
        n = max(0, min(case["length"], size - case["start"]))
        with open(target, "r+b") as fh:
            fh.seek(case["start"])
            fh.write(bytes(rnd.randrange(256) for _ in range(n)))
    elif op == "append":
        rnd = random.Random(case["seed"])
        with open(target, "ab") as fh:
            fh.write(bytes(rnd.randrange(256) for _ in range(case["length"])))
    elif op == "delete":
        os.remove(target)
    elif op == "foreign":
        shutil.copyfile(os.path.join(work, case["source"]), target)
    elif op == "field":
        rnd = random.Random(case["seed"])
        size = os.path.getsize(target)
        fmt = case["fmt"]
        if case["offset"] + struct.calcsize(fmt) > size:
            return [f]
        with open(target, "r+b") as fh:
            fh.seek(case["offset"])
            old = struct.unpack(fmt, fh.read(struct.calcsize(fmt)))[0]
            new = _absurd_values(fmt, old, rnd)
            fh.seek(case["offset"])
            fh.write(struct.pack(fmt, new))
        if case.get("fix_crc"):
            fix_crcs(target, case.get("block"))
    else:
        raise ValueError(f"unknown damage op {op!r}")
    return [f]


def restore(work, pristine, touched):
    for rel in touched:
        src, dst = os.path.join(pristine, rel), os.path.join(work, rel)
        if os.path.exists(src):
            shutil.copyfile(src, dst)
        elif os.path.exists(dst):
            os.remove(dst)
