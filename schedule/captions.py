"""Captions files in the format each network takes.

Bluesky takes WebVTT only and LinkedIn SRT only, while a council has one file per video,
in either format.  webvtt-py reads both and writes both; converting here means every
network that takes captions gets them, whichever format the comms team saved.
"""
from __future__ import annotations

import io
from pathlib import Path

from .errors import ContentError


def _read(path: Path):
    import webvtt

    try:
        return webvtt.from_srt(str(path)) if path.suffix.lower() == ".srt" else webvtt.read(str(path))
    except Exception as exc:  # noqa: BLE001 - webvtt-py raises several kinds for a bad file
        raise ContentError(str(path), 1, f"captions file cannot be read ({type(exc).__name__}: {exc}): "
                           "save it as WebVTT (.vtt) or SubRip (.srt)", "captions-invalid") from None


def check(path: Path) -> str | None:
    """Why this captions file cannot be used, or None."""
    try:
        _read(path)
    except ContentError as exc:
        return exc.message
    return None


def captions_as(path: Path, fmt: str) -> bytes:
    """The captions as `fmt` ("vtt" or "srt"): the file itself when it is already that format."""
    if path.suffix.lower() == f".{fmt}":
        return path.read_bytes()
    out = io.StringIO()
    _read(path).write(out, format=fmt)
    text = out.getvalue()
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")
