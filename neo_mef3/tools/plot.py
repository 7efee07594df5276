"""Quick-look figures of a session (``neo-mef3 plot``), drawn with matplotlib (extra
``neo_mef3[plot]``) without pyplot, so no display or global backend is involved.

* :func:`plot_window`: stacked traces of a time window, one row per channel (each
  scaled to its own 1st-99th percentile range, the range printed by its name), a date
  and time axis in UTC, local time or any IANA zone, gaps shaded grey, records marked
  by red lines (their duration shaded).
* :func:`plot_overview`: a whole session as per-bin (default one minute) min/max
  envelopes, taken from the minimum and maximum each block-index entry stores, so
  nothing is decoded (blocks whose statistics are unset are decoded).

The figure is exactly ``width`` x ``height`` pixels and is written atomically.
"""

import datetime

import numpy as np

from ..errors import PasswordError, RangeError
from ..format.layout import RED_NAN
from ..progress import Tracker
from .atomic import atomic_output
from .inventory import session_span
from .when import format_time, resolve_tz

__all__ = ["plot_window", "plot_overview", "block_envelope", "load_matplotlib"]

_GAP = "0.88"
_RECORD = "tab:red"


def load_matplotlib():
    """matplotlib's Figure and Agg canvas, or ImportError saying how to install them."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'neo_mef3[plot]'") from None
    return Figure, FigureCanvasAgg


_EPOCH = None


def _dates(uutc):
    """matplotlib date numbers of uUTC times."""
    global _EPOCH
    import matplotlib.dates as mdates

    if _EPOCH is None:
        _EPOCH = mdates.date2num(datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc))
    return _EPOCH + np.asarray(uutc, np.float64) / 86_400e6


def _figure(width, height, dpi, rows):
    Figure, Canvas = load_matplotlib()
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    Canvas(fig)
    ax = fig.add_axes([0.14, 0.1, 0.83, 0.8])
    ax.set_ylim(-rows + 0.4, 0.6)
    return fig, ax


def _time_axis(ax, tz, t0):
    import matplotlib.dates as mdates

    zone = resolve_tz(tz)
    locator = mdates.AutoDateLocator(tz=zone)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))
    name = datetime.datetime.fromtimestamp(t0 / 1e6, zone).tzname()
    ax.set_xlabel(f"time ({name})")


def _channel_rows(ax, channels, labels):
    ax.set_yticks([-i for i in range(len(channels))])
    ax.set_yticklabels(labels, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _shade(ax, row, start_uutc, stop_uutc):
    from matplotlib.patches import Rectangle

    a, b = _dates([start_uutc, stop_uutc])
    ax.add_patch(Rectangle((a, -row - 0.5), b - a, 1.0, facecolor=_GAP, edgecolor="none", zorder=0))


def _records(reader, channels, t0, t1):
    out = []
    try:
        for level in [None] + list(channels):
            for r in reader.records(level):
                if r["time"] is not None and t0 <= r["time"] < t1:
                    out.append(r)
    except PasswordError:
        return []
    return out


def _mark_records(ax, records):
    for r in records:
        x = _dates([r["time"]])[0]
        dur = r.get("duration")
        if isinstance(dur, int) and dur > 0:
            ax.axvspan(x, _dates([r["time"] + dur])[0], color=_RECORD, alpha=0.12, lw=0, zorder=0)
        ax.axvline(x, color=_RECORD, lw=0.9, alpha=0.8, zorder=3)
        label = r.get("text") or r.get("annotation") or r["type"]
        ax.text(x, 0.99, f"{label} "[:40], rotation=90, va="top", ha="right", fontsize=7, color=_RECORD,
                transform=ax.get_xaxis_transform(), zorder=4)


def _scale(y):
    finite = y[np.isfinite(y)]
    if not len(finite):
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [1, 99])
    mid = float(np.median(finite))
    return mid, float(hi - lo) or float(np.abs(finite).max()) or 1.0


def _label(channel, values, span, units):
    """A row's label: the channel and the range its height shows."""
    if not np.isfinite(values).any():
        return f"{channel}\n(no data)"
    return f"{channel}\n{span:.3g} {units or ''}".rstrip()


def _decimate(t, y, columns):
    """min/max per pixel column, interleaved, so a long window draws fast and looks right."""
    if len(y) <= 4 * columns:
        return t, y
    edges = np.linspace(0, len(y), columns + 1).astype(np.int64)[:-1]
    with np.errstate(invalid="ignore"):
        lo, hi = np.fmin.reduceat(y, edges), np.fmax.reduceat(y, edges)
    tt = np.repeat(t[edges], 2)
    yy = np.empty(2 * len(edges))
    yy[0::2], yy[1::2] = lo, hi
    return tt, yy


def _nan_runs(y):
    bad = np.concatenate(([False], np.isnan(y), [False]))
    edges = np.flatnonzero(np.diff(bad.astype(np.int8)))
    return edges[0::2], edges[1::2]


def _save(fig, out, overwrite):
    with atomic_output(out, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=fig.dpi, format="png")


