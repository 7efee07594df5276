"""What the tests share: fixture scenarios, session builders, reference readers,
expected values, and the machinery of the damage, fuzz and kill-point runs.

Scenarios and signals
    ``scenarios`` (the named fixture sessions as data: ``SCENARIOS``, ``Channel``,
    ``Write``, ``T0``), ``signals`` (iEEG-like data both reference writers store
    alike), ``neo_sessions`` (the extra sessions of the neo / SpikeInterface tests),
    ``mne_sessions`` (the MNE, EDF, BIDS and convert tests' sessions).
Building sessions
    ``build_oracles`` (mef_tools, mef3io, pymef records), ``build_ours`` (our Writer).
Reading and comparing
    ``read_oracles`` (pymef, mef3io, mef_tools as plain results), ``compare``,
    ``grid_model`` (where a sample lands in a read), ``expected`` (the committed
    fixtures' expected values), ``red_reference`` (a pure-Python RED decoder and CRC),
    ``session_checks`` (mef3io's Validator, file digests), ``legacy_parity`` (the
    mef_tools parity harness), ``plain``, ``quiet``, ``paths``.
Damage, fuzzing, interrupted writes
    ``damage`` (the cases), ``outcomes`` (how the Reader fared), ``isolated`` (worker
    processes that count crashes and hangs), ``fuzz_targets``, ``write_script``,
    ``kill_points``, ``racing_readers``, ``child`` (how a module here runs in a child).

How it is found. ``tests/`` is not a package; pytest puts ``tests/`` on sys.path
(``pythonpath = ["tests"]`` in pyproject.toml), so tests and conftest.py say
``from support.scenarios import ...``. No test imports another test module, and
nothing inserts paths at run time.

Child processes. Modules with a command line (``isolated``, ``fuzz_targets``,
``kill_points``, ``racing_readers``) run as ``python -m support.<module>`` with
``tests/`` first on PYTHONPATH and a working directory outside the checkout
(:mod:`support.child`). ``tests/`` holds no neo_mef3, so the child imports the same
neo_mef3 as its parent: the installed, compiled package (a clean-clone CI does
``pip install .``, and the checkout's neo_mef3/ has no compiled codec). The long
campaigns in ``fuzz/`` are thin scripts over these modules, run the same way:
``PYTHONPATH=tests python fuzz/campaign.py`` from the repository root (fuzz/README.md).
"""
