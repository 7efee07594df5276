"""Where a session is -- a local path, a URL, an archive -- and what of it may be shown.

A location may carry secrets: a URL's user and password or query (a signature, a
token), storage options' keys, secrets and tokens. What is shown (messages, reprs,
logged descriptions) goes through :func:`shown_url` and :func:`redact_options`.
"""

import re
from urllib.parse import urlsplit, urlunsplit

#: an uncompressed archive of a whole session (``x.mefd.tar``, ``x.mefd.zip``)
ARCHIVE_SUFFIXES = (".tar", ".zip")
#: what replaces a secret value
REDACTED = "<redacted>"

# a scheme of two or more characters (a Windows drive letter is one)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
# storage option names whose values are secrets (s3fs key/secret/token, gcsfs token,
# adlfs account_key/sas_token/connection_string, HTTP headers' Authorization, ...)
_SECRET_NAME = re.compile(r"secret|token|passw|credential|auth|signature|sas|key|cookie|connection_string|"
                          r"session", re.IGNORECASE)


def is_url(location):
    """True for an fsspec URL (``s3://...``, ``https://...``, ``simplecache::s3://...``)."""
    return isinstance(location, str) and ("::" in location or _URL.match(location) is not None)


def is_archive(name):
    """True for a name ending as a session archive does (``.tar``, ``.zip``)."""
    return name.rstrip("/").lower().endswith(ARCHIVE_SUFFIXES)


def shown_url(url):
    """`url` without what may be secret: the user and password, the query and fragment
    (of every link of a chained URL)."""
    parts = []
    for link in url.split("::"):
        if _URL.match(link):
            s = urlsplit(link)
            netloc = s.netloc.rsplit("@", 1)[-1]
            link = urlunsplit((s.scheme, netloc, s.path, "", ""))
        parts.append(link)
    return "::".join(parts)


def is_secret_name(name):
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def redact_options(value):
    """A copy of storage options (nested dicts, lists) with every value under a secret
    name (key, secret, token, password, Authorization, ...) replaced by ``REDACTED``."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_name(k) and v not in (None, "", False) else redact_options(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_options(v) for v in value) if type(value) in (list, tuple) else REDACTED
    if isinstance(value, str):
        return shown_url(value) if is_url(value) else value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"<{type(value).__name__}>"  # (an object: a client, a timeout, an auth helper)


def has_secrets(value):
    """Whether storage options hold anything :func:`redact_options` would hide."""
    return redact_options(value) != value
