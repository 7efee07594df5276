"""Times and durations as people type them, turned into uUTC microseconds.

A time is one of:

* uUTC microseconds, an integer of 12 digits or more (``1600000000000000``);
* an ISO 8601 date and time (``2020-09-13T12:26:40``, ``2020-09-13 12:26:40.5+02:00``);
  without an offset it is read in ``tz`` (UTC unless told otherwise);
* seconds from the session's start (``600``, ``90.5``, ``+10min``, ``1h30m``, ``2h``).

A duration is seconds or the same unit forms (``10``, ``250ms``, ``5min``, ``1h``).
"""

import datetime
import re

__all__ = ["parse_time", "parse_duration", "format_time", "resolve_tz"]

_UNITS = {"us": 1, "ms": 1_000, "s": 1_000_000, "sec": 1_000_000, "m": 60_000_000, "min": 60_000_000,
          "h": 3_600_000_000, "d": 86_400_000_000}
_PART = re.compile(r"([0-9]*\.?[0-9]+)\s*(us|ms|sec|s|min|m|h|d)?", re.IGNORECASE)


def parse_duration(text):
    """Microseconds in a duration like ``10``, ``2.5s``, ``250ms``, ``5min``, ``1h30m``."""
    s = str(text).strip().lstrip("+")
    if not s:
        raise ValueError("an empty duration")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m or m.end() == pos:
            raise ValueError(f"not a duration: {text!r} (examples: 10, 2.5s, 250ms, 5min, 1h30m)")
        total += float(m.group(1)) * _UNITS[(m.group(2) or "s").lower()]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
    return int(round(total))


def resolve_tz(name):
    """A tzinfo for "utc", "local" or an IANA name such as "Europe/Prague"."""
    if name is None or str(name).lower() == "utc":
        return datetime.timezone.utc
    if str(name).lower() == "local":
        return datetime.datetime.now().astimezone().tzinfo
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(str(name))
    except Exception:  # noqa: BLE001 - zoneinfo raises several kinds
        raise ValueError(f"unknown time zone {name!r} (use utc, local or an IANA name)") from None


def parse_time(text, session_start=None, tz=None):
    """uUTC microseconds of a time given as uUTC, ISO 8601 or seconds from ``session_start``."""
    s = str(text).strip()
    if re.fullmatch(r"-?[0-9]{12,}", s):
        return int(s)
    if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}", s):
        try:
            dt = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {text!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=resolve_tz(tz))
        delta = dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if session_start is None:
        raise ValueError(f"{text!r} is relative to the session's start, which is unknown here")
    return int(session_start) + parse_duration(s)


def format_time(uutc, tz=None, with_zone=True):
    """``YYYY-MM-DD HH:MM:SS.ffffff`` of a uUTC time in ``tz`` (UTC by default)."""
    if uutc is None:
        return "-"
    zone = resolve_tz(tz)
    try:
        dt = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(microseconds=int(uutc))
    except OverflowError:
        return f"{uutc} us"
    dt = dt.astimezone(zone)
    out = dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"{out} {dt.tzname()}" if with_zone else out
