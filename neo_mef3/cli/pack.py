"""``neo-mef3 pack PATH [OUT]``: a session directory as one uncompressed archive."""

from .common import add_command, add_overwrite, progress


def register(sub):
    p = add_command(sub, "pack", "pack a session directory into one uncompressed .tar or .zip (read in place, "
                    "locally or from a URL)", [
                        "neo-mef3 pack subject.mefd",
                        "neo-mef3 pack subject.mefd upload/subject.mefd.zip --overwrite",
                        "neo-mef3 pack subject.mefd && aws s3 cp subject.mefd.tar s3://bucket/",
                    ], description="Write the session as one archive (default PATH.tar; a name ending .zip makes a "
                                   "zip): members in a fixed order (directories, small files, data files), no "
                                   "compression, a tar with an index of its members first. A Reader opens it like "
                                   "the directory (neo_mef3.Reader('subject.mefd.tar')), also from an object store, "
                                   "where one object replaces thousands. Written under a temporary name, renamed "
                                   "when complete.")
    p.add_argument("path", help="the .mefd session directory")
    p.add_argument("out", nargs="?", help="the archive to write (default: PATH.tar)")
    add_overwrite(p)
    p.set_defaults(func=run)


def run(args):
    from ..tools.pack import pack_session

    result = pack_session(args.path, args.out, overwrite=args.overwrite, progress=progress(args))
    print(f"wrote {result['destination']}: {result['files']} file(s), {result['bytes']} bytes, "
          f"uncompressed {result['format']}")
    return 0
