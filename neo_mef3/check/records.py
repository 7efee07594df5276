"""The records files of every level (session, channel, segment): they parse, their CRCs
verify (a level-1 password leaves them locked: a note), the owner names match, and the
record index counts what the data file holds."""

import os

from .. import fileio
from ..errors import MefError, PasswordError
from ..format import headers
from ..format import records as _records
from .report import _plain


def _check_records(keyring, tree, report):
    levels = [("session", tree.rdat, tree.ridx, None)]
    for name in tree.channels:
        rdat, ridx = tree.channel_records(name)
        levels.append((name, rdat, ridx, name))
        try:
            for sf in tree.segments(name):
                levels.append((f"{name}/{sf.number}", sf.rdat, sf.ridx, name))
        except MefError:
            pass
    for label, rdat, ridx, channel in levels:
        if not os.path.exists(rdat):
            if os.path.exists(ridx):
                report.problem(ridx, "record index without its record data file")
            continue
        try:
            n = len(_records.parse_records_file(fileio.read_file(rdat, "record data"), rdat, keyring=keyring,
                                                owner=channel or ""))
        except PasswordError as exc:
            report.note(rdat, f"records locked: {_plain(exc, rdat)}")
            report.records[label] = "locked"
            continue
        except MefError as exc:
            report.problem(rdat, _plain(exc, rdat))
            report.records[label] = "UNREADABLE"
            continue
        report.records[label] = n
        if os.path.exists(ridx):
            try:
                raw = fileio.read_file(ridx, "record index")
                uh = headers.parse_universal_header(raw, ridx, "ridx")
                headers.check_body_crc(raw, uh, ridx)
                k = int(uh["number_of_entries"])
                if k >= 0 and k != n:
                    report.problem(ridx, f"record index declares {k} records, the data file holds {n}")
            except MefError as exc:
                report.problem(ridx, _plain(exc, ridx))
        else:
            report.note(rdat, "no record index (.ridx) next to the records (readers walk the data file)")
