"""``neo-mef3 info PATH``: what a session holds, one line per channel (gaps and records
counted), ``--long`` for samples and every record, ``--json`` for programs."""

import json

from .common import add_command, add_password, add_storage_options, session_password, session_source
from .summary import summarize


def register(sub):
    p = add_command(sub, "info", "summarize a session: channels, rates, spans, gaps, records", [
        "neo-mef3 info subject.mefd",
        "neo-mef3 info subject.mefd --json | jq '.channels[].gaps'",
        "neo-mef3 info subject.mefd --long --password-env MEF_PASSWORD",
        "neo-mef3 info s3://bucket/sub-01/ieeg/sub-01.mefd --storage-option anon=true",
    ], description="Summarize a session without decoding it: per channel its rate, span, stored samples, "
                   "segments, gaps (count, total, longest: where a read returns NaN) and records.")
    p.add_argument("path", help="the .mefd session directory, a .mefd.tar/.zip, or a URL of one")
    p.add_argument("--long", action="store_true", help="the detailed listing: first samples and every record")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tz", default="utc", help="time zone of the printed times: utc (default), local or an IANA "
                   "name such as Europe/Prague")
    add_password(p)
    add_storage_options(p)
    p.set_defaults(func=run)


def run(args):
    source = session_source(args, args.path)
    password = session_password(args, source)
    if args.long:
        summarize(source, password=password)
        return 0
    from ..reader import Reader
    from ..tools.inventory import inventory_table, session_inventory

    with Reader(source, password=password) as r:
        inv = session_inventory(r)
    print(json.dumps(inv, indent=1) if args.json else inventory_table(inv, args.tz))
    return 0
