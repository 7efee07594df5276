#!/usr/bin/env python3
"""Build the RED codec with other compilers and configurations, and check each build.

    python scripts/check_portable_build.py                   # every step whose tools are here
    python scripts/check_portable_build.py --steps clang     # some steps (comma-separated)
    python scripts/check_portable_build.py --fetch-windows-python-src   # once, for "mingw"

Each step works on a scratch copy of the checkout (nothing in the checkout is built or
changed) and says what it proves:

portable  The default C compiler with ``-DNEO_RED_PORTABLE``: every primitive of
          ``neo_mef3/_red_platform.h`` on its plain C path (no ``__int128``, no
          intrinsics, no cpuid), as a compiler the header does not know would build it.
          Checks that these paths are ISO C99 (``-std=c99 -pedantic-errors``), runs the
          codec tests on that build, and compares a digest of its results (the
          encoder's bytes, the decoder's samples and status codes on random and
          adversarial blocks, int32 and float64, and CRCs) with the build in use (the
          ``neo_mef3`` this interpreter imports): equal digests mean bit-identical output.
clang     The same with ``CC=clang`` and its fast paths (``__int128``, PCLMULQDQ), and a
          check that the extension was compiled by clang.
mingw     Compiles the Cython-generated ``_red.c`` for 64-bit Windows with
          ``x86_64-w64-mingw32-gcc -c`` (fast paths and ``-DNEO_RED_PORTABLE``) against the
          official CPython headers of a CPython source release: ``Include/`` plus the
          Windows ``PC/pyconfig.h``, with ``-DMS_WIN64``, the define that header expects
          from 64-bit non-MSVC compilers. Checks the objects are PE x86-64 and define
          ``PyInit__red``, and that the fast one holds PCLMULQDQ code and the portable one
          none. Proves that the C compiles for the Windows ABI (LLP64, the Windows C
          runtime's headers, no POSIX). Does not prove that MSVC compiles it (the
          ``_MSC_VER`` branches, ``__umulh`` and ``__cpuid``, are compiled by MSVC only),
          that it links against python3X.dll, or that it runs on Windows: the wheel
          builds (``[tool.cibuildwheel]`` in pyproject.toml) do that.

The Windows headers come from a CPython source tarball (``--windows-python-src``, the
``NEO_MEF3_CPYTHON_SRC`` variable, or the cache that ``--fetch-windows-python-src`` fills
from Debian's ``python3.X`` source package, i.e. the upstream release tarball, through
apt with the host's own Debian mirrors). Without them the mingw step is skipped.

Exit status: 0 every step run passed; 1 a step failed; 3 no step could run (tools
missing; ``--require`` turns a missing tool into a failure).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("portable", "clang", "mingw")
CODEC_TESTS = ["tests/test_red.py", "tests/test_red_fast.py", "tests/test_red_portable.py",
               "tests/test_red_constants.py"]
MINGW = "x86_64-w64-mingw32-gcc"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "neo_mef3" / "cpython-src"
# a real compiler error, not a warning, for what breaks only at link or import time
STRICT = "-Werror=implicit-function-declaration -Werror=int-conversion -Werror=incompatible-pointer-types"


class Skip(Exception):
    """A step's tools are missing."""


class Failed(Exception):
    """A step ran and found a problem."""


def run(cmd, cwd, env=None, timeout=900):
    """Run a command; its combined output. Raises Failed on a non-zero exit."""
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise Failed(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-6000:]}")
    return r.stdout


def scratch_copy(work, name):
    """The package, its build files and tests copied to work/name (no build output)."""
    dst = work / name
    skip = shutil.ignore_patterns("*.so", "*.pyd", "*.o", "*.c", "*.html", "__pycache__", "build")
    shutil.copytree(ROOT / "neo_mef3", dst / "neo_mef3", ignore=skip)
    shutil.copytree(ROOT / "tests", dst / "tests", ignore=skip)
    for f in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, dst / f)
    return dst


