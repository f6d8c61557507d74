"""Golden files: the shipped examples rendered for every network, reviewed in diffs.

Regenerate after an intended change with:  UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from schedule.scanner import scan
from schedule.render import Renderer
from tests.helpers import ALL_NETWORK_CHANNELS

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
NETWORKS = ["log", "x", "facebook", "instagram", "threads", "youtube", "mastodon", "bluesky", "linkedin"]


def rendered(project) -> dict[str, str]:
    shutil.rmtree(project.content)
    shutil.copytree(ROOT / "content", project.content)
    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels=str(NETWORKS).replace("'", '"'))
    config = project.config()
    renderer = Renderer(config)
    out = {}
    for item in scan(config).items:
        for name in NETWORKS:
            variant = renderer.render(item, name)
            if variant is None:
                continue
            lines = [f"# {item.id} on {name} ({variant.network}), limit {variant.limit}"]
            if variant.title:
                lines.append(f"# title: {variant.title}")
            for number, part in enumerate(variant.parts, 1):
                lines.append(f"--- part {number}/{len(variant.parts)}, length {part.length}")
                lines.append(part.text)
            for media in variant.media:
                lines.append(f"--- media {media.rel} (alt: {media.alt or '-'})")
            for problem in variant.problems:
                lines.append(f"--- {problem.level}: {problem.code}: {problem.message}")
            out[f"{name}/{item.id.replace('/', '__')}.txt"] = "\n".join(lines) + "\n"
    return out


def test_rendered_examples_match_the_golden_files(project):
    current = rendered(project)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, text in current.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_text(text, encoding="utf-8")
        pytest.skip("golden files rewritten: review them with git diff")
    stored = {p.relative_to(GOLDEN).as_posix(): p.read_text(encoding="utf-8") for p in GOLDEN.rglob("*.txt")}
    assert sorted(stored) == sorted(current), "a golden file is missing or extra: run with UPDATE_GOLDEN=1"
    for rel, text in current.items():
        assert text == stored[rel], f"{rel} changed: run with UPDATE_GOLDEN=1 and review the diff"
