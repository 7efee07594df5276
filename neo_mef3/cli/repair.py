"""``neo-mef3 repair PATH``: heal what interrupted writes left in a session.

Runs the checker, repairs every segment (``neo_mef3.writer.repair``: finish or roll back
an interrupted append, rewrite headers and metadata from the index, rebuild record
indexes, remove temporaries; never a block), and runs the checker again. Exit code as
``check`` after the repair: 0 consistent, 1 problems remain (with ``--dry-run``:
something would be repaired), 2 unusable input (not a session, a wrong password, a
Writer has the session open) or usage error."""

from .common import add_command, add_password, session_password


def register(sub):
    p = add_command(sub, "repair", "repair what an interrupted write left (exit 0 consistent afterwards, "
                    "1 problems remain, 2 unusable input)", [
                        "neo-mef3 repair --dry-run subject.mefd   # what would change (exit 1 if anything)",
                        "neo-mef3 repair subject.mefd             # repair, then check again (exit 0: consistent)",
                        "neo-mef3 repair subject.mefd --json > repair.json",
                    ], description="Finish or roll back an interrupted append (index entries that match their "
                                   "blocks are kept, anything after them is cut), rebuild headers, metadata "
                                   "summaries and record indexes from the index and the data, remove the "
                                   "temporaries of interrupted writes. No sample that reads correctly is "
                                   "touched. The checker runs before and after.\n\n"
                                   "exit codes: 0 consistent afterwards, 1 problems remain (--dry-run: something "
                                   "would be repaired), 2 unusable input, a Writer has the session open, or "
                                   "usage error")
    p.add_argument("path", help="the .mefd session directory")
    p.add_argument("--dry-run", action="store_true", help="list what would change; change nothing")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    add_password(p, "the session (the level-2 password of an encrypted session)")
    p.set_defaults(func=run)


def _problems(title, report):
    lines = [f"{title:<10}{len(report.problems)} problem(s)"]
    lines += [f"  PROBLEM {where}: {message}" for where, message in report.problems]
    return lines


def run(args):
    import json

    from ..check import check_session
    from ..writer.repair import repair_session

    password = session_password(args, args.path) or ""
    before = check_session(args.path, password=password)
    if not before.usable:
        print(before.json() if args.json else before.text())
        return 2
    report = repair_session(args.path, password=password, dry_run=args.dry_run)  # (MefError: exit 2)
    after = before if args.dry_run else check_session(args.path, password=password)
    if args.json:
        print(json.dumps({"before": before.as_dict(), "repair": report.as_dict(),
                          "after": None if args.dry_run else after.as_dict()}, indent=1, default=str))
    else:
        lines = _problems("before", before) + report.text().splitlines()
        if not args.dry_run:
            lines += _problems("after", after)
        print("\n".join(lines))
    if args.dry_run:
        return 1 if report.actions or before.problems else 0
    return after.exit_code
