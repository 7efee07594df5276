"""``neo-mef3 convert IN OUT``: EDF/BDF/BrainVision/... to MEF 3.0, and MEF 3.0 to EDF+/BDF+."""

import datetime

from .common import UsageError, add_command, add_new_passwords, add_overwrite, add_password, new_passwords
from .common import progress, session_password
from .warned import run_warned


def register(sub):
    p = add_command(sub, "convert", "convert a recording to MEF 3.0 (from EDF, BDF, BrainVision, ...), or a MEF 3.0 "
                    "session to EDF+/BDF+", [
                        "neo-mef3 convert recording.edf recording.mefd",
                        "neo-mef3 convert recording.vhdr recording.mefd --encrypt",
                        "MEF_PW=... neo-mef3 convert recording.mefd recording.edf --password-env MEF_PW",
                        "neo-mef3 convert undated.fif recording.mefd --start 2024-05-01T08:30:00Z",
                    ], description="Any format MNE reads (or, failing that, neo) becomes a MEF 3.0 session (.mefd); "
                                   "a MEF session becomes EDF+ (.edf, 16 bits) or BDF+ (.bdf, 24 bits). The "
                                   "recording date, annotations, units and the source's resolution are kept (the "
                                   "summary says which resolution each channel got; a channel the EDF's bits cannot "
                                   "hold is said too). Needs the mne extra: pip install 'neo_mef3[mne]'.")
    p.add_argument("input", help="a recording (EDF, BDF, BrainVision .vhdr, FIF, ...) or a .mefd session")
    p.add_argument("output", help="the file to write: NAME.mefd, NAME.edf or NAME.bdf")
    add_overwrite(p)
    p.add_argument("--precision", type=int, metavar="DIGITS",
                   help="decimal digits per count for every channel of a MEF output (default: inferred)")
    p.add_argument("--start", metavar="ISO8601",
                   help="recording start for a source without a date, e.g. 2024-05-01T08:30:00Z")
    p.add_argument("--encrypt", action="store_true", help="encrypt the MEF output (two new passwords)")
    add_password(p, "a MEF input")
    add_new_passwords(p)
    p.set_defaults(func=run)


def _start_uutc(text):
    if text is None:
        return None
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--start {text!r} is no ISO 8601 time (e.g. 2024-05-01T08:30:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return int(round(when.timestamp() * 1e6))


def run(args):
    from ..convert import convert
    from ..session import looks_like_session

    password = session_password(args, args.input) if looks_like_session(args.input) else None
    encrypt = args.encrypt or args.new_password1_env or args.new_password2_env
    password1, password2 = new_passwords(args) if encrypt else ("", "")
    return run_warned(args, lambda: convert(
        args.input, args.output, password=password, password1=password1, password2=password2,
        precision=args.precision, overwrite=args.overwrite, start_uutc=_start_uutc(args.start),
        progress=progress(args)))
