"""``neo-mef3 bids SESSION.mefd BIDS_ROOT --subject S --task T``: a session into a BIDS-iEEG dataset."""

from .common import add_command, add_overwrite, add_password, progress, session_password
from .warned import run_warned


def register(sub):
    p = add_command(sub, "bids", "place a session in a BIDS-iEEG dataset with its sidecars", [
        "neo-mef3 bids recording.mefd /data/bids --subject 01 --session 01 --task rest --line-freq 60",
        "neo-mef3 bids recording.mefd /data/bids --subject 01 --task rest --electrodes contacts.tsv --space ACPC",
    ], description="The session is copied (or hard-linked with --link) to sub-S[/ses-L]/ieeg/"
                   "sub-S[_ses-L]_task-T[_run-R]_ieeg.mefd with its sidecars: _ieeg.json, _channels.tsv, "
                   "_events.tsv from the records, _scans.tsv, participants.tsv, dataset_description.json, and "
                   "_electrodes.tsv/_coordsystem.json (from --electrodes: a TSV with columns name, x, y, z[, size]).")
    p.add_argument("mefd", metavar="SESSION.mefd", help="the MEF 3.0 session")
    p.add_argument("bids_root", help="the BIDS dataset's root directory")
    p.add_argument("--subject", required=True, help="subject label (letters and digits)")
    p.add_argument("--task", required=True, help="task label")
    p.add_argument("--session", metavar="LABEL", help="BIDS session label (optional)")
    p.add_argument("--run", help="run label")
    p.add_argument("--line-freq", type=float, metavar="HZ", help="power line frequency (default: from the metadata)")
    p.add_argument("--reference", help="iEEGReference (default: the metadata's reference description)")
    p.add_argument("--type", dest="ch_type", metavar="TYPE", help="channel type of every channel (default SEEG)")
    p.add_argument("--electrodes", metavar="TSV", help="electrode coordinates: name, x, y, z[, size]")
    p.add_argument("--space", metavar="SYSTEM", help="their coordinate system (ACPC, Other, ...)")
    p.add_argument("--units", default="mm", help="their units (default mm)")
    p.add_argument("--link", action="store_true", help="hard-link the session's files instead of copying them")
    add_overwrite(p)
    add_password(p)
    p.set_defaults(func=run)


def run(args):
    from ..bids import write_bids

    def action():
        result = write_bids(
            args.mefd, args.bids_root, subject=args.subject, task=args.task, session=args.session,
            run=args.run, power_line_frequency=args.line_freq, reference=args.reference,
            password=session_password(args, args.mefd), ch_types=args.ch_type, electrodes=args.electrodes,
            coordinate_system=args.space, coordinate_units=args.units, link=args.link, overwrite=args.overwrite,
            progress=progress(args))
        return {"text": "\n".join([f"written: {result['session_path']}"] + [f"  {f}" for f in result["files"][1:]])}

    return run_warned(args, action)
