"""neo_mef3.resolution: the resolution a conversion to MEF keeps (expected values by hand)."""

import numpy as np
import pytest

from neo_mef3 import resolution


def test_decimal_values_keep_their_decimals():
    rng = np.random.default_rng(0)
    x = rng.integers(-50_000, 50_000, 10_000) * 0.01  # uV at 0.01 uV per count, as MEF sessions hold them
    assert resolution.infer(x) == (0.01, 2, "decimal")
    assert resolution.infer(np.round(x)) == (1.0, 0, "decimal")
    assert resolution.infer(np.zeros(5)) == (1.0, 0, "decimal")
    big = np.array([2_000_000_000.0, -5.0, 7.0])  # near RED's range: precision 0 only
    assert resolution.infer(big) == (1.0, 0, "decimal")


def test_an_adc_grid_is_the_resolution_even_off_zero():
    rng = np.random.default_rng(1)
    gain = 6400 / 65535  # EDF: physical range / digital range (uV per digital value)
    digital = rng.integers(-3000, 3000, 20_000)
    edf_like = digital * gain + gain / 2  # physical_min - digital_min * gain: half a step off zero
    res = resolution.infer(edf_like)
    assert res.rule == "grid" and res.precision is None and res.step == pytest.approx(gain, rel=1e-9)
    assert np.abs(resolution.counts(edf_like, res) * res.step - edf_like).max() <= gain / 2 * (1 + 1e-9)
    brainvision = digital * 0.048828125  # through zero: counts are the digital values
    res = resolution.infer(brainvision)
    assert res.step == pytest.approx(0.048828125, rel=1e-12)
    np.testing.assert_array_equal(resolution.counts(brainvision, res), digital)
    # a 12-bit converter stored as 16-bit EDF visits every 16th level: that is its resolution
    coarse = rng.integers(-100, 100, 5000) * 16 * gain + gain / 2
    assert resolution.infer(coarse).step == pytest.approx(16 * gain, rel=1e-9)


def test_float_signals_get_a_thousandth_of_their_typical_step():
    rng = np.random.default_rng(2)
    steps = rng.choice([-5.0, 5.0], 50_000) * rng.uniform(0.99, 1.01, 50_000)
    x = np.cumsum(steps)  # typical |step| 5 uV: a thousandth is 0.005 -> 0.001 uV (p = 3)
    assert resolution.infer(x) == (0.001, 3, "signal")
    # a slow wave rising from 0 to 309 uV in steps of ~3e-3 uV: a thousandth is 3e-6 (p = 6);
    # float32 resolves 309 * 2**-24 = 1.8e-5 uV at its peak, so as float32 p = 5
    slow = 1000 * np.sin(2 * np.pi * np.arange(100_000) / 2e6)
    assert resolution.infer(slow) == (1e-6, 6, "signal")
    assert resolution.infer(slow.astype(np.float32), float32=True) == (1e-5, 5, "signal")
    # headroom keeps the counts of larger values than the probe's within RED's range
    assert resolution.infer(x, headroom=1e6).precision < 3


def test_given_precisions_and_counts_that_do_not_fit():
    assert resolution.given(4) == (1e-4, 4, "given")
    with pytest.raises(ValueError, match="0..18"):
        resolution.given(19)
    res = resolution.given(3)
    np.testing.assert_array_equal(resolution.counts(np.array([0.0005, -0.0005, 1.2344, np.nan]), res),
                                  [1, 0, 1234, 0])  # halves round up; NaN (a gap) is 0
    with pytest.raises(ValueError, match="does not fit"):
        resolution.counts(np.array([3e6]), res)
    with pytest.raises(ValueError, match="even at precision 0"):
        resolution.infer(np.array([3e9, 1.0]))
