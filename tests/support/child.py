"""Run a module of this package in a child process (crash- and hang-proof tests, the
campaigns in ``fuzz/``), importing the INSTALLED neo_mef3.

The child runs ``python -m support.<module>`` with ``tests/`` first on PYTHONPATH and
the parent's PYTHONPATH after it. ``tests/`` holds no neo_mef3, so nothing is
shadowed: the child imports whatever neo_mef3 the parent would (the installed,
compiled package; in a development setup, what PYTHONPATH already points to). ``-m``
would also put the working directory first on the path, where the checkout's
uncompiled neo_mef3/ may be: so the child runs with ``-P`` (Python >= 3.11) and in a
directory outside the checkout.
"""
import json
import os
import subprocess
import sys
import tempfile

from support.paths import TESTS_DIR


def child_env(env=None):
    """``env`` (default: this process's environment) with tests/ first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != TESTS_DIR]
    env["PYTHONPATH"] = os.pathsep.join([TESTS_DIR] + rest)
    return env


def module_command(module, *args, python=None):
    """The command line that runs ``support.<module>`` with ``args``."""
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []
    return [python or sys.executable, *safe_path, "-m", f"support.{module}", *map(str, args)]


def run_module(module, *args, timeout, cwd=None):
    """Run ``support.<module>`` to completion (stdout and stderr captured, as bytes);
    raises subprocess.TimeoutExpired after ``timeout`` seconds."""
    return subprocess.run(module_command(module, *args), capture_output=True, timeout=timeout,
                          env=child_env(), cwd=cwd or tempfile.gettempdir())


def last_json_line(stdout):
    """The last line of a child's output that is a JSON object (its summary), or None."""
    lines = [ln for ln in stdout.decode().splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else None
