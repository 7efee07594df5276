"""``neo-mef3 plot PATH --out fig.png``: a quick-look figure of a window, or ``--overview``
of the whole session (needs matplotlib: ``pip install 'neo_mef3[plot]'``)."""

import re

from .common import UsageError, add_command, add_overwrite, add_password, channel_list, progress, session_password
from .common import add_storage_options, session_source, session_span


def register(sub):
    p = add_command(sub, "plot", "draw a window (stacked traces) or a whole session (--overview) as a PNG", [
        "neo-mef3 plot subject.mefd --start 600 --duration 20 --out look.png",
        "neo-mef3 plot subject.mefd --start 2020-09-13T14:02:00 --duration 30s --channels LA1,LA2 --tz local "
        "--out seizure.png",
        "neo-mef3 plot subject.mefd --overview --bin 60 --size 2000x800 --out night.png",
    ], description="A quick look: stacked traces with channel names (each scaled to its own range, shown by "
                   "its name), a time axis in UTC, local time or an IANA zone, gaps shaded, records marked. "
                   "--overview draws every channel as per-bin min/max envelopes from the block index "
                   "statistics (fast: nothing is decoded). Needs matplotlib (pip install 'neo_mef3[plot]').")
    p.add_argument("path", help="the session (a directory, a .mefd.tar/.zip, or a URL of one)")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--start", help="window start: uUTC, ISO 8601 or seconds from the session start "
                   "(default: the start)")
    p.add_argument("--duration", default="10s", help="window length (default 10s)")
    p.add_argument("--channels", action="append", help="channels to draw, comma-separated (default: all)")
    p.add_argument("--overview", action="store_true", help="the whole session as min/max envelopes")
    p.add_argument("--bin", default="60s", help="--overview bin width (default 60s)")
    p.add_argument("--size", default="1600x900", help="WIDTHxHEIGHT in pixels (default 1600x900)")
    p.add_argument("--dpi", type=int, default=100, help="dots per inch (text size; default 100)")
    p.add_argument("--tz", default="utc", help="time axis zone: utc (default), local or an IANA name")
    p.add_argument("--title", help="figure title")
    add_overwrite(p)
    add_password(p)
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args):
    from ..tools.plot import load_matplotlib, plot_overview, plot_window
    from ..tools.when import parse_duration, parse_time

    load_matplotlib()  # the missing extra is said before anything is read
    m = re.fullmatch(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", args.size)
    if not m or not (50 <= int(m.group(1)) <= 20000 and 50 <= int(m.group(2)) <= 20000):
        raise UsageError(f"--size must be WIDTHxHEIGHT in pixels (50..20000), got {args.size!r}")
    width, height = int(m.group(1)), int(m.group(2))
    if not 10 <= args.dpi <= 1000:
        raise UsageError("--dpi must be within 10..1000")
    from ..reader import Reader

    source = session_source(args, args.path)
    password = session_password(args, source)
    channels = channel_list(args.channels)
    with Reader(source, password=password) as r:
        for ch in channels or ():
            if ch not in r.channels:
                raise UsageError(f"no channel {ch!r} (the session has {', '.join(r.channels)})")
        common = dict(channels=channels, width=width, height=height, dpi=args.dpi, tz=args.tz, title=args.title,
                      overwrite=args.overwrite)
        try:
            if args.overview:
                result = plot_overview(r, args.out, bin_s=parse_duration(args.bin) / 1e6, progress=progress(args),
                                       **common)
            else:
                origin = session_span(source, password)[0]
                t0 = parse_time(args.start, origin, args.tz) if args.start else origin
                result = plot_window(r, args.out, t0, t0 + parse_duration(args.duration), **common)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(f"wrote {result['path']} ({result['width']}x{result['height']}, {len(result['channels'])} channel(s))")
    return 0
