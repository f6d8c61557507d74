"""Shared fixtures: every test gets its own content folder, config and ledger in tmp_path."""
from __future__ import annotations

import os

import pytest

# Tests never read the developer's real credentials.
for key in list(os.environ):
    if key.startswith("CIVICPOST_") or key == "CREDENTIALS_DIRECTORY":
        del os.environ[key]
