"""``neo-mef3 check PATH``: do a session's declarations agree with its data?

Exit code 0 consistent, 1 problems found, 2 unusable input (see ``neo_mef3.check``)."""


def register(sub):
    p = sub.add_parser(
        "check",
        help="report what a session holds and whether its declarations agree with its data "
        "(exit 0 consistent, 1 problems found, 2 unusable input)",
    )
    p.add_argument("path")
    p.add_argument("--password", default="", help="level-1 or level-2 password of an encrypted session")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=run)


def run(args):
    from ..check import check_session

    report = check_session(args.path, password=args.password or "")
    print(report.json() if args.json else report.text())
    return report.exit_code
