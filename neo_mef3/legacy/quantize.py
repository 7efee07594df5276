"""mef_tools' quantization and gap splitting, reproduced exactly: the precision it
infers, its float -> int32 counts (and the exact alternative), the intervals a NaN-gapped
write is split into. Public names: the benchmarks compare the two quantizations."""

import numpy as np

from .common import _say


def _int32_range_ok(x_min, x_max, alpha):
    """mef_tools ``check_int32_dynamic_range`` (False only when BOTH ends saturate)."""
    min_value = np.iinfo(np.int32).min
    if (x_min * alpha < min_value) & (x_max * alpha > np.iinfo(np.int32).max):
        return False
    return True


def infer_precision(data):
    """mef_tools ``infer_conversion_factor``: decimals that bring mean |diff| to >= 1000."""
    mean_diff_abs = np.nanmean(np.abs(np.diff(data)))
    precision = 0
    while (mean_diff_abs < 1000) & (mean_diff_abs != 0):
        precision += 1
        mean_diff_abs *= 10

    data_max = np.nanmax(data)
    data_min = np.nanmin(data)
    alpha = 10 ** precision
    while (not _int32_range_ok(data_min, data_max, alpha)) & (precision != 0):
        precision -= 1
        _say(f" WARNING: dynamic range saturated, precision decreased to {precision}", warn=True, stacklevel=4)
        alpha = 10 ** precision
    return precision


def _usable_precision(precision):
    """mef_tools' precision check: anything but an int >= 0 becomes 0, with its message."""
    if (precision < 0) | (not (isinstance(precision, int))):
        _say(
            "WARNING: precision set to incorrect value, it is set to default (0) = conversion without "
            "scaling (scaling=1)",
            warn=True,
            stacklevel=6,  # _say <- here <- to_int32* <- MefWriter._quantize <- write_data <- caller
        )
        precision = 0
    return precision


def to_int32(data, precision):
    """mef_tools ``convert_data_to_int32``: NaN -> 0, ``np.round(x, p)``, then a truncating
    int32 cast of ``10**p * rounded`` (done in the input's own float type)."""
    precision = _usable_precision(precision)
    data = data.copy()
    data[np.isnan(data)] = 0
    deciround = np.round(data, decimals=precision)
    data_int32 = np.empty(shape=deciround.shape, dtype=np.int32)
    data_int32[:] = 10 ** precision * (deciround)
    return data_int32


def to_int32_exact(data, precision):
    """``rint(x * 10**p)``: the nearest count (the native Writer's rule), NaN -> 0."""
    precision = _usable_precision(precision)
    x = np.array(data, dtype=np.float64)
    x[np.isnan(x)] = 0
    x = np.rint(x * 10.0 ** precision)
    data_int32 = np.empty(shape=x.shape, dtype=np.int32)
    data_int32[:] = x
    return data_int32


def find_intervals(valid, fs, start_uutc, samples_of_nans_allowed=None):
    """mef_tools ``find_intervals_binary_vector`` without pandas.

    Runs of valid samples separated by fewer than `samples_of_nans_allowed` invalid ones
    are merged. Returns (start_samples, stop_samples, start_uutc, stop_uutc) int64 arrays.
    """
    if samples_of_nans_allowed is None:
        samples_of_nans_allowed = int(fs)
    vector = np.concatenate((np.array([0]), valid, np.array([0])))
    diff_vector = np.diff(vector)
    t0 = np.where(diff_vector == 1)[0]
    t1 = np.where(diff_vector == -1)[0]
    if len(t0) == 0:
        # what pandas raises inside mef_tools when there is no valid sample at all
        raise KeyError("None of [Index([0], dtype='int64')] are in the [index]")
    merge = np.array(t1[:-1] + samples_of_nans_allowed) > np.array(t0[1:])
    starts = t0[np.concatenate(([True], ~merge))].astype(np.int64)
    stops = t1[np.concatenate((~merge, [True]))].astype(np.int64)
    start_uutc = int(start_uutc)
    return (
        starts,
        stops,
        (starts / fs * 1e6 + start_uutc).astype(np.int64),
        (stops / fs * 1e6 + start_uutc).astype(np.int64),
    )

