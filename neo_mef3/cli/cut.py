"""``neo-mef3 cut PATH OUT --start T --end T``: a time window as a new session."""

from .common import UsageError, add_command, add_overwrite, add_password, channel_list, progress, session_password
from .common import add_storage_options, session_source, session_span


def register(sub):
    p = add_command(sub, "cut", "write a time window of a session (some or all channels) as a new session", [
        "neo-mef3 cut subject.mefd seizure.mefd --start 2020-09-13T14:02:00 --end 2020-09-13T15:02:00",
        "neo-mef3 cut subject.mefd first-10min.mefd --start 0 --end 10min --channels LA1,LA2",
        "neo-mef3 cut subject.mefd part.mefd --start 1600000000000000 --duration 1h",
        "neo-mef3 cut s3://bucket/subject.mefd seizure.mefd --start 600 --duration 2min",
    ], description="Copy the samples a read of [START, END) returns, at the same times, with the channels' "
                   "metadata and the records inside the window. Times are uUTC, ISO 8601 (UTC unless it "
                   "says otherwise or --tz is given) or seconds from the session's start (600, 10min, 1h).")
    p.add_argument("path", help="the session (a directory, a .mefd.tar/.zip, or a URL of one)")
    p.add_argument("out", help="the new .mefd session")
    p.add_argument("--start", required=True, help="window start")
    end = p.add_mutually_exclusive_group(required=True)
    end.add_argument("--end", help="window end (excluded)")
    end.add_argument("--duration", help="window length (seconds, or 90s, 10min, 1h)")
    p.add_argument("--channels", action="append", help="channels to keep, comma-separated (default: all)")
    p.add_argument("--tz", default="utc", help="time zone of ISO times without an offset (default utc)")
    add_overwrite(p)
    add_password(p)
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args):
    from ..tools.cut import cut_session
    from ..tools.when import format_time, parse_duration, parse_time

    source = session_source(args, args.path)
    password = session_password(args, source)
    origin = session_span(source, password)[0]
    try:
        t0 = parse_time(args.start, origin, args.tz)
        t1 = parse_time(args.end, origin, args.tz) if args.end else t0 + parse_duration(args.duration)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    result = cut_session(source, args.out, t0, t1, channels=channel_list(args.channels), password=password,
                         overwrite=args.overwrite, progress=progress(args))
    print(f"wrote {result['destination']}: {format_time(t0)} .. {format_time(t1)}, "
          f"{len(result['channels'])} channel(s), {result['samples']} samples, {result['records']} record(s)")
    if result["channels_without_samples"]:
        print(f"no samples in the window (left out): {', '.join(result['channels_without_samples'])}")
    return 0
