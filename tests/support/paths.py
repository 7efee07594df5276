"""Where the test data lives: the committed fixtures and the packaged example.

Data files only (read, never imported): a test may use them from the checkout even
when the package it imports is the installed one.
"""
import os

SUPPORT_DIR = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(SUPPORT_DIR)
REPO_DIR = os.path.dirname(TESTS_DIR)
#: the committed fixture sessions (``tests/data/<name>.mefd``, made by scripts/make_test_fixtures.py)
DATA_DIR = os.path.join(TESTS_DIR, "data")
#: the example session shipped with the package (written by meflib through mef_tools)
EXAMPLE_SESSION = os.path.join(REPO_DIR, "neo_mef3", "data", "example.mefd")
