"""``neo-mef3 decrypt PATH OUT``: a copy of an encrypted session without passwords."""

from .passwords import declare, rekey


def register(sub):
    p = declare(sub, "decrypt", "write a copy of an encrypted session without passwords", [
        "neo-mef3 decrypt locked.mefd open.mefd",
        "neo-mef3 decrypt locked.mefd open.mefd --password-env MEF_PASSWORD",
    ], "Write a copy anyone can read (needs the level-2 password). Samples, times, metadata and records are "
       "kept and checked.", new=False)
    p.set_defaults(func=lambda args: rekey(args, "", ""))
