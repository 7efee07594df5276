"""``neo-mef3 unpack ARCHIVE [DIR]``: a packed session back to its directory."""

from .common import add_command, add_overwrite, progress


def register(sub):
    p = add_command(sub, "unpack", "unpack a session archive (.tar or .zip) back into its .mefd directory", [
        "neo-mef3 unpack subject.mefd.tar",
        "neo-mef3 unpack subject.mefd.zip /data/sessions --overwrite",
    ], description="Restore the session directory a packed archive holds, into DIR (default: the archive's "
                   "directory). Only directories and regular files inside one session directory are accepted: "
                   "an archive with a link, a special file or a name that leaves that directory is refused "
                   "before anything is written. Written under a temporary name, renamed when complete.")
    p.add_argument("archive", help="the .mefd.tar or .mefd.zip")
    p.add_argument("dir", nargs="?", help="where the session directory goes (default: next to the archive)")
    add_overwrite(p)
    p.set_defaults(func=run)


def run(args):
    from ..tools.pack import unpack_session

    result = unpack_session(args.archive, args.dir, overwrite=args.overwrite, progress=progress(args))
    print(f"wrote {result['destination']}: {result['files']} file(s), {result['bytes']} bytes")
    return 0
