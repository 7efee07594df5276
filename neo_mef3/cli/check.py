"""``neo-mef3 check PATH``: do a session's declarations agree with its data?

Exit code 0 consistent, 1 problems found, 2 unusable input or usage error (see
``neo_mef3.check``)."""

from .common import add_command, add_password, add_storage_options, progress, session_password, session_source


def register(sub):
    p = add_command(sub, "check", "check that a session's declarations agree with its data "
                    "(exit 0 consistent, 1 problems found, 2 unusable input)", [
                        "neo-mef3 check subject.mefd",
                        "neo-mef3 check subject.mefd --json > report.json",
                        "neo-mef3 check --list-checks",
                        "neo-mef3 check https://example.org/data/subject.mefd.tar",
                    ], description="Verify every CRC, decode every block, and compare what the metadata, index "
                                   "and headers declare with what the files hold. Nothing is written.\n\n"
                                   "exit codes: 0 consistent, 1 problems found, 2 unusable input or usage error")
    p.add_argument("path", nargs="?", help="the .mefd session directory, a .mefd.tar/.zip, or a URL of one (a "
                   "remote or packed session is fetched whole into a temporary directory first)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--list-checks", action="store_true", help="list the checks (and mef3io's counterparts)")
    add_password(p)
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args):
    from ..check import CHECKS, check_session
    from .common import UsageError

    if args.list_checks:
        for check_id, (what, theirs) in CHECKS.items():
            print(f"{check_id:<26} {what}  [mef3io: {theirs}]")
        return 0
    if not args.path:
        raise UsageError("check needs a session path (or --list-checks)")
    source = session_source(args, args.path)
    report = check_session(source, password=session_password(args, source) or "", progress=progress(args))
    print(report.json() if args.json else report.text())
    return report.exit_code
