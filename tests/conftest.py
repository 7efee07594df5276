"""Shared pytest fixtures. Helpers the tests import live in ``tests/support/`` (the
``support`` package: ``pythonpath = ["tests"]`` in pyproject.toml puts it on the path).

Oracle fixtures (need pymef, mef_tools and mef3io; tests using them are
skipped when those are not importable):

* ``oracles_installed``: skips the test when an oracle is missing (use it with
  the builders and readers of ``support.build_oracles`` / ``support.read_oracles``).
* ``oracle_sessions``: session-scoped, lazily built and cached fixture
  sessions. ``oracle_sessions(name, writer="mef_tools") -> path`` (also
  ``.get``), ``oracle_sessions.read(name, writer, reader)`` -> the cached
  result of ``support.read_oracles.read_<reader>`` with the scenario's
  full-access password, ``oracle_sessions.scenario(name)`` -> the spec.
* ``mef_sessions``: the neo / SpikeInterface fixture sessions
  (``support.neo_sessions.MefSessions``): ``mef_sessions(name, writer)`` -> path.

Oracle-free fixtures (core tests):

* ``fixture_data``: ``fixture_data(name) -> dict`` of the expected values of
  a committed session ``tests/data/<name>.mefd`` (``["path"]`` is the
  session), see ``support.expected.load_expected``.
"""
from __future__ import annotations

import os
import sys

import pytest

from support.build_oracles import build_scenario
from support.expected import load_expected
from support.neo_sessions import MefSessions
from support.read_oracles import read_with
from support.scenarios import SCENARIOS


def _require_oracles():
    for mod in ("pymef", "mef_tools", "mef3io", "pandas"):
        pytest.importorskip(mod, exc_type=ImportError)


class OracleSessions:
    """Builds scenario sessions on first use and caches paths and reads."""

    def __init__(self, base):
        self._base = base
        self._paths = {}
        self._reads = {}

    def scenario(self, name):
        return SCENARIOS[name]

    def get(self, name, writer="mef_tools"):
        key = (name, writer)
        if key not in self._paths:
            sc = SCENARIOS[name]
            if writer not in sc.writers:
                pytest.skip(f"scenario {name!r} cannot be written by {writer}")
            path = os.path.join(str(self._base), writer, f"{name}.mefd")
            self._paths[key] = build_scenario(sc, path, writer)
        return self._paths[key]

    __call__ = get

    def read(self, name, writer="mef_tools", reader="mef3io", password=...):
        """Cached ``support.read_oracles.read_with(reader, ...)``; ``password`` defaults to
        the scenario's level-2 password (treat the result as read-only)."""
        if password is ...:
            password = SCENARIOS[name].read_password
        key = (name, writer, reader, password)
        if key not in self._reads:
            self._reads[key] = read_with(reader, self.get(name, writer), password)
        return self._reads[key]


@pytest.fixture(scope="session")
def oracles_installed():
    _require_oracles()


@pytest.fixture(scope="session")
def oracle_sessions(tmp_path_factory, oracles_installed):
    return OracleSessions(tmp_path_factory.mktemp("oracle_sessions"))


@pytest.fixture(scope="session")
def mef_sessions(tmp_path_factory, oracle_sessions):
    return MefSessions(tmp_path_factory.mktemp("neo_sessions"), oracle_sessions)


@pytest.fixture(scope="session")
def fixture_data():
    def load(name):
        return load_expected(name)

    return load


@pytest.fixture
def run_cli(tmp_path):
    """``run_cli(*args, cwd=tmp_path, env=None, timeout=120)``: ``python -m neo_mef3.cli
    ARGS`` in a subprocess outside the checkout (the installed package is imported);
    returns the CompletedProcess with text stdout and stderr."""
    import subprocess

    def run(*args, cwd=None, env=None, timeout=120):
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run([sys.executable, "-m", "neo_mef3.cli", *map(str, args)], cwd=str(cwd or tmp_path),
                              env=full_env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    return run