def clean_env(src, **extra):
    """The environment for a scratch copy: it alone on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CC", "CFLAGS", "LDSHARED")}
    env["PYTHONPATH"] = str(src)
    env.update(extra)
    return env


def build(src, env):
    """Build the extensions in place in ``src``; the compiler output."""
    return run([sys.executable, "setup.py", "build_ext", "--inplace", "--force"], src, env)


def platform_of(src, env):
    """``_red._platform()`` of the copy's build, after checking the copy is what imports."""
    out = run([sys.executable, "-c", "import json, neo_mef3._red as r; "
               "print(json.dumps([r.__file__, r._platform()]))"], src, env)
    path, info = json.loads(out.strip().splitlines()[-1])
    if not Path(path).resolve().is_relative_to(src.resolve()):
        raise Failed(f"the scratch build was not the one imported: {path}")
    return info


def check_codec(src, env, work):
    """The digest comparison and the codec tests on the copy's build: their notes; raises
    Failed (with both outcomes) if either fails."""
    notes, failed = [], False
    for check in (lambda: compare_with_build_in_use(src, env, work),
                  lambda: run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               *CODEC_TESTS], src, env).strip().splitlines()[-1]):
        try:
            notes.append(check())
        except Failed as exc:
            notes.append(str(exc))
            failed = True
    if failed:
        raise Failed("\n".join(notes))
    return notes


def digest_of(env, cwd):
    out = run([sys.executable, str(Path(__file__).resolve()), "--digest"], cwd, env)
    return json.loads(out.strip().splitlines()[-1])


def compare_with_build_in_use(src, env, work):
    """Digest of the scratch build against the one of the build in use."""
    mine = digest_of(env, work)
    theirs = digest_of({k: v for k, v in os.environ.items()}, work)
    if mine["digest"] != theirs["digest"]:
        raise Failed(f"results differ from the build in use ({theirs['platform']}, {theirs['file']}): "
                     f"digest {mine['digest'][:16]} vs {theirs['digest'][:16]}")
    return (f"digest {mine['digest'][:16]} equal to the build in use "
            f"({theirs['platform']['mulhi']}, crc {theirs['platform']['crc']})")


def warnings_in_our_code(output):
    return [line for line in output.splitlines() if "_red_platform.h" in line and "warning" in line]


# uses every primitive of the header, for compiling it on its own
PLATFORM_USE = r"""
#include "_red_platform.h"
uint32_t use(const uint8_t* p, size_t n, uint32_t crc, uint32_t a, uint32_t d) {
    if (neo_red_clmul_available())
        crc = neo_red_crc_clmul(p, n, crc);
    return crc ^ neo_red_div_by_magic(a, neo_red_magic(d)) ^ neo_red_div_by_magic_portable(a, 3)
        ^ (uint32_t)neo_red_little_endian() ^ (uint32_t)NEO_RED_PORTABLE_BUILD
        ^ (uint32_t)sizeof(NEO_RED_MULHI_NAME NEO_RED_CLMUL_NAME);
}
"""


def iso_c99(cc, work):
    """Compile _red_platform.h's plain paths as strict ISO C99: a compiler the header
    does not know gets nothing but them."""
    tu = work / "platform_use.c"
    tu.write_text(PLATFORM_USE)
    run([cc, "-std=c99", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
         "-DNEO_RED_PORTABLE", f"-I{ROOT / 'neo_mef3'}", str(tu)], work)
    return f"_red_platform.h with NEO_RED_PORTABLE is ISO C99 ({cc} -std=c99 -pedantic-errors -Werror)"


def need_build_tools():
    """Cython, numpy and setuptools importable here (setup.py needs them)."""
    import importlib.util

    missing = [m for m in ("Cython", "numpy", "setuptools") if importlib.util.find_spec(m) is None]
    if missing:
        raise Skip(f"{', '.join(missing)} not installed in this environment (pip install Cython)")


