"""``neo-mef3 passwords PATH OUT``: a copy with new passwords (and the shared part of
``encrypt`` and ``decrypt``)."""

from .common import add_command, add_new_passwords, add_overwrite, add_password, new_passwords, progress
from .common import session_password


def declare(sub, name, summary, examples, description, new=True):
    p = add_command(sub, name, summary, examples, description=description)
    p.add_argument("path", help="the session")
    p.add_argument("out", help="the new .mefd session")
    add_overwrite(p)
    add_password(p, "the session (its level-2 password)")
    if new:
        add_new_passwords(p)
    return p


def rekey(args, new1, new2):
    from ..tools.rekey import rekey_session

    password = session_password(args, args.path)
    result = rekey_session(args.path, args.out, password=password, new_password1=new1, new_password2=new2,
                           overwrite=args.overwrite, progress=progress(args))
    state = "encrypted with the new passwords" if result["encrypted"] else "without passwords"
    print(f"wrote {result['destination']} {state}: {result['segments']} segment(s), {result['blocks']} block(s), "
          f"{result['records']} record(s); samples, times and records verified")
    return 0


def register(sub):
    p = declare(sub, "passwords", "write a copy of an encrypted session with new passwords", [
        "neo-mef3 passwords subject.mefd rekeyed.mefd",
        "MEF_OLD=... NEW1=... NEW2=... neo-mef3 passwords subject.mefd rekeyed.mefd --password-env MEF_OLD "
        "--new-password1-env NEW1 --new-password2-env NEW2",
    ], "Re-key a session into a copy: everything the old passwords protected is decrypted and encrypted again "
       "with the new ones; samples, times, metadata and records are kept and checked.")
    p.set_defaults(func=lambda args: rekey(args, *new_passwords(args)))
