"""Shared pytest fixtures.

Oracle fixtures (need pymef, mef_tools and mef3io; tests using them are
skipped when those are not importable):

* ``oracle_sessions``: session-scoped, lazily built and cached fixture
  sessions. ``oracle_sessions(name, writer="mef_tools") -> path`` (also
  ``.get``), ``oracle_sessions.read(name, writer, reader)`` -> the cached
  result of ``oracles.read_<reader>`` with the scenario's full-access
  password, ``oracle_sessions.scenario(name)`` -> the spec.
* ``oracles``: the ``tests/oracles.py`` module (builders, readers, SCENARIOS).

Oracle-free fixtures (core tests):

* ``fixture_data``: ``fixture_data(name) -> dict`` of the expected values of
  a committed session ``tests/data/<name>.mefd`` (``["path"]`` is the
  session), see ``oracles.load_expected``.
"""
from __future__ import annotations

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import oracles as _oracles  # noqa: E402  (numpy only; oracles are imported lazily)


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
        return _oracles.SCENARIOS[name]

    def get(self, name, writer="mef_tools"):
        key = (name, writer)
        if key not in self._paths:
            sc = _oracles.SCENARIOS[name]
            if writer not in sc.writers:
                pytest.skip(f"scenario {name!r} cannot be written by {writer}")
            path = os.path.join(str(self._base), writer, f"{name}.mefd")
            self._paths[key] = _oracles.build_scenario(sc, path, writer)
        return self._paths[key]

    __call__ = get

    def read(self, name, writer="mef_tools", reader="mef3io", password=...):
        """Cached ``oracles.read_with(reader, ...)``; ``password`` defaults to
        the scenario's level-2 password (treat the result as read-only)."""
        if password is ...:
            password = _oracles.SCENARIOS[name].read_password
        key = (name, writer, reader, password)
        if key not in self._reads:
            self._reads[key] = _oracles.read_with(reader, self.get(name, writer), password)
        return self._reads[key]


@pytest.fixture(scope="session")
def oracle_sessions(tmp_path_factory):
    _require_oracles()
    return OracleSessions(tmp_path_factory.mktemp("oracle_sessions"))


@pytest.fixture(scope="session")
def oracles():
    _require_oracles()
    return _oracles


@pytest.fixture(scope="session")
def fixture_data():
    def load(name):
        return _oracles.load_expected(name)

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