def step_portable(work, args):
    need_build_tools()
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not shutil.which(cc):
        raise Skip(f"no C compiler ({cc})")
    iso = iso_c99(cc, work)
    src = scratch_copy(work, "portable")
    env = clean_env(src, CFLAGS=f"-DNEO_RED_PORTABLE {STRICT}")
    out = build(src, env)
    info = platform_of(src, env)
    if (info["mulhi"], info["clmul"], info["portable_build"]) != ("portable", "none", True):
        raise Failed(f"NEO_RED_PORTABLE did not select the plain C paths: {info}")
    return [iso, f"{cc}: {info}", *check_codec(src, env, work), *warnings_in_our_code(out)]


def step_clang(work, args):
    need_build_tools()
    if not shutil.which("clang"):
        raise Skip("clang not installed (Debian: apt-get install clang)")
    src = scratch_copy(work, "clang")
    env = clean_env(src, CC="clang", CFLAGS=STRICT)
    out = build(src, env)
    so = next((src / "neo_mef3").glob("_red*.so"), None)
    if so is None or b"clang version" not in so.read_bytes():
        raise Failed("the extension does not carry clang's mark (.comment): not compiled by clang?")
    info = platform_of(src, env)
    version = run(["clang", "--version"], work).splitlines()[0]
    bad = warnings_in_our_code(out)
    if bad:
        raise Failed("clang warns about _red_platform.h:\n" + "\n".join(bad))
    return [f"{version}: {info}", *check_codec(src, env, work)]


def windows_headers(work, source):
    """An include directory with CPython's Include/ and the Windows PC/pyconfig.h."""
    if source is None:
        found = sorted(CACHE.glob("python3*.orig.tar.*")) if CACHE.is_dir() else []
        if not found:
            raise Skip("no CPython source for the Windows headers: run "
                       "scripts/check_portable_build.py --fetch-windows-python-src once, or pass "
                       "--windows-python-src")
        source = found[-1]
    source = Path(source)
    inc = work / "windows-include"
    if source.is_dir():
        shutil.copytree(source / "Include", inc)
        shutil.copy2(source / "PC" / "pyconfig.h", inc / "pyconfig.h")
        return inc, source.name
    with tarfile.open(source) as tar:
        members = [m for m in tar.getmembers()
                   if re.match(r"[^/]+/(Include/|PC/pyconfig\.h$)", m.name)]
        try:
            tar.extractall(work / "cpython", members=members, filter="data")
        except TypeError:  # (Python before 3.11.4: no filter argument)
            tar.extractall(work / "cpython", members=members)
    top = next((work / "cpython").iterdir())
    shutil.copytree(top / "Include", inc)
    shutil.copy2(top / "PC" / "pyconfig.h", inc / "pyconfig.h")
    return inc, top.name


def step_mingw(work, args):
    need_build_tools()
    if not shutil.which(MINGW):
        raise Skip(f"{MINGW} not installed (Debian: apt-get install mingw-w64)")
    inc, release = windows_headers(work, args.windows_python_src)
    src = scratch_copy(work, "mingw")
    # the C that setup.py's cythonize makes (its directives), without compiling it
    run([sys.executable, "-c", "import setup; setup.cythonized()"], src, clean_env(src))
    notes = [f"{run([MINGW, '--version'], work).splitlines()[0]}; headers of {release}"]
    for name, macro in (("fast", []), ("portable", ["-DNEO_RED_PORTABLE"])):
        obj = work / f"_red_{name}.o"
        out = run([MINGW, "-c", "-O2", "-Wall", *STRICT.split(), "-DMS_WIN64", *macro, f"-I{inc}",
                   str(src / "neo_mef3" / "_red.c"), "-o", str(obj)], work)
        head = run([MINGW.replace("gcc", "objdump"), "-f", str(obj)], work)
        symbols = run([MINGW.replace("gcc", "nm"), str(obj)], work)
        code = run([MINGW.replace("gcc", "objdump"), "-d", "--no-show-raw-insn", str(obj)], work)
        clmul = "pclmul" in code        # (objdump spells pclmulqdq by its immediate: pclmullqlqdq, ...)
        if "pe-x86-64" not in head or " T PyInit__red" not in symbols:
            raise Failed(f"{name}: not a PE x86-64 object defining PyInit__red:\n{head}")
        if clmul != (name == "fast"):
            raise Failed(f"{name}: PCLMULQDQ code {'present' if clmul else 'missing'}")
        bad = warnings_in_our_code(out)
        if bad:
            raise Failed(f"{name}: warnings in _red_platform.h:\n" + "\n".join(bad))
        notes.append(f"{name}: PE x86-64 object, PyInit__red, PCLMULQDQ code {'yes' if clmul else 'no'}, "
                     f"{out.count('warning:')} compiler warnings")
    return notes


