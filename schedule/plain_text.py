"""Markdown bodies as the plain text social networks take, and a thread's parts.

Split from content.py (reading files) because rendering and the Welsh checks use these too.
"""
from __future__ import annotations

import re

THREAD_MARKER = "---8<---"
THREAD_SPLIT = re.compile(r"^[ \t]*---8<---[ \t]*$", re.MULTILINE)

_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\((\S+?)\)")
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPH = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_HEADING = re.compile(r"^#{1,6}[ \t]+", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def markdown_to_text(body: str) -> str:
    """The small part of Markdown that makes sense in a social post, as plain text.

    Written by hand on purpose: a full Markdown renderer would produce HTML we would then
    have to strip again, and social networks take plain text.  Links become "text url",
    emphasis markers and heading hashes go, HTML comments (notes to colleagues) vanish;
    everything else, hashtags and line breaks included, is kept exactly.
    """
    text = _COMMENT.sub("", body)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} {m.group(2)}", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPH.sub(r"\1", text)
    text = _HEADING.sub("", text)
    text = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_parts(text: str) -> list[str]:
    return [part.strip() for part in THREAD_SPLIT.split(text)]
