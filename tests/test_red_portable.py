"""The codec's platform primitives: every fast path equals its plain C fallback.

``_red_platform.h`` gives each compiler- or CPU-specific primitive a portable path.
Here both paths of the exact division (the range coder divides by the block's total
through a reciprocal multiply) are compared with integer division on every total a
block can have and adversarial numerators; the CRC's two engines are compared in
``test_red_fast.test_crc_engines_agree``. The whole codec built with the portable
paths only (``-DNEO_RED_PORTABLE``) is checked by ``scripts/check_portable_build.py``
(``test_portable_build.py`` runs it).
"""
import platform

import numpy as np
import pytest

from neo_mef3 import _red

MAX_TOTAL = 255 * 256         # 256 statistics of at most 255 each


def _adversarial_numerators(d):
    """Per divisor (uint64 array), numerators where a quotient is most easily off by
    one: around 0, around d, around the largest multiple of d below 2**32, the range
    coder's bounds and the top of the range."""
    top = (2**32 - 1) // d * d
    cols = [np.zeros_like(d), np.ones_like(d), d - 1, d, d + 1, top - 1, top, top + d - 1]
    cols += [np.full_like(d, v) for v in (2**23, 2**23 + 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1)]
    return np.minimum(np.stack(cols, axis=1), 2**32 - 1)


def _check(n, d):
    want = (n.astype(np.uint64) // d.astype(np.uint64)).astype(np.uint32)
    fast = _red._divide(n, d)
    portable = _red._divide(n, d, portable=True)
    np.testing.assert_array_equal(fast, want)
    np.testing.assert_array_equal(portable, want)


def test_division_exact_on_every_block_total():
    d = np.arange(1, MAX_TOTAL + 1, dtype=np.uint64)
    n = _adversarial_numerators(d)
    _check(n.reshape(-1), np.repeat(d, n.shape[1]))
    rng = np.random.default_rng(41)
    _check(rng.integers(0, 2**32, d.size, dtype=np.uint64), d)


def test_division_exact_on_any_32_bit_divisor():
    # the multiplier is exact for every divisor below 2**32, not only block totals
    rng = np.random.default_rng(43)
    d = np.concatenate([rng.integers(2, 2**32, 200_000, dtype=np.uint64),
                        2 ** np.arange(1, 32, dtype=np.uint64),
                        2 ** np.arange(2, 33, dtype=np.uint64) - 1,
                        2 ** np.arange(1, 32, dtype=np.uint64) + 1])
    n = _adversarial_numerators(d)
    _check(n.reshape(-1), np.repeat(d, n.shape[1]))
    _check(rng.integers(0, 2**32, d.size, dtype=np.uint64), d)


def test_divide_rejects_bad_arguments():
    with pytest.raises(ZeroDivisionError):
        _red._divide([5], [0])
    with pytest.raises(ValueError):
        _red._divide([5, 6], [1])


def test_platform_report_matches_the_build():
    info = _red._platform()
    assert set(info) == {"mulhi", "clmul", "cpu_clmul", "crc", "portable_build"}
    if info["portable_build"]:
        assert (info["mulhi"], info["clmul"], info["crc"]) == ("portable", "none", "table")
        return
    assert info["mulhi"] in ("int128", "umulh", "portable")
    assert info["crc"] == ("clmul" if info["clmul"] != "none" and info["cpu_clmul"] else "table")
    if platform.machine().lower() in ("x86_64", "amd64"):
        # GCC, Clang and MSVC all build the fast paths on x86-64
        assert info["mulhi"] in ("int128", "umulh") and info["clmul"] == "pclmulqdq"


def test_big_endian_host_is_refused_with_a_clear_error():
    _red._require_little_endian(True)
    with pytest.raises(ImportError, match="little-endian hosts only.*big-endian"):
        _red._require_little_endian(False)
