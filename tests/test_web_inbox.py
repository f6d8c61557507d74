"""The web page's Inbox and inbox Reports (#13 on the inbox of #11), through real HTTP
against a real `bot.py serve` child process (tests/web_helpers.py).

Each action is a POST of the page's own one-use signed form, runs the CLI's function
(triage.py, moderate.py, replies.py) and is an inbox event by `web:<user>`.  Expected
figures come from the rules (ICO's 20 working days with gov.uk bank holidays; office
hours; X's 280-character limit), set out in tests/web_inbox_helpers.py.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import frontmatter
import pytest

from tests.web_helpers import OUTSIDER, ROOT, WebSite
from tests.web_inbox_helpers import OFFICER, inbox_site


@pytest.fixture
def site(project):
    website = inbox_site(project).start()
    yield website
    website.stop()


def events(site: WebSite, message_id: int) -> list[dict]:
    from schedule.inbox import store
    ledger = site.ledger()
    try:
        return store.events(ledger, message_id)
    finally:
        ledger.close()


def listed(reply) -> list[int]:
    """The message ids a list page links to, in order."""
    return [int(n) for n in re.findall(r'href="/inbox/(\d+)"', reply.body)]


def act(site: WebSite, message_id: int, action: str, user: str = OFFICER, **fields):
    page = site.get(f"/inbox/{message_id}", user=user)
    token = re.search(rf'action="/inbox/{message_id}/{action}">\s*<input type="hidden" name="form_token" '
                      r'value="([^"]+)"', page.body)
    assert token, page.text()[:500]
    return site.post(f"/inbox/{message_id}/{action}", {"form_token": token.group(1), **fields}, user=user)


# ----- the list --------------------------------------------------------------------------
def test_the_list_says_each_flag_plainly_with_the_foi_date(site):
    reply = site.get("/inbox", user="bob")                   # a viewer may look
    assert reply.status == 200
    words = reply.text()
    assert "Possible Freedom of Information request: answer by Wednesday 17 June 2026" in words
    assert "Welsh: the reply is expected in Welsh" in words
    m = site.messages
    # Newest first, the council's own replies not listed (they are not waiting).
    assert listed(reply) == [m["on-post"], m["c"], m["b"], m["a"], m["welsh"], m["foi"]]
    assert listed(site.get("/inbox?flag=foi")) == [m["foi"]]
    assert listed(site.get("/inbox?flag=welsh")) == [m["welsh"]]
    assert listed(site.get("/inbox?channel=log")) == [m["on-post"]]
    assert listed(site.get("/inbox?state=answered")) == [m["c"], m["b"], m["a"]]
    assert listed(site.get("/inbox?item=winter")) == [m["on-post"]]
    assert listed(site.get("/inbox?since=2026-11-02&channel=x")) == [m["c"], m["b"], m["a"], m["welsh"]]
    bad = site.get("/inbox?flag=rude")
    assert bad.status == 400 and "use one of foi, complaint, urgent, abusive, welsh" in bad.text()


def test_the_list_is_paged_never_the_whole_inbox(project):
    site = inbox_site(project, extra_messages=120).start()
    try:
        first = site.get("/inbox")
        assert len(listed(first)) == 50 and "Older messages" in first.text() and "Newer messages" not in first.text()
        third = site.get("/inbox?page=3")
        # 6 seeded + 120 = 126 residents' messages: 50, 50, 26.
        assert len(listed(third)) == 26 and "Older messages" not in third.text() and "Newer messages" in third.text()
        everything = listed(first) + listed(site.get("/inbox?page=2")) + listed(third)
        assert len(set(everything)) == 126
        filtered = site.get("/inbox?channel=log&page=2")
        assert 'href="/inbox?channel=log&amp;page=3"' in filtered.body     # the filters stay on the pager
    finally:
        site.stop()


# ----- one conversation -----------------------------------------------------------------
def test_the_conversation_shows_the_post_versions_notes_and_events(site):
    message_id = site.messages["on-post"]
    assert act(site, message_id, "note", text="Asked the events team").status == 200
    page = site.get(f"/inbox/{message_id}", user="bob")
    words = page.text()
    assert "The council's post" in words and 'href="/items/winter"' in page.body
    assert "https://social.example/posts/1" in page.body
    # Both versions of the edited comment, the newest as the message.
    assert "Is the winter fair free?" in words and "Is the winter fair free for children?" in words
    assert "every version is kept" in words
    assert "Asked the events team" in words and f"web:{OFFICER}" in words
    assert "received" in words and "edited" in words
    # A viewer sees no action forms.
    assert "form_token" not in page.body and "need the role officer or admin" in words
    conversation = site.get(f"/inbox/{site.messages['a']}").text()
    assert "The council" in conversation and "Yes, 9 to 4." in conversation
    assert site.get("/inbox/99999").status == 404


# ----- officer actions --------------------------------------------------------------------
def test_assign_tag_note_close_each_through_its_signed_form_recorded_as_the_web_user(site):
    message_id = site.messages["welsh"]
    assert act(site, message_id, "assign", name="Priya").status == 200
    assert act(site, message_id, "tag", tag="Library").status == 200
    assert act(site, message_id, "note", text="Opening hours are on the website").status == 200
    done = act(site, message_id, "close", reason="answered by phone")
    assert done.status == 200 and "is closed" in done.text()
    kinds = [(e["kind"], e["actor"], e["reason"]) for e in events(site, message_id)]
    actor = f"web:{OFFICER}"
    assert ("assigned", actor, None) in kinds and ("tagged", actor, "library") in kinds
    assert ("note", actor, "Opening hours are on the website") in kinds
    assert ("closed", actor, "answered by phone") in kinds
    shown = site.get(f"/inbox/{message_id}").text()
    assert "Priya" in shown and "library" in shown and "CLOSED" in shown.upper()
    # What the CLI refuses, the page refuses with the same sentence (here: a close without a reason).
    refused = act(site, site.messages["foi"], "close", reason="  ")
    assert refused.status == 409 and "give --reason" in refused.text()


def test_actions_refused_without_sign_in_from_outside_without_the_role_or_replayed(site):
    message_id = site.messages["foi"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    token = re.search(r'action="/inbox/\d+/close">\s*<input type="hidden" name="form_token" value="([^"]+)"',
                      page.body).group(1)
    form = {"form_token": token, "reason": "spam"}
    assert site.post(f"/inbox/{message_id}/close", form, user=None).status == 401
    outside = site.post(f"/inbox/{message_id}/close", form, user=OFFICER, source=OUTSIDER)
    assert outside.status == 403 and "did not come through" in outside.text()
    for user in ("bob", "carol"):                            # viewer, approver: no triage right
        refused = site.post(f"/inbox/{message_id}/close", form, user=user)
        assert refused.status == 403 and "needs the role officer, admin" in refused.text()
    # Someone else's form, or one for another message, is refused.
    assert site.post(f"/inbox/{message_id}/close", form, user="alice").status == 403
    assert site.post(f"/inbox/{site.messages['welsh']}/close", form, user=OFFICER).status == 403
    assert site.post(f"/inbox/{message_id}/assign", {**form, "name": "x"}, user=OFFICER).status == 403
    assert [e["kind"] for e in events(site, message_id)] == ["received"]       # nothing happened
    assert site.post(f"/inbox/{message_id}/close", form, user=OFFICER).status == 200
    replayed = site.post(f"/inbox/{message_id}/close", form, user=OFFICER)
    assert replayed.status == 403 and "already been used" in replayed.text()
    assert [e["kind"] for e in events(site, message_id)] == ["received", "closed"]
    # An admin may triage too (settings.RIGHTS).
    assert act(site, site.messages["welsh"], "tag", user="alice", tag="x1").status == 200


def test_hide_keeps_the_full_text_on_record_before_the_network_is_asked(site):
    message_id = site.messages["on-post"]
    reply = act(site, message_id, "hide", reason="house rule 3")
    # The log channel cannot hide: moderate.hide's own sentence, and the text is on record.
    assert reply.status == 409 and "nothing was hidden" in reply.text()
    found = [e for e in events(site, message_id) if e["kind"] in ("hiding", "hide-failed")]
    assert [e["kind"] for e in found] == ["hiding", "hide-failed"]
    assert all(e["actor"] == f"web:{OFFICER}" for e in found)
    detail = json.loads(found[0]["detail"])
    assert detail["text"] == "Is the winter fair free for children?" and len(detail["versions"]) == 2
    assert act(site, message_id, "hide", reason="").status == 409            # a reason is required


def test_hide_on_x_from_the_page_hides_it_there_after_recording_the_text(project, monkeypatch):
    from datetime import datetime, timezone

    from schedule.channels import make_channel
    from schedule.inbox import store
    from schedule.model import Incoming
    from tests.helpers import make_variant
    from tests.servers import channel_tables, credentials_env, x

    server = x.Server().start()
    site = inbox_site(project)
    try:
        # The site's x channel pointed at the project's X test server (X API v2 wire format).
        text = project.config_path.read_text(encoding="utf-8")
        project.config_path.write_text(text.replace('[channels.x]\nnetwork = "x"\n', channel_tables({"x": server.url})),
                                       encoding="utf-8")
        site.config = project.config()
        for name, value in credentials_env("x").items():
            monkeypatch.setenv(name, value)
        channel = make_channel(site.config.channels["x"])
        post = channel.publish(make_variant(channel, ["Roadworks on King Street."]), key="roadworks-key").remote_id
        tweet = server.resident_tweet("@BlackburnCouncil you are all useless idiots", reply_to=post)
        ledger = site.ledger()
        message_id = store.record(ledger, "x", "x", Incoming(tweet["id"], "reply", tweet["text"],
                                                              datetime.now(timezone.utc), author="@resident",
                                                              parent_id=post, conversation=post))[0]
        ledger.close()
        site.start(env=credentials_env("x"))
        reply = act(site, message_id, "hide", reason="house rule 3")
        assert reply.status == 200 and "is hidden on x" in reply.text()
        assert server.others[tweet["id"]]["hidden"] is True           # PUT /2/tweets/:id/hidden
        found = [e for e in events(site, message_id) if e["kind"] in ("hiding", "hidden")]
        assert [(e["kind"], e["actor"]) for e in found] == [("hiding", f"web:{OFFICER}"), ("hidden", f"web:{OFFICER}")]
        assert json.loads(found[0]["detail"])["text"] == tweet["text"]     # on record before the call
        assert "Hidden on the network" in site.get(f"/inbox/{message_id}").text()
    finally:
        site.stop()
        server.stop()


# ----- reply drafts -----------------------------------------------------------------------
def _written(reply) -> Path:
    return Path(re.search(r"is written to <code>([^<]+)</code>", reply.body).group(1))


def test_a_reply_draft_is_the_cli_file_with_the_gates_verdict(site, project):
    message_id = site.messages["foi"]
    reply = act(site, message_id, "reply", text="Thanks: we will answer your request by 17 June.")
    assert reply.status == 200, reply.text()
    words = reply.text()
    assert "Nothing has been sent" in words and "Commit it to the content repository" in words
    path = project.root / _written(reply)
    post = frontmatter.load(path)
    assert path.parent == project.content / "replies"
    assert post["in_reply_to"] == "x:foi" and post["channels"] == ["x"] and post["author"] == f"web:{OFFICER}"
    assert post.content == "Thanks: we will answer your request by 17 June."
    assert post.content in words                                             # the file is shown
    assert "error" not in re.sub(r"(?i)warnings? only", "", words.split("What the gate says")[1]).lower()
    drafted = [e for e in events(site, message_id) if e["kind"] == "reply-drafted"]
    assert drafted and drafted[0]["actor"] == f"web:{OFFICER}"
    # The same file `bot.py validate` judges (the CLI's check), and it passes.
    checked = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path),
                              "validate", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_reply_too_long_for_x_is_flagged_by_the_gate(site):
    # X counts up to 280 weighted characters; Latin letters weigh 1 (twitter-text's
    # config v3: maxWeightedTweetLength 280, defaultWeight 200 of scale 100 for other ranges).
    reply = act(site, site.messages["a"], "reply", text="a" * 281)
    assert reply.status == 200
    verdict = reply.text().split("What the gate says")[1]
    assert "will not be sent until" in verdict and "281" in verdict and "280" in verdict
    shorter = act(site, site.messages["b"], "reply", text="a" * 280).text().split("What the gate says")[1]
    assert "will not be sent until" not in shorter


def test_reply_approval_means_the_draft_waits_for_sign_off(project):
    site = inbox_site(project, inbox="reply_approval = true").start()
    try:
        reply = act(site, site.messages["foi"], "reply", text="Thanks, we are on it.")
        verdict = reply.text().split("What the gate says")[1]
        assert "will not be sent until" in verdict and "approved_by" in verdict
    finally:
        site.stop()


def test_a_welsh_messages_reply_is_marked_welsh_and_the_page_says_so(site, project):
    message_id = site.messages["welsh"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER).text()
    assert "This message is in Welsh. Welsh Language Standards: write the reply in Welsh." in page
    reply = act(site, message_id, "reply", text="Mae'r llyfrgell ar agor o naw tan bump ddydd Sadwrn.")
    assert frontmatter.load(project.root / _written(reply))["lang"] == "cy"


# The gate's check that a Welsh message is answered in Welsh (#11, asked by gate.decide).
def test_a_welsh_messages_english_reply_is_flagged_by_the_gate(site):
    reply = act(site, site.messages["welsh"], "reply",
                text="The library is open from nine until five on Saturday, thank you for asking.")
    verdict = reply.text().split("What the gate says")[1]
    assert "Welsh" in verdict and ("Error" in verdict or "Warning" in verdict)


# ----- reports ----------------------------------------------------------------------------
def test_reports_show_inbox_response_times_as_the_cli_counts_them(site, project):
    page = site.get("/reports", user="bob")
    assert page.status == 200
    words = page.text()
    # x: answered after 1, 2 and 17 office hours (web_inbox_helpers.py): median 2; the 90th
    # percentile by linear interpolation 2 + 0.8 * (17 - 2) = 14; 2 of 3 within 8 hours.
    row = re.search(r"<th scope=\"row\">x</th>(.*?)</tr>", page.body, re.S).group(1)
    cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["5", "2 h", "14 h", "67%"]
    assert f'href="/inbox/{site.messages["foi"]}"' in row                  # the oldest unanswered
    assert "First response in office hours, per channel" in words and "x 90th percentile" in words
    flags = words.split("Messages by flag on x")[-1]
    assert "Possible Freedom of Information request 1" in flags and "Welsh 1" in flags
    assert page.body.count('<svg role="img"') >= 2 + 4                      # posts per month, then inbox
    # The very numbers of `bot.py inbox report`.
    cli = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "inbox",
                          "report", "--json"], capture_output=True, text=True, check=True)
    x = next(r for r in json.loads(cli.stdout) if r["channel"] == "x")
    assert (x["first_response_office_hours"], x["answered_within_target"]) == ({"median": 2.0, "p90": 14.0}, 0.667)
    # --since: only b and c on x (2 and 17 hours): median 9.5, p90 2 + 0.9 * 15 = 15.5, one of two.
    narrowed = site.get("/reports?since=2026-11-09")
    row = re.search(r"<th scope=\"row\">x</th>(.*?)</tr>", narrowed.body, re.S).group(1)
    cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["2", "9.5 h", "15.5 h", "50%"]
    bad = site.get("/reports?since=last+week")
    assert bad.status == 200 and "'last week' is not a date" in bad.text()
