"""Conversions between MEF 3.0 and other formats, shared by ``neo-mef3 convert`` and scripts.

- anything MNE reads (EDF, BDF, BrainVision, EEGLAB, FIF, ...) to MEF 3.0, through a
  lazy ``mne.io.read_raw`` and ``write_raw_mef3`` (chunked; resolution inferred per
  channel, see ``neo_mef3.resolution``); what MNE cannot read but neo can goes through
  ``neo.io.get_io`` and ``MEF3IO.write_block``;
- MEF 3.0 to EDF+ / BDF+ (``neo_mef3.edf.write_edf``).

Every output is written under a temporary name and renamed when complete, and an
existing output is replaced only with ``overwrite=True``.
"""

import datetime
import os
import warnings

from .errors import MefWarning, OutputExistsError
from .session import looks_like_session

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_EDF_SUFFIXES = (".edf", ".bdf")


def edf_signal_rates(path):
    """Sampling rate of each signal of an EDF/BDF file but its annotation signals, from the header."""
    with open(path, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise ValueError(f"{path} is too short for an EDF/BDF header")
        n = int(head[252:256].decode("ascii").strip())
        record = float(head[244:252].decode("ascii").strip())
        fields = f.read(256 * n)
    labels = [fields[16 * i:16 * i + 16].decode("latin-1").strip() for i in range(n)]
    at = 216 * n  # label 16, transducer 80, dimension 8, four ranges 32, prefiltering 80 bytes each
    samples = [int(fields[at + 8 * i:at + 8 * i + 8].decode("ascii").strip()) for i in range(n)]
    return [s / record for label, s in zip(labels, samples) if label not in ("EDF Annotations", "BDF Annotations")]


def _read_with_mne(src):
    """The source as MNE Raws, one per sampling rate (MNE would resample an EDF/BDF's
    slower channels to the fastest rate), or None when MNE does not read it."""
    import mne

    try:
        raw = mne.io.read_raw(src, preload=False, verbose="error")
    except (ValueError, NotImplementedError, KeyError) as exc:
        if "supported" in str(exc).lower() or "extension" in str(exc).lower() or "unknown" in str(exc).lower():
            return None
        raise
    if os.path.splitext(src)[1].lower() not in _EDF_SUFFIXES:
        return [raw]
    rates = edf_signal_rates(src)
    if len(set(rates)) < 2 or len(rates) != len(raw.ch_names):
        return [raw]
    reader = mne.io.read_raw_bdf if src.lower().endswith(".bdf") else mne.io.read_raw_edf
    groups = {}
    for name, fs in zip(raw.ch_names, rates):
        groups.setdefault(fs, []).append(name)
    return [reader(src, include=names, preload=False, verbose="error") for names in groups.values()]


def _to_mef_with_neo(src, dst, password1, password2, overwrite):
    import neo

    from .io import MEF3IO

    try:
        io = neo.io.get_io(src)
    except (IOError, ValueError) as exc:
        raise ValueError(f"neither MNE nor neo reads {src}: {exc}") from None
    block = io.read_block()
    if getattr(block, "rec_datetime", None) is None:
        warnings.warn(f"{src} holds no recording date: the session starts at {EPOCH.isoformat()}",
                      MefWarning, stacklevel=3)
    MEF3IO(dst).write_block(block, overwrite=overwrite, password1=password1, password2=password2)
    return {"path": os.path.abspath(dst), "text": f"{dst}: written from {src} through neo ({type(io).__name__})"}


def convert(src, dst, password=None, password1="", password2="", precision=None, overwrite=False, start_uutc=None,
            progress=None, cancel=None):
    """Convert `src` to `dst`; the formats follow from the names (``.mefd``, ``.edf``, ``.bdf``).

    `password` opens an encrypted MEF source; `password1`/`password2` encrypt a MEF
    output. `precision` (decimal digits, MEF output) overrides the inferred resolution.
    `start_uutc` dates a source that has no recording date (otherwise such a source is
    converted with a warning, starting at 1970-01-01 UTC). ``progress`` and ``cancel`` as
    in ``neo_mef3.progress``. Returns the writer's summary (a dict whose ``text`` says what
    was chosen).
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if os.path.lexists(dst) and not overwrite:
        raise OutputExistsError("the output exists; pass --overwrite (overwrite=True) to replace it", dst)
    if not os.path.exists(src):
        raise FileNotFoundError(f"{src} does not exist")
    dst_suffix = os.path.splitext(dst.rstrip("/\\"))[1].lower()
    if dst_suffix in _EDF_SUFFIXES:
        if not looks_like_session(src):
            raise ValueError(f"EDF/BDF output is written from MEF 3.0 sessions; {src} is not one")
        from .edf import write_edf

        return write_edf(src, dst, password=password, overwrite=overwrite, progress=progress, cancel=cancel)
    if dst_suffix != ".mefd":
        raise ValueError(f"cannot tell the output format of {dst}: name it .mefd, .edf or .bdf")
    if looks_like_session(src):
        raise ValueError(f"{src} is already a MEF 3.0 session")
    raws = _read_with_mne(src)
    if raws is None:
        return _to_mef_with_neo(src, dst, password1, password2, overwrite)
    if raws[0].info["meas_date"] is None and start_uutc is None:
        warnings.warn(f"{src} holds no recording date: the session starts at {EPOCH.isoformat()} "
                      "(give a start time to date it)", MefWarning, stacklevel=2)
        start_uutc = 0
    from .mne_export import write_raws_mef3

    return write_raws_mef3(raws, dst, precision=precision, password1=password1, password2=password2,
                           overwrite=overwrite, start_uutc=start_uutc, progress=progress, cancel=cancel)
