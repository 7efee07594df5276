"""``neo-mef3 records PATH``: every record as a table (``--csv``/``--tsv`` export);
``neo-mef3 records add PATH --csv FILE``: import annotations."""

import sys

from .common import UsageError, add_command, add_password, add_storage_options, session_password, session_source


def register(sub):
    p = add_command(sub, "records", "list a session's records (annotations) or add some from a table", [
        "neo-mef3 records subject.mefd",
        "neo-mef3 records subject.mefd --csv records.csv",
        "neo-mef3 records subject.mefd --tsv - | cut -f4,6,8",
        "neo-mef3 records add subject.mefd --csv seizures.csv",
        "neo-mef3 records s3://bucket/subject.mefd --csv records.csv",
    ], description="List the records of the session, its channels and their segments (type, time, duration, "
                   "text, other fields as JSON), or with 'add' append annotations from a CSV/TSV with columns "
                   "time (uUTC, ISO 8601 or seconds from the start), and optionally type (default Note), "
                   "text, duration (seconds) and channel (empty: session level).")
    p.add_argument("target", nargs="+", metavar="PATH", help="the session, or: add PATH")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", nargs="?", const="-", help="CSV: the table to write (- or nothing: "
                     "stdout), or with 'add' the table to read")
    out.add_argument("--tsv", metavar="FILE", nargs="?", const="-", help="the same, tab-separated")
    p.add_argument("--tz", default="utc", help="time zone of the printed times and of ISO times without an "
                   "offset in an imported table (default utc)")
    add_password(p)
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args):
    if args.target[0] == "add" and len(args.target) == 2:
        return add(args, args.target[1])
    if len(args.target) != 1:
        raise UsageError("records takes one session (or: records add PATH --csv FILE)")
    from ..reader import Reader
    from ..tools.records_table import format_rows, records_rows, write_table

    source = session_source(args, args.target[0])
    with Reader(source, password=session_password(args, source)) as r:
        rows = records_rows(r)
    dest, delimiter = (args.csv, ",") if args.csv else (args.tsv, "\t") if args.tsv else (None, None)
    if dest is None:
        print(format_rows(rows, args.tz))
    elif dest == "-":
        write_table(rows, sys.stdout, delimiter)
    else:
        from ..tools.atomic import atomic_output

        with atomic_output(dest, overwrite=True) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
            write_table(rows, f, delimiter)
        print(f"wrote {len(rows)} record(s) to {dest}", file=sys.stderr)
    return 0


def add(args, path):
    from ..tools.records_table import add_annotations, read_annotations
    from .common import session_span

    table = args.csv or args.tsv
    if not table or table == "-":
        raise UsageError("records add needs --csv FILE (or --tsv FILE)")
    password = session_password(args, path)
    annotations = read_annotations(table, session_span(path, password)[0], args.tz)
    n = add_annotations(path, annotations, password=password)
    print(f"added {n} record(s) to {path}")
    return 0
