"""What the subcommands share: their declaration (help with examples), passwords,
progress bars, channel lists and messages."""

import argparse
import getpass
import json
import os
import sys

from ..progress import terminal_progress

#: options every subcommand also accepts after its name
COMMON = argparse.ArgumentParser(add_help=False)
COMMON.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                    help="no progress bar and no messages on stderr (results still go to stdout)")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions wrapped to the terminal, examples (the epilog) kept line by line."""

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit code 2)."""


def add_command(sub, name, summary, examples, description=None):
    """A subcommand parser whose --help ends with examples."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(name, help=summary, description=description or summary, epilog=epilog, parents=[COMMON],
                          formatter_class=_Formatter)


def add_password(p, what="the session"):
    g = p.add_argument_group("password (asked for on a terminal when needed)")
    g.add_argument("--password-env", metavar="VAR", help=f"read the password of {what} from environment variable VAR")
    g.add_argument("--password", default=None, help="the password itself (visible to other users of the machine: "
                   "prefer --password-env or the prompt)")


def add_new_passwords(p):
    g = p.add_argument_group("new passwords (asked for twice on a terminal when not given)")
    g.add_argument("--new-password1-env", metavar="VAR", help="the new level-1 password (signal access) from VAR")
    g.add_argument("--new-password2-env", metavar="VAR", help="the new level-2 password (full access) from VAR")


def add_storage_options(p):
    g = p.add_argument_group("remote sessions (a URL: s3://, https://, gs://, any fsspec URL)")
    g.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the URL's file system, e.g. anon=true, endpoint_url=http://host:9000, "
                        "client_kwargs.region_name=eu-west-1 (VALUE is read as JSON when it parses); repeatable. "
                        "Give credentials through the store's environment variables (AWS_ACCESS_KEY_ID, ...), "
                        "not here")


def storage_options(args):
    """The ``--storage-option KEY=VALUE`` options as a dict (dotted keys nest), or None."""
    out = {}
    for item in getattr(args, "storage_option", None) or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--storage-option takes KEY=VALUE, got {item!r}")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        *parents, last = key.strip().split(".")
        node = out
        for k in parents:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise UsageError(f"--storage-option {key!r} sets inside a value that is not a dict")
        node[last] = value
    return out or None


def session_source(args, path):
    """What to open for ``path``: the path itself (a local session), or for a URL a
    byte source made once with the ``--storage-option`` s (listed once, shared by the
    command's Readers)."""
    from ..source import is_url, open_source

    options = storage_options(args)
    if not is_url(path):
        if options:
            raise UsageError("--storage-option applies to URLs (s3://, https://, ...), not to a local path")
        return path
    return open_source(path, options)


def add_overwrite(p):
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (only once the new one is "
                   "complete)")


def _from_env(var):
    value = os.environ.get(var)
    if value is None:
        raise UsageError(f"environment variable {var} is not set")
    return value


def _interactive():
    try:
        return bool(sys.stdin.isatty())
    except Exception:  # noqa: BLE001 - a replaced stdin (pytest, services) is no terminal
        return False


def session_password(args, path):
    """The password for ``path``: --password, --password-env, or a prompt on a terminal
    when the session is encrypted; "" otherwise."""
    if getattr(args, "password", None) is not None:
        return args.password
    if getattr(args, "password_env", None):
        return _from_env(args.password_env)
    from ..tools.access import is_encrypted

    if _interactive() and is_encrypted(path):
        from ..source import describe_location

        name = describe_location(path)
        return getpass.getpass(f"password for {os.path.basename(os.path.normpath(str(name)))}: ")
    return ""


def new_passwords(args):
    """(password1, password2) for a re-keyed copy, from the environment or prompts."""
    values = []
    for level, var in ((1, args.new_password1_env), (2, args.new_password2_env)):
        if var:
            values.append(_from_env(var))
        elif _interactive():
            first = getpass.getpass(f"new level-{level} password: ")
            if getpass.getpass(f"new level-{level} password again: ") != first:
                raise UsageError(f"the two level-{level} passwords differ")
            values.append(first)
        else:
            raise UsageError(f"give the new level-{level} password with --new-password{level}-env VAR "
                             "(no terminal to ask on)")
    return tuple(values)


def progress(args):
    """``progress=`` for library calls: a bar on a terminal, nothing when piped or --quiet."""
    return terminal_progress(getattr(args, "quiet", False))


def say(args, message):
    """A message on stderr, unless --quiet."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def channel_list(values):
    """Channels from repeated and/or comma-separated --channels options (None: all)."""
    if not values:
        return None
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def session_span(path, password):
    """(first start, last end) of a session in uUTC, from its metadata."""
    from ..reader import Reader
    from ..tools.inventory import session_span as span

    with Reader(path, password=password) as r:
        return span(r)
