"""``neo-mef3 convert IN OUT``: EDF/BDF/BrainVision/... to MEF 3.0, and MEF 3.0 to EDF+/BDF+."""

import argparse
import datetime

from .passwords import add_arguments, for_session, for_writing
from .report import run_reporting

EXAMPLES = """examples:
  neo-mef3 convert recording.edf recording.mefd
  neo-mef3 convert recording.vhdr recording.mefd --encrypt
  MEF_PW=secret neo-mef3 convert recording.mefd recording.edf --password-env MEF_PW

Any format MNE reads (or, failing that, neo) becomes a MEF 3.0 session (.mefd); a MEF
session becomes EDF+ (.edf, 16 bits) or BDF+ (.bdf, 24 bits). Dates, annotations, units
and the source's resolution are kept (the summary says which resolution each channel
got); the output appears only when complete.
"""


def register(sub):
    p = sub.add_parser("convert", help="convert to MEF 3.0 (from EDF, BDF, BrainVision, ...) or from MEF 3.0 "
                                       "to EDF+/BDF+", description=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a recording (EDF, BDF, BrainVision .vhdr, FIF, ...) or a .mefd session")
    p.add_argument("output", help="the file to write: NAME.mefd, NAME.edf or NAME.bdf")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (once the new one is complete)")
    p.add_argument("--precision", type=int, metavar="DIGITS",
                   help="decimal digits per count for every channel of a MEF output (default: inferred)")
    p.add_argument("--start", metavar="ISO8601",
                   help="recording start for a source without a date, e.g. 2024-05-01T08:30:00Z")
    add_arguments(p, reading=True, writing=True)
    p.set_defaults(func=run)


def _start_uutc(text):
    if text is None:
        return None
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return int(round(when.timestamp() * 1e6))


def run(args):
    from ..convert import convert, is_mef

    def action():
        password = for_session(args.input, args.password_env) if is_mef(args.input) else None
        password1, password2 = for_writing(args.password1_env, args.password2_env, args.encrypt)
        return convert(args.input, args.output, password=password, password1=password1, password2=password2,
                       precision=args.precision, overwrite=args.overwrite, start_uutc=_start_uutc(args.start))

    return run_reporting(action)
