"""`bot.py inbox ...` (#11): each command and its --json, through click as a user runs them,
on a real project whose inbox was filled by a real fetch from the Mastodon test double."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot import cli
from tests.test_inbox_fetch import _posted, mastodon  # noqa: F401 - the fixture
from schedule.ledger import Ledger


def run(project, *args):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), *args])
    return result


@pytest.fixture
def filled(project, mastodon):  # noqa: F811
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    post = _posted(project, ledger, text="The tip opens at 9am on bank holidays.", item="tip-hours")
    ledger.close()
    mastodon.resident_status("Under the Freedom of Information Act please provide the tip's visitor numbers",
                             post)
    mastodon.resident_status("Diolch! Pryd fydd y biniau ailgylchu yn cael eu casglu?", post,
                             acct="cymro@example.social")
    result = run(project, "inbox", "fetch", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["new"] == 2
    return post


def test_list_filters_and_json(project, filled):
    rows = json.loads(run(project, "inbox", "--json").output)
    assert len(rows) == 2 and {r["item"] for r in rows} == {"tip-hours"}
    [foi] = json.loads(run(project, "inbox", "--flag", "foi", "--json").output)
    assert foi["foi_due"] and foi["state"] == "new"
    [welsh] = json.loads(run(project, "inbox", "--flag", "welsh", "--json").output)
    assert welsh["language"] == "cy"
    assert json.loads(run(project, "inbox", "--state", "closed", "--json").output) == []
    assert json.loads(run(project, "inbox", "--item", "nothing", "--json").output) == []
    assert len(json.loads(run(project, "inbox", "--since", "2020-01-01", "--json").output)) == 2
    assert len(json.loads(run(project, "inbox", "--limit", "1", "--json").output)) == 1
    table = run(project, "inbox")
    assert table.exit_code == 0 and "Inbox" in table.output and "foi" in table.output


def test_assign_tag_note_close_and_show(project, filled):
    [foi] = json.loads(run(project, "inbox", "--flag", "foi", "--json").output)
    number = str(foi["id"])
    assert run(project, "inbox", "assign", number, "Priya").output.strip() == f"{number}: assigned, assigned to Priya"
    tagged = json.loads(run(project, "inbox", "tag", number, "foi-team", "--json").output)
    assert tagged["tags"] == ["foi-team"]
    assert run(project, "inbox", "note", number, "Logged as FOI 2026/123").exit_code == 0
    closed = run(project, "inbox", "close", number, "--reason", "handled by the FOI team", "--json")
    assert json.loads(closed.output)["state"] == "closed"
    shown = json.loads(run(project, "inbox", "show", number, "--json").output)
    assert shown["original"]["text"] == "The tip opens at 9am on bank holidays."
    assert shown["original"]["item"] == "tip-hours" and shown["original"]["remote_id"] == filled
    assert [e["kind"] for e in shown["events"]] == ["received", "assigned", "tagged", "note", "closed"]
    assert shown["notes"][0]["text"] == "Logged as FOI 2026/123"
    assert len(shown["conversation"]) == 2
    text = run(project, "inbox", "show", number).output
    assert "Council post (tip-hours on mastodon" in text and "FOI due" in text


def test_bad_input_is_one_line_not_a_traceback(project, filled):
    for args, message in [(("inbox", "show", "999"), "no inbox message 999"),
                          (("inbox", "--state", "open"), "use one of new, assigned, answered, closed"),
                          (("inbox", "--flag", "rude"), "use one of foi, complaint"),
                          (("inbox", "close", "1"), "Missing option '--reason'"),
                          (("inbox", "tag", "1", "two words"), "is not a tag"),
                          (("inbox", "fetch", "--channel", "nope"), "no channel 'nope'")]:
        result = run(project, *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_json_list_is_one_compact_message_a_line_equal_to_the_listing(project, filled):
    """#11: `inbox --json` is one message a line (docs/inbox.md), compact JSON (RFC 8259
    allows no whitespace between tokens), the same messages `list_messages` gives; the Welsh
    text stays UTF-8, not \\u escapes."""
    from schedule.inbox.commands import list_messages

    output = run(project, "inbox", "--json").output
    lines = output.splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    messages = [json.loads(line.strip().rstrip(",")) for line in lines[1:-1]]
    assert messages == json.loads(output) == list_messages(project.config())
    compact = [json.dumps(m, ensure_ascii=False, separators=(",", ":")) for m in messages]
    assert [line.strip().rstrip(",") for line in lines[1:-1]] == compact
    assert "Diolch!" in output