def fetch_windows_python_src():
    """Download Debian's python3.X source package's upstream tarball into the cache, with
    apt on private state (the host's apt configuration is left as it is)."""
    minor = f"python3.{sys.version_info.minor}"
    state = CACHE / "apt"
    for d in ("lists/partial", "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    lines = []
    for uri, suite, comps in debian_sources():
        lines.append(f"deb-src {uri} {suite} {comps}")
    if not lines:
        raise SystemExit("no Debian archive found in the apt sources of this host")
    (state / "sources.list").write_text("\n".join(lines) + "\n")
    opts = ["-o", "APT::Sandbox::User=root", "-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}"]
    subprocess.run(["apt-get", *opts, "update", "-qq"], check=True)
    for package in (minor, "python3-defaults"):
        r = subprocess.run(["apt-get", *opts, "source", "--download-only", "-qq", package], cwd=CACHE)
        found = sorted(CACHE.glob("python3*.orig.tar.*"))
        if found:
            print(f"CPython source: {found[-1]}")
            return
        if r.returncode == 0:
            break
    raise SystemExit(f"could not download the source of {minor}")


def debian_sources():
    """(uri, suite, components) of the host's Debian archives (base suites only)."""
    found = []
    paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text()
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and "debian" in fields.get("URIs", ""):
                    for suite in fields.get("Suites", "").split():
                        if "-" not in suite:
                            found.append((fields["URIs"].split()[0], suite, fields.get("Components", "main")))
        else:
            for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S*debian\S*)\s+(\S+)\s+(.+)$", text, re.M):
                if "-" not in m.group(2):
                    found.append(m.groups())
    return found


# --- the digest: one hash over the codec's results on fixed random and adversarial input


def _signal(rng, n, kind):
    import numpy as np

    if kind == 0:
        x = np.cumsum(rng.integers(-140, 141, n))                     # small steps
    elif kind == 1:
        x = rng.integers(-2**31 + 2, 2**31 - 1, n)                    # every sample escaped
    elif kind == 2:
        x = np.cumsum(rng.choice([-1, -1, -1, 0, 1, -200], n))        # symbol 255 dominates
    elif kind == 3:
        x = rng.choice([-0x7FFFFFFE, 0x7FFFFFFE, -1, 0, 1, 127, -128, 128], n)   # wrapping
    else:
        x = np.cumsum(rng.choice([0, 1, -1, 90], n, p=[0.97, 0.013, 0.013, 0.004]))  # skewed
    return x.astype(np.int32)


def _hostile_block(rng, i):
    """A 304-byte header with random (or extreme) statistics, sizes and lossy fields,
    and a random payload."""
    import struct

    import numpy as np

    n = int(rng.integers(0, 600))
    stats = rng.integers(0, 256, 256) * (rng.random(256) < rng.random())
    if i % 5 == 0:
        stats = np.full(256, 255)                         # the largest total, 65280
    elif i % 5 == 1:
        stats = np.zeros(256, int)
        stats[int(rng.integers(0, 256))] = 1 << int(rng.integers(0, 8))   # total 2**k
    b = bytearray(304) + rng.integers(0, 256, int(rng.integers(0, 4 * n + 9)), dtype=np.uint8).tobytes()
    b += b"\x7E" * (-len(b) % 8)
    b[48:304] = bytes(int(v) for v in stats)
    if i % 3 == 0:                                        # lossy: scaled and detrended
        struct.pack_into("<fff", b, 16, rng.normal(0, 50), rng.normal(0, 1e4), 1 + 20 * rng.random())
    else:
        struct.pack_into("<f", b, 24, 1.0)
    struct.pack_into("<III", b, 28, int(rng.integers(0, 5 * n + 3)), n, len(b))
    return bytes(b)


