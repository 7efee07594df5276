"""De-identified copies of a session.

:func:`anonymize_session` writes a copy (or, on request, replaces the session) in which:

* metadata section 3 of every segment holds no subject names, ID or recording location,
  its GMT offset is 0 and its DST times "no entry", and its free regions are zeroed;
* every occurrence of those values (and of their words of 3+ letters, ignoring case),
  of the old session name and of any extra ``redact`` strings is overwritten with
  ``*`` in the section-2 descriptions and in the text fields of every record; with
  ``drop_text`` the descriptions and all record free text are cleared instead;
* every universal header carries the new session name and ``pseudonym`` as its
  anonymized name;
* with ``shift_us`` every time moves by that constant (see
  :mod:`neo_mef3.tools.rewrite`) and the recording time offset becomes 0.

Samples are never decoded or re-encoded. Before the copy is published it is compared
with the source (same blocks and samples, times moved by the shift, same records) and
scanned for the identity strings: the raw bytes of every file (data files: their
headers) and everything a Reader returns (metadata and record texts). Either failing
removes the copy and raises MefError. The source is never modified, except by
``in_place=True``, which replaces it only once the new version passed those checks.
"""

import datetime
import os
import re
import secrets

from ..errors import MefError
from ..format import headers
from ..format.layout import SESSION_EXT, UUTC_NO_ENTRY, text
from ..progress import Tracker
from ..reader import Reader
from ..session import SessionTree
from .access import unlock_session
from .atomic import atomic_output, check_output_outside
from .rewrite import RECORD_TEXT_FIELDS, Edits, rewrite_session
from .verify import compare_sessions
from .when import parse_duration

__all__ = ["anonymize_session", "identity_values", "Redactor", "parse_shift", "random_shift"]

IDENTITY_FIELDS = ("subject_name_1", "subject_name_2", "subject_ID", "recording_location")
DAY_US = 86_400_000_000
WEEK_US = 7 * DAY_US
_DESCRIPTIONS = ("channel_description", "session_description", "reference_description")


def identity_values(path, keys):
    """The distinct subject names, IDs and locations in every segment's section 3."""
    tree = SessionTree(path)
    found = []
    for name in tree.channels:
        for sf in tree.segments(name):
            with open(sf.tmet, "rb") as f:
                meta = headers.parse_metadata(f.read(), sf.tmet, keys=keys)
            for field in IDENTITY_FIELDS:
                value = text(meta.s3[field]).strip()
                if value and value not in found:
                    found.append(value)
    return found


class Redactor:
    """Finds identity strings (ignoring case) in bytes and overwrites them with ``*``.

    Each value counts whole and by its words of 3 or more characters; ``min_length``
    drops shorter terms (for scanning binary data, where short strings occur by chance).
    """

    def __init__(self, values, min_length=2):
        terms = set()
        for v in values:
            v = v.strip()
            if len(v) >= min_length:
                terms.add(v)
            terms.update(w for w in re.split(r"[\s,;:/_.()\-]+", v) if len(w) >= max(3, min_length))
        self.terms = sorted(terms, key=len, reverse=True)
        self._re = (re.compile(b"|".join(re.escape(t.encode("utf-8")) for t in self.terms), re.IGNORECASE)
                    if self.terms else None)

    def redact(self, buf, start=0, stop=None):
        """Overwrite matches in ``buf[start:stop]`` (a bytearray) in place; return their count."""
        if self._re is None:
            return 0
        stop = len(buf) if stop is None else min(stop, len(buf))
        hits = list(self._re.finditer(bytes(buf[start:stop])))
        for m in hits:
            buf[start + m.start():start + m.end()] = b"*" * (m.end() - m.start())
        return len(hits)

    def find(self, data):
        """The first term found in ``data`` (bytes or str), or None."""
        if self._re is None:
            return None
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        m = self._re.search(data)
        return None if m is None else m.group(0).decode("utf-8", "replace")


def random_shift(start_us, end_us):
    """A secret shift of whole weeks (time of day and weekday kept) that moves the start
    into the 1990s and no time into the original range."""
    lo, hi = 631_152_000_000_000, 946_684_800_000_000  # 1990-01-01, 2000-01-01
    span = max(0, end_us - start_us)
    while True:
        target = lo + secrets.randbelow(hi - lo)
        shift = int(round((target - start_us) / WEEK_US)) * WEEK_US
        if abs(shift) >= span + DAY_US and start_us + shift > 0:
            return shift


def parse_shift(spec, start_us, end_us):
    """Microseconds of a ``--shift``: "random", a date (the start's UTC date becomes it),
    a signed duration with a unit (``-3650d``, ``+52w``, ``-1h``) or plain microseconds."""
    s = str(spec).strip()
    if s.lower() == "random":
        return random_shift(start_us, end_us)
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", s):
        start_date = datetime.datetime.fromtimestamp(start_us / 1e6, datetime.timezone.utc).date()
        return (datetime.date.fromisoformat(s) - start_date).days * DAY_US
    if re.fullmatch(r"[+-]?[0-9]+", s):
        return int(s)
    sign = -1 if s.startswith("-") else 1
    body = s.lstrip("+-")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*w", body, re.IGNORECASE)
    return sign * (int(round(float(m.group(1)) * WEEK_US)) if m else parse_duration(body))


