"""``neo-mef3 anonymize PATH OUT``: a de-identified copy (see neo_mef3.tools.anonymize)."""

import os

from .common import UsageError, add_command, add_overwrite, add_password, progress, say, session_password
from .common import add_storage_options, session_source, session_span


def register(sub):
    p = add_command(sub, "anonymize", "write a copy without the subject's identity (times kept or shifted)", [
        "neo-mef3 anonymize subject.mefd shared/S01.mefd",
        "neo-mef3 anonymize subject.mefd shared/S01.mefd --shift random --redact 'Dr. Smith'",
        "neo-mef3 anonymize subject.mefd shared/S01.mefd --shift=-3650d --drop-text",
        "neo-mef3 anonymize S01.mefd --in-place --shift 2000-01-01",
    ], description="Write a copy of a session with subject names, ID and recording location removed from "
                   "every segment's metadata, those values (and OUT's old session name) redacted from the "
                   "descriptions and the records' texts, GMT offset and DST cleared, and OUT's name in every "
                   "header. Samples are copied as stored; the copy is compared with the source and scanned for "
                   "the identity before it is published. Times are kept unless --shift moves them all.")
    p.add_argument("path", help="the session to de-identify (a directory; a .mefd.tar/.zip or a URL is first "
                   "copied whole into a temporary directory)")
    p.add_argument("out", nargs="?", help="the copy, a new .mefd directory (its name becomes the session name)")
    p.add_argument("--in-place", action="store_true", help="replace PATH itself (only once the new version is "
                   "complete and checked)")
    p.add_argument("--shift", metavar="SPEC", help="move every time: 'random' (a secret whole number of weeks into "
                   "the 1990s), a date YYYY-MM-DD for the first day, a signed duration (--shift=-3650d, +52w, -1h) or "
                   "microseconds")
    p.add_argument("--pseudonym", help="written as every header's anonymized name (default: OUT's name)")
    p.add_argument("--redact", action="append", default=[], metavar="TEXT",
                   help="also remove TEXT (e.g. a name notes mention); repeatable")
    p.add_argument("--drop-text", action="store_true", help="clear every record's free text and the "
                   "descriptions instead of redacting the known values")
    p.add_argument("--decrypt", action="store_true", help="write the copy without passwords")
    add_overwrite(p)
    add_password(p)
    add_storage_options(p)
    p.set_defaults(func=run)


def _anonymize(args, path, password, shift):
    from ..tools.anonymize import anonymize_session

    return anonymize_session(path, args.out, password=password, shift_us=shift, pseudonym=args.pseudonym,
                             redact=args.redact, drop_text=args.drop_text, decrypt=args.decrypt,
                             in_place=args.in_place, overwrite=args.overwrite, progress=progress(args))


def run(args):
    from ..tools.anonymize import parse_shift

    if args.in_place == bool(args.out):
        raise UsageError("give OUT, or --in-place to replace PATH")
    source = session_source(args, args.path)
    local = isinstance(source, str) and os.path.isdir(source)
    if args.in_place and not local:
        raise UsageError("--in-place needs a local session directory (a remote or packed session is read-only)")
    password = session_password(args, source)
    shift = None
    if args.shift:
        start, end = session_span(source, password)
        shift = parse_shift(args.shift, start or 0, end or 0)
    if local:
        result = _anonymize(args, args.path, password, shift)
    else:
        from ..source import open_source
        from ..source.copy import local_copy

        with local_copy(open_source(source)) as copy:
            result = _anonymize(args, copy, password, shift)
    moved = "times kept (the copy shows the real dates)"
    if shift:
        moved = ("every time moved by a secret random shift" if args.shift.strip().lower() == "random"
                 else f"every time moved by {shift} us ({shift / 86_400e6:+.4f} days)")
    print(f"wrote {result['destination']}: {result['segments']} segment(s), {result['blocks']} block(s), "
          f"{result['records']} record(s); {moved}; {result['identity_values']} identity value(s) removed, "
          f"{result['text_fields_redacted']} text redaction(s); samples verified identical")
    if result["not_copied"]:
        say(args, f"note: {len(result['not_copied'])} file(s) outside the MEF layout were not copied")
    return 0
