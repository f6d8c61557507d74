"""`inbox --json` streamed (#11): the messages go from the cursor to the output a batch at
a time, and the output is exactly `list_messages`' messages, one compact JSON object a
line (docs/inbox.md), across batch boundaries and for awkward texts and times."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.inbox import store
from schedule.inbox.commands import list_messages, listed_json
from schedule.ledger import Ledger
from schedule.model import Incoming

# The clocks go back at 01:00 UTC on 25 October 2026 (gov.uk/when-do-the-clocks-change):
# 00:59:59.5 UTC is 01:59:59.5 BST, 01:00:00 UTC is 01:00:00 GMT.
BEFORE_CHANGE = datetime(2026, 10, 25, 0, 59, 59, 500000, tzinfo=timezone.utc)
AFTER_CHANGE = datetime(2026, 10, 25, 1, 0, 0, tzinfo=timezone.utc)

TEXTS = [
    "مرحبا، متى يتم جمع القمامة؟",                     # Arabic (right to left)
    "שלום, מתי אוספים את הפחים?",                      # Hebrew (right to left), with a comma
    "Bins 🗑️ 👩‍👩‍👧 thanks 🇬🇧",                            # emoji: variation selector, ZWJ family, flag
    'Quote " backslash \\ slash / tab \t newline \n end',
    'Looks like JSON: },{"id":1,"x":"},{\\"id\\":"}',    # the bytes between two messages, inside a text
    "\u2028line separator\u2029paragraph separator \x00 nul \x1f unit",
    "Diolch! Pryd fydd y biniau ailgylchu yn cael eu casglu?",
    "",
]


@pytest.fixture
def awkward(project):
    project.write_config(channels='[channels.m]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["m"]')
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    with ledger.transaction():
        for number in range(53):
            when = (BEFORE_CHANGE, AFTER_CHANGE)[number % 2] + timedelta(seconds=number // 2 * (-1) ** number)
            store.record(ledger, "m", "mastodon",
                         Incoming(str(number), "reply", TEXTS[number % len(TEXTS)], when,
                                  author="" if number % 5 == 0 else f"@ضيف{number}",
                                  url=None if number % 3 else f"https://m.example/@r/{number}",
                                  conversation=None if number % 4 else "root",
                                  edited_at=AFTER_CHANGE if number % 6 == 0 else None,
                                  language=None if number % 2 else "ar", own=number % 13 == 12),
                         flags=["complaint"] if number % 3 == 0 else [])
    store.change(ledger, 5, "triage", actor="test", to_state="assigned", assignee="Siân 🙂", tags=["bins", "rtl"])
    ledger.close()
    return config


def streamed(config, batch, **filters) -> list[dict]:
    # A literal newline is never inside a JSON string: each "\n" ends a message.
    lines = [line for lines in listed_json(config, limit=0, batch=batch, **filters) for line in lines.split(b"\n")]
    assert all(line.lstrip(b" ").startswith(b"{") for line in lines)
    return [json.loads(line.rstrip(b",")) for line in lines]


@pytest.mark.parametrize("batch", [1, 2, 7, 2000])
def test_streamed_messages_equal_the_listing(awkward, batch):
    expected = list_messages(awkward, limit=0)
    assert len(expected) == 49                               # 53, less the council's own 4 (12, 25, 38, 51)
    assert streamed(awkward, batch) == expected
    assert streamed(awkward, batch, flag="complaint", state="new") == \
        list_messages(awkward, flag="complaint", state="new", limit=0)


def test_clock_change_and_none_fields_as_listed(awkward):
    messages = {m["remote_id"]: m for m in streamed(awkward, 3)}
    assert messages["0"]["created_at"] == "2026-10-25T01:59:59.500000+01:00"      # BST, the hour before
    assert messages["1"]["created_at"] == "2026-10-25T01:00:00+00:00"             # GMT, the hour after
    assert messages["6"]["edited_at"] == "2026-10-25T01:00:00+00:00"
    assert messages["1"]["url"] is None and messages["1"]["language"] is None and messages["1"]["edited_at"] is None
    assert messages["3"]["url"] == "https://m.example/@r/3" and messages["4"]["conversation"] == "root"
    assert messages["4"]["tags"] == ["bins", "rtl"] and messages["4"]["assignee"] == "Siân 🙂"
    assert messages["4"]["text"] == TEXTS[4] and messages["2"]["text"] == TEXTS[2]


def test_command_output_is_the_listing_one_compact_message_a_line(project, awkward):
    output = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "--limit", "0", "--json"]
                                ).output
    # Split at "\n" only: str.splitlines also splits at U+2028, which JSON leaves as it is.
    lines = output.split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""]
    lines = lines[:-1]
    expected = list_messages(awkward, limit=0)
    # RFC 8259: compact (no whitespace between tokens), UTF-8 as is; each line "  {...}," but the last.
    assert lines[1:-1] == ["  " + json.dumps(m, ensure_ascii=False, separators=(",", ":")) + ","
                           for m in expected[:-1]] + ["  " + json.dumps(expected[-1], ensure_ascii=False,
                                                                        separators=(",", ":"))]
    assert json.loads(output) == expected


def test_empty_listing_is_an_empty_list(project, awkward):
    output = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "--state", "closed",
                                      "--json"]).output
    assert output == "[]\n"
