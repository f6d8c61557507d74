"""Shared fixtures: every test gets its own content folder, config and ledger in tmp_path."""
from __future__ import annotations

import os

import pytest

# Tests never read the developer's real credentials.
for key in list(os.environ):
    if key.startswith("CIVICPOST_") or key == "CREDENTIALS_DIRECTORY":
        del os.environ[key]


ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path):
    """A throw-away civicpost project: config.toml, templates/ (the shipped ones), content/."""
    from tests.helpers import Project
    return Project(tmp_path / "project", ROOT / "templates")