def _editors(redactor, drop_text):
    counts = {"redacted": 0}

    def metadata(s2, s3, path):
        for field in IDENTITY_FIELDS:
            s3[field] = b""
        s3["GMT_offset"] = 0
        s3["DST_start_time"] = UUTC_NO_ENTRY
        s3["DST_end_time"] = UUTC_NO_ENTRY
        s3["protected_region"] = 0
        s3["discretionary_region"] = 0
        for field in _DESCRIPTIONS:
            if drop_text:
                s2[field] = b""
                continue
            value = bytearray(s2[field][0])
            counts["redacted"] += redactor.redact(value)
            s2[field] = bytes(value)

    def record_body(rtype, body):
        spans = RECORD_TEXT_FIELDS.get(rtype)
        if spans is None and rtype == "LNTP":
            return
        for off, size in spans or ((0, None),):
            stop = len(body) if size is None else min(len(body), off + size)
            if off >= stop:
                continue
            if drop_text:
                body[off:stop] = bytes(stop - off)
            else:
                counts["redacted"] += redactor.redact(body, off, stop)

    return metadata, record_body, counts


def _str_values(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _str_values(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _str_values(v)


def leak_scan(path, password, values):
    """Where identity strings remain: raw bytes of every file (headers of data files)
    and every text a Reader returns. A list of "where: what" strings."""
    raw = Redactor(values, min_length=4)
    full = Redactor(values)
    leaks = []
    for root, _dirs, files in os.walk(path):
        for f in sorted(files):
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                data = fh.read(1024) if f.endswith(".tdat") else fh.read()
            hit = raw.find(data)
            if hit:
                leaks.append(f"{os.path.relpath(p, path)}: {hit!r}")
    with Reader(path, password=password) as r:
        for ch in r.channels:
            for key, value in r.info(ch).items():
                hit = full.find(value) if isinstance(value, str) else None
                if hit:
                    leaks.append(f"{ch} metadata {key}: {hit!r}")
        for level in [None] + r.channels:
            for rec in r.records(level):
                for value in _str_values({k: v for k, v in rec.items() if k != "channel"}):
                    hit = full.find(value)
                    if hit:
                        leaks.append(f"record of {level or 'the session'} at {rec['time']}: {hit!r}")
    return leaks


def anonymize_session(src, dst=None, *, password="", shift_us=None, pseudonym=None, redact=(), drop_text=False,
                      decrypt=False, in_place=False, overwrite=False, progress=None, cancel=None):
    """Write a de-identified copy of ``src`` at ``dst`` (see the module docstring).

    ``shift_us``: None or 0 keeps every time; an int moves every time by it (see
    :func:`parse_shift`, :func:`random_shift`). ``pseudonym``: the anonymized name of
    every header (default: the new session name). ``redact``: more strings to remove
    (e.g. names a note may mention). ``decrypt``: the copy has no passwords (otherwise
    it keeps the source's). ``in_place``: replace ``src`` itself (``dst`` must be None).
    Needs the level-2 password of an encrypted session. Returns a dict: destination,
    shift_us, identity values removed (count), text fields redacted, segments,
    blocks, records, files not copied.
    """
    src = os.path.abspath(os.fspath(src).rstrip("/\\"))
    if in_place == (dst is not None):
        raise ValueError("give either an output path or in_place=True")
    final = src if in_place else os.path.abspath(os.fspath(dst).rstrip("/\\"))
    if not in_place:
        check_output_outside(final, [src])
    base = os.path.basename(final)
    if not base.endswith(SESSION_EXT):
        raise ValueError(f"the output must be a {SESSION_EXT} directory: {final}")
    new_name = base[: -len(SESSION_EXT)]
    keys = unlock_session(src, password, need_level=2)
    values = identity_values(src, keys) + [v for v in redact if v and v.strip()]
    old_name = SessionTree(src).name
    redactor = Redactor(values + ([old_name] if old_name != new_name and len(old_name) >= 3 else []))
    name_check = Redactor(values)
    for label, value in (("session name", new_name), ("pseudonym", pseudonym)):
        if value and name_check.find(value):
            raise MefError(f"the {label} {value!r} contains the subject's identity; choose another", final)
    metadata, record_body, counts = _editors(redactor, drop_text)
    shift = int(shift_us or 0)
    edits = Edits(shift_us=shift, recording_time_offset=0 if shift else None, session_name=new_name,
                  anonymized_name=new_name if pseudonym is None else pseudonym, metadata=metadata,
                  record_body=record_body, rekey=bool(decrypt))
    out_password = "" if decrypt else password
    with Tracker(progress=progress, cancel=cancel) as tracker:
        with atomic_output(final, overwrite=overwrite, replacing_input=in_place) as tmp:
            result = rewrite_session(src, tmp, keys, edits, tracker)
            compare_sessions(src, tmp, tracker, src_password=password, dst_password=out_password, shift_us=shift)
            leaks = leak_scan(tmp, out_password, values)
            if leaks:
                raise MefError("identity would remain in the copy: " + "; ".join(leaks[:5]), final)
    result.update(destination=final, shift_us=shift or None, identity_values=len(values),
                  text_fields_redacted=counts["redacted"])
    return result

