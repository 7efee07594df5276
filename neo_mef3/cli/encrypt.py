"""``neo-mef3 encrypt PATH OUT``: an encrypted copy of a session."""

from .common import new_passwords
from .passwords import declare, rekey


def register(sub):
    p = declare(sub, "encrypt", "write an encrypted copy of a session (two passwords)", [
        "neo-mef3 encrypt subject.mefd locked.mefd",
        "neo-mef3 encrypt subject.mefd locked.mefd --new-password1-env P1 --new-password2-env P2",
    ], "Write a copy in which metadata section 2 needs the level-1 password, and section 3 (subject identity) "
       "and every record the level-2 password. Samples, times, metadata and records are kept and checked.")
    p.set_defaults(func=lambda args: rekey(args, *new_passwords(args)))
