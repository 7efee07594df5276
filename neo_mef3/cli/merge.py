"""``neo-mef3 merge A B ... OUT``: several sessions as one."""

from .common import UsageError, add_command, add_overwrite, add_password, add_storage_options, progress
from .common import session_password, session_source


def register(sub):
    p = add_command(sub, "merge", "merge sessions (other channels, or later recordings of the same channels)", [
        "neo-mef3 merge day1.mefd day2.mefd both-days.mefd",
        "neo-mef3 merge grid.mefd depth.mefd scalp.mefd all-channels.mefd",
    ], description="Write one session holding every channel of the sources, each source's part of a channel as "
                   "new segments, samples and times exactly as stored, and every record. Refused, before "
                   "anything is written, when a channel's parts overlap in time or differ in rate, when the "
                   "sources record different subjects, or when their passwords differ.")
    p.add_argument("sessions", nargs="+", metavar="SESSION", help="two or more sessions, then the new .mefd")
    add_overwrite(p)
    add_password(p, "the sessions (one password shared by all)")
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args):
    from ..tools.merge import merge_sessions

    if len(args.sessions) < 3:
        raise UsageError("merge needs at least two sessions and an output: merge A B OUT")
    *sources, out = args.sessions
    sources = [session_source(args, s) for s in sources]
    password = session_password(args, sources[0])
    result = merge_sessions(sources, out, password=password, overwrite=args.overwrite, progress=progress(args))
    print(f"wrote {result['destination']}: {len(result['channels'])} channel(s) from {len(sources)} sessions, "
          f"{result['samples']} samples, {result['records']} record(s)")
    return 0
