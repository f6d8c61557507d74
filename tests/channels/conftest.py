"""One way to open a network's harness (its test server and channel) in every channel test."""
from __future__ import annotations

import importlib

import pytest


@pytest.fixture
def open_harness(tmp_path, monkeypatch):
    """open_harness("x") -> tests.channels.harness_x.Harness, closed after the test; a network
    whose harness cannot run here (no Bluesky PDS installed) skips with the reason."""
    opened = []

    def open_(network: str):
        module = importlib.import_module(f"tests.channels.harness_{network}")
        if getattr(module, "SKIP_REASON", None):
            pytest.skip(module.SKIP_REASON)
        opened.append(module.Harness(tmp_path, monkeypatch))
        return opened[-1]

    yield open_
    for harness in opened:
        harness.close()