def plot_window(reader, out, t0, t1, channels=None, width=1600, height=None, dpi=100, tz="utc", title=None,
                overwrite=False):
    """Stacked traces of ``[t0, t1)`` (uUTC) of ``channels`` (all by default) as a PNG."""
    channels = list(channels or reader.channels)
    if t1 <= t0:
        raise RangeError("the window is empty", reader.path)
    height = height or max(300, 70 * len(channels) + 140)
    fig, ax = _figure(width, height, dpi, len(channels))
    labels = []
    for row, ch in enumerate(channels):
        y = reader.read(ch, t0, t1, warn=False)
        fs = reader.info(ch)["sampling_frequency"]
        t = t0 + np.arange(len(y)) * (1e6 / fs)
        mid, span = _scale(y)
        tt, yy = _decimate(t, y, width)
        ax.plot(_dates(tt), (yy - mid) / span * 0.9 - row, lw=0.6, color=f"C{row % 10}")
        for a, b in zip(*_nan_runs(y)):
            _shade(ax, row, t[a], t[b - 1] + 1e6 / fs)
        labels.append(_label(ch, y, span, reader.info(ch)["units_description"]))
    _channel_rows(ax, channels, labels)
    ax.set_xlim(*_dates([t0, t1]))
    _time_axis(ax, tz, t0)
    _mark_records(ax, _records(reader, channels, t0, t1))
    fig.suptitle(title or f"{format_time(t0, tz)}  +{(t1 - t0) / 1e6:g} s", fontsize=10)
    _save(fig, out, overwrite)
    return {"path": out, "width": width, "height": height, "channels": channels}


def block_envelope(reader, ch, bins_start, bin_us, nbins):
    """Per-bin min and max of a channel in units, from the block index statistics."""
    table = reader.block_table(ch)
    fs = reader.info(ch)["sampling_frequency"]
    start = table["start_uutc"].astype(np.int64)
    n = table["number_of_samples"].astype(np.int64)
    hi = table["maximum_sample_value"].astype(np.float64)
    lo = table["minimum_sample_value"].astype(np.float64)
    factor = table["units_conversion_factor"].astype(np.float64)
    factor = np.where(factor == 0, 1.0, factor)
    unset = (table["maximum_sample_value"] == RED_NAN) | (table["minimum_sample_value"] == RED_NAN) | (hi < lo)
    for k in np.flatnonzero(unset):  # statistics not stored: decode that block
        first = int(table["first_sample"][k])
        x = reader.read_samples(ch, first, first + int(n[k])).astype(np.float64)
        hi[k], lo[k] = (x.max(), x.min()) if len(x) else (np.nan, np.nan)
    hi, lo = hi * factor, lo * factor
    hi, lo = np.maximum(hi, lo), np.minimum(hi, lo)
    ends = start + np.floor(n * 1e6 / fs).astype(np.int64)
    b0 = np.clip((start - bins_start) // bin_us, 0, nbins - 1)
    b1 = np.clip((np.maximum(ends - 1, start) - bins_start) // bin_us, 0, nbins - 1)
    counts = b1 - b0 + 1
    which = np.repeat(np.arange(len(start)), counts)
    offsets = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
    bins = np.repeat(b0, counts) + offsets
    top = np.full(nbins, -np.inf)
    bottom = np.full(nbins, np.inf)
    np.maximum.at(top, bins, hi[which])
    np.minimum.at(bottom, bins, lo[which])
    empty = ~np.isfinite(top)
    top[empty] = bottom[empty] = np.nan
    return bottom, top


def plot_overview(reader, out, channels=None, bin_s=60.0, width=1600, height=None, dpi=100, tz="utc", title=None,
                  overwrite=False, progress=None, cancel=None):
    """Per-bin min/max envelopes of a whole session (see the module docstring)."""
    channels = list(channels or reader.channels)
    infos = [reader.info(ch) for ch in channels]
    t0, t1 = session_span(reader, channels)
    if t0 is None:
        raise RangeError("the channels hold no samples", reader.path)
    bin_us = max(1, int(round(bin_s * 1e6)))
    nbins = max(1, int(-(-(t1 - t0) // bin_us)))
    height = height or max(300, 70 * len(channels) + 140)
    fig, ax = _figure(width, height, dpi, len(channels))
    x = np.repeat(_dates(t0 + np.arange(nbins + 1) * bin_us), 2)[1:-1]  # each bin from its start to its end
    labels = []
    with Tracker(len(channels), "overview", unit="channels", progress=progress, cancel=cancel) as tracker:
        for row, (ch, info) in enumerate(zip(channels, infos)):
            lo, hi = block_envelope(reader, ch, t0, bin_us, nbins)
            mid, span = _scale(np.concatenate((lo, hi)))
            ax.fill_between(x, np.repeat((lo - mid) / span * 0.9 - row, 2),
                            np.repeat((hi - mid) / span * 0.9 - row, 2), lw=0.4, color=f"C{row % 10}")
            for a, b in zip(*_nan_runs(lo)):
                _shade(ax, row, t0 + a * bin_us, t0 + b * bin_us)
            labels.append(_label(ch, lo, span, info["units_description"]))
            tracker.advance(1)
    _channel_rows(ax, channels, labels)
    ax.set_xlim(*_dates([t0, t0 + nbins * bin_us]))
    _time_axis(ax, tz, t0)
    _mark_records(ax, _records(reader, channels, t0, t1))
    fig.suptitle(title or f"overview {format_time(t0, tz)} .. {format_time(t1, tz)}  ({bin_s:g} s bins, min/max)",
                 fontsize=10)
    _save(fig, out, overwrite)
    return {"path": out, "width": width, "height": height, "channels": channels, "bins": nbins}