def codec_digest():
    import numpy as np

    from neo_mef3 import _red

    h = hashlib.sha256()
    rng = np.random.default_rng(20240611)
    for kind in range(5):                                  # encoder, then decoder
        for n in (1, 2, 3, 17, 255, 256, 1001, 10007):
            x = _signal(rng, n, kind)
            block = _red.encode_block(x, start_time=n, discontinuity=bool(n & 1))
            h.update(block)
            h.update(_red.decode_block(block).tobytes())
    x = _signal(rng, 50_000, 0)
    starts = np.arange(0, 50_000, 3000)
    counts = np.minimum(3000, 50_000 - starts)
    for part in _red.encode_blocks(x, starts, counts, starts * 7, starts % 2, n_threads=3):
        h.update(np.ascontiguousarray(part).tobytes())
    blocks = [_hostile_block(rng, i) for i in range(600)]
    buf = b"".join(blocks)
    offs = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    sizes = np.array([len(b) for b in blocks])
    claimed = np.array([int.from_bytes(b[32:36], "little") for b in blocks])
    oo = np.concatenate([[0], np.cumsum(claimed)[:-1]])
    for clip in (False, True):
        out = np.zeros(int(claimed.sum()), np.int32)
        status = np.full(len(blocks), -1, np.int8)
        _red.decode_blocks(buf, offs, sizes, -np.ones(len(blocks)), out, oo - 7 * clip,
                           check_crc=False, status=status, clip=clip)
        h.update(out.tobytes() + status.tobytes())
    outf = np.full(int(claimed.sum()), np.nan)
    status = np.full(len(blocks), -1, np.int8)
    _red.decode_blocks_f64(buf, offs, sizes, -np.ones(len(blocks)), outf, oo,
                           rng.choice([1.0, 0.1, -3.5], len(blocks)), check_crc=False, status=status)
    h.update(outf.tobytes() + status.tobytes())
    data = rng.integers(0, 256, 70_000, dtype=np.uint8).tobytes()
    engine = _red._crc_engine()
    for clmul in (False, True):
        _red._crc_engine(clmul)
        for n in (0, 1, 7, 15, 16, 63, 64, 65, 127, 1000, 4096, 65_536, 69_999):
            h.update(_red.crc32(data[n % 13:n % 13 + n]).to_bytes(4, "little"))
    _red._crc_engine(engine == "clmul")
    return {"digest": h.hexdigest(), "platform": _red._platform(), "file": _red.__file__}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    ap.add_argument("--require", action="store_true", help="a step whose tools are missing fails")
    ap.add_argument("--windows-python-src", default=os.environ.get("NEO_MEF3_CPYTHON_SRC"),
                    help="CPython source tarball or tree for the Windows headers (mingw step)")
    ap.add_argument("--fetch-windows-python-src", action="store_true",
                    help=f"download Debian's python3.X source into {CACHE} and stop")
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--digest", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.digest:
        print(json.dumps(codec_digest()))
        return 0
    if args.fetch_windows_python_src:
        fetch_windows_python_src()
        return 0
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        ap.error(f"unknown steps: {', '.join(sorted(unknown))}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="neo_mef3_portable_") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for step in steps:
            try:
                wdir = work / step
                wdir.mkdir(exist_ok=True)
                notes = globals()[f"step_{step}"](wdir, args)
                results[step] = ("PASS", notes)
            except Skip as exc:
                results[step] = ("FAIL" if args.require else "SKIP", [str(exc)])
            except Failed as exc:
                results[step] = ("FAIL", [str(exc)])
    for step, (verdict, notes) in results.items():
        print(f"{step}: {verdict}")
        for note in notes:
            print(f"    {note}")
    verdicts = [v for v, _ in results.values()]
    if "FAIL" in verdicts:
        return 1
    return 0 if "PASS" in verdicts else 3


if __name__ == "__main__":
    sys.exit(main())
