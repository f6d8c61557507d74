"""A review of the web page's Inbox and Reports (#13): what a security officer, an
accessibility auditor and a comms officer would try, through real HTTP against a real
`bot.py serve` child process (tests/web_helpers.py).

Sources of the expected behaviour, not our own code:
- WCAG 2.2: 3.3.1 Error Identification and 1.3.1 Info and Relationships (an error is said in
  text, beside the field, tied to it: GOV.UK Design System "Error message" and "Error
  summary" patterns, aria-invalid and aria-describedby); 3.3.7 Redundant Entry (what was
  typed is not asked again); 3.1.2 Language of Parts (lang on a passage in another
  language); 2.4.2 Page Titled.
- HTML Living Standard: <bdi> and dir="auto" isolate text of unknown direction (Unicode
  UAX #9, the bidirectional algorithm: U+202E RIGHT-TO-LEFT OVERRIDE reorders what follows
  it unless isolated).
- Python 3.11: int() refuses strings of over 4,300 digits and str.isdigit() is true for
  "²" (U+00B2), which int() refuses; SQLite's INTEGER is at most 2**63 - 1.
- URL Standard / HTML: a javascript: URL in an href runs script when followed.
"""
from __future__ import annotations

import html
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from tests.web_helpers import ROOT, WebSite
from tests.web_inbox_helpers import OFFICER, inbox_site

FLAG = "\U0001F1EC\U0001F1E7"    # 🇬🇧: two regional indicators, one grapheme cluster (UAX #29 GB12)
ARABIC = "متى تفتح المكتبة يوم السبت؟ شكرا"


@pytest.fixture
def site(project):
    website = inbox_site(project)
    website.hostile = seed_hostile(website)
    website.start()
    yield website
    website.stop()


def seed_hostile(site: WebSite) -> dict[str, int]:
    """Messages a resident (or a federated server) controls every byte of."""
    from schedule.inbox import store
    from schedule.model import Incoming

    ledger = site.ledger()
    when = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
    made = {}
    try:
        for name, text, extra in (
                ("rtl", ARABIC, {"author": "\u202eevil\u202c", "language": "ar"}),
                ("script", "<script>alert(1)</script>", {"url": "javascript:alert(document.domain)"}),
                ("empty", "", {}),
                ("long", "a" * 3000, {"url": "https://social.example/@r/1"}),
                ("badlang", "hello", {"language": 'en" onmouseover="x'}),
                ("flags", "a" * 158 + FLAG * 5, {})):
            message = Incoming(f"hostile-{name}", "mention", text, when, author=extra.get("author", "@resident"),
                               url=extra.get("url"))
            made[name] = store.record(ledger, "x", "x", message, language=extra.get("language"))[0]
    finally:
        ledger.close()
    return made


def server_log(site: WebSite) -> str:
    site.stop()
    return site.process.stdout.read()


def token_for(page, message_id: int, action: str) -> str:
    found = re.search(rf'action="/inbox/{message_id}/{action}">\s*<input type="hidden" name="form_token" '
                      r'value="([^"]+)"', page.body)
    assert found, page.text()[:500]
    return found.group(1)


# ----- robustness: bad query strings -------------------------------------------------------
def test_bad_query_strings_get_a_clear_sentence_never_a_500(site):
    for page in ("-1", "abc", "0", "%C2%B2", "9" * 5000, "100000", "1.5"):
        reply = site.get(f"/inbox?page={page}", user="bob")
        assert reply.status == 400, (page[:20], reply.status)
        assert "is not a page number: use a whole number from 1" in reply.text()
        assert "There is a problem" in reply.text() and "<title>Error: Inbox" in reply.body
    # No such message: an id past SQLite's INTEGER is a 404 like any other missing one.
    huge = "9" * 25
    assert site.get(f"/inbox/{huge}", user="bob").status == 404
    assert site.post(f"/inbox/{huge}/close", {"form_token": "x", "reason": "r"}, user=OFFICER).status == 404
    # A page past the end says so, and does not claim the filters matched nothing.
    beyond = site.get("/inbox?page=500", user="bob")
    assert beyond.status == 200 and "There is no page 500" in beyond.text()
    assert "Go to the first page" in beyond.text() and "match these filters" not in beyond.text()
    # Dates at the ends of the calendar, with an offset, have no UTC time: a sentence, not a crash.
    for since in ("0001-01-01T00:00%2B01:00", "9999-12-31T23:59-01:00"):
        listed = site.get(f"/inbox?since={since}", user="bob")
        assert listed.status == 400 and "is not a date" in listed.text()
        for key in ("since", "until"):
            report = site.get(f"/reports?{key}={since}", user="bob")
            assert report.status == 200 and "is not a date" in report.text()
    assert site.get(f"/deliveries/{huge}", user="bob").status == 404
    assert site.get(f"/deliveries/{huge}/cancel", user="alice").status == 404
    # An unknown parameter is ignored, as an unknown query parameter is on any web page.
    assert site.get("/inbox?colour=red", user="bob").status == 200
    assert "Traceback" not in server_log(site)


def test_a_refused_filter_is_said_beside_its_field_and_the_form_stays(site):
    reply = site.get("/inbox?since=garbage&state=new", user="bob")
    assert reply.status == 400
    body = reply.body
    # The form is still there, the field marked invalid and described by the sentence.
    field = re.search(r'<input id="since"[^>]*>', body).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="since-error"' in field
    error = html.unescape(re.search(r'<p id="since-error"[^>]*>(.*?)</p>', body, re.S).group(1))
    assert "'garbage' is not a date" in error
    assert '<a href="#since">' in body                           # the summary links to the field
    assert re.search(r'<option value="new" selected>', body)     # what was chosen is kept
    flag = site.get("/inbox?flag=rude", user="bob")
    assert flag.status == 400 and 'aria-describedby="flag-error"' in flag.body
    assert "use one of foi, complaint, urgent, abusive, welsh" in flag.text()
    # Reports: the same for since/until.
    report = site.get("/reports?until=2027-02-30", user="bob")
    assert report.status == 200
    until = re.search(r'<input id="until"[^>]*>', report.body).group(0)
    assert 'aria-describedby="until-error"' in until and 'aria-invalid="true"' in until
    assert "'2027-02-30' is not a date" in html.unescape(
        re.search(r'<p id="until-error"[^>]*>(.*?)</p>', report.body, re.S).group(1))
    assert 'id="since-error"' not in report.body


# ----- residents' text: escaped, legible, in its own direction and language -----------------
def test_residents_text_is_escaped_isolated_and_in_its_own_language(site):
    hostile = site.hostile
    listing = site.get("/inbox", user="bob").body
    assert "<script>alert(1)</script>" not in listing and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    # The right-to-left text isolated in its own direction, its language said; the name
    # carrying U+202E isolated so it cannot reverse the words after it.
    assert re.search(rf'<bdi dir="auto" lang="ar">{ARABIC}</bdi>', listing)
    assert "<bdi>\u202eevil\u202c</bdi>" in listing
    rtl = site.get(f"/inbox/{hostile['rtl']}", user="bob")
    assert re.search(rf'<pre class="post-text" dir="auto" lang="ar">{ARABIC}</pre>', rtl.body)
    welsh = site.get(f"/inbox/{site.messages['welsh']}", user="bob")
    assert re.search(r'<pre class="post-text" dir="auto" lang="cy">Pryd mae', welsh.body)
    # A language value that is not a language tag never reaches an attribute.
    odd = site.get(f"/inbox/{hostile['badlang']}", user="bob").body
    assert 'onmouseover="' not in odd and re.search(r'<pre class="post-text" dir="auto">hello</pre>', odd)
    empty = site.get(f"/inbox/{hostile['empty']}", user="bob")
    assert empty.status == 200 and "(no text)" in empty.text()
    # A very long word wraps inside its cell instead of widening the list.
    assert re.search(r'<td class="resident"><a href="/inbox/%d">' % hostile["long"], listing)


def test_only_web_addresses_become_links(site):
    page = site.get(f"/inbox/{site.hostile['script']}", user="bob")
    assert page.status == 200
    assert 'href="javascript:' not in page.body.lower()
    assert "javascript:alert(document.domain)" in page.text()           # still on record, as text
    good = site.get(f"/inbox/{site.hostile['long']}", user="bob")
    assert '<a href="https://social.example/@r/1">' in good.body


def test_page_titles_name_the_message(site):
    message_id = site.messages["welsh"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    assert f"<title>Inbox message {message_id} from \u2068@dai\u2069 on x - civicpost</title>" in page.body
    done = site.post(f"/inbox/{message_id}/tag", {"form_token": token_for(page, message_id, "tag"), "tag": "bins"},
                     user=OFFICER)
    assert done.status == 200 and f"<title>Done: Tag, inbox message {message_id} - civicpost</title>" in done.body


# ----- actions refused: said at the field, what was typed kept, nothing cut -----------------
def test_a_refused_action_is_said_at_its_field_with_the_typed_text_kept(site):
    message_id = site.messages["on-post"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    refused = site.post(f"/inbox/{message_id}/hide", {"form_token": token_for(page, message_id, "hide"),
                                                      "reason": "house rule 3"}, user=OFFICER)
    assert refused.status == 409 and "nothing was hidden" in refused.text()
    field = re.search(r'<input id="hide-reason"[^>]*>', refused.body).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="hide-reason-error"' in field
    assert 'value="house rule 3"' in field                               # not asked again (3.3.7)
    assert "nothing was hidden" in re.search(r'<p id="hide-reason-error"[^>]*>(.*?)</p>', refused.body,
                                             re.S).group(1)
    assert refused.body.count('name="form_token"') == 6                 # fresh forms: the sent one is spent


def test_a_reply_or_note_too_long_for_the_form_is_refused_never_cut(site, project):
    message_id = site.messages["foi"]
    text = "Thank you for your request. " + "x" * 5000
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    reply = site.post(f"/inbox/{message_id}/reply", {"form_token": token_for(page, message_id, "reply"),
                                                     "text": text}, user=OFFICER)
    assert reply.status == 409 and "more than this page takes (5000)" in reply.text()
    assert not list(project.content.glob("replies/*.md"))              # no draft, not even a cut one
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    note = site.post(f"/inbox/{message_id}/note", {"form_token": token_for(page, message_id, "note"),
                                                   "text": "n" * 2001}, user=OFFICER)
    assert note.status == 409 and "more than this page takes (2000)" in note.text()
    from schedule.inbox import store
    ledger = site.ledger()
    try:
        assert store.notes(ledger, message_id) == []
    finally:
        ledger.close()


# ----- one truth: the draft page does not promise what pause withholds ----------------------
def test_a_reply_drafted_while_paused_says_it_waits_for_resume(site):
    from schedule import operator

    operator.pause(site.config, "Flood warning", actor="alice")     # what `bot.py pause` runs
    message_id = site.messages["foi"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    done = site.post(f"/inbox/{message_id}/reply", {"form_token": token_for(page, message_id, "reply"),
                                                    "text": "Thanks, we are on it."}, user=OFFICER)
    assert done.status == 200
    verdict = done.text().split("What the gate says")[1]
    assert "Posting is paused (by alice: Flood warning)" in verdict
    assert "goes out once posting is resumed" in verdict and "found nothing wrong" in verdict


def test_the_drafts_verdict_agrees_with_validate_even_when_config_toml_is_broken(site, project):
    # config.toml edited after `serve` started, badly: `bot.py validate FILE` reports it as an
    # error (it cannot judge the reply), so the page must not say "nothing wrong".
    project.config_path.write_text(project.config_path.read_text(encoding="utf-8") + "\n[broken\n",
                                   encoding="utf-8")
    message_id = site.messages["foi"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    done = site.post(f"/inbox/{message_id}/reply", {"form_token": token_for(page, message_id, "reply"),
                                                    "text": "Thanks, we are on it."}, user=OFFICER)
    assert done.status == 200
    verdict = done.text().split("What the gate says")[1]
    path = next(project.content.glob("replies/*.md"))
    cli = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "validate",
                          str(path)], capture_output=True, text=True)
    assert cli.returncode != 0                                          # the CLI says it is not sendable
    assert "found nothing wrong" not in verdict and "will not be sent until" in verdict


def test_control_characters_are_refused_not_written(site, project):
    message_id = site.messages["foi"]
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    reply = site.post(f"/inbox/{message_id}/reply", {"form_token": token_for(page, message_id, "reply"),
                                                     "text": "Thanks\x00 we are on it"}, user=OFFICER)
    assert reply.status == 409 and "control character U+0000" in reply.text()
    assert not list(project.content.glob("replies/*.md"))
    page = site.get(f"/inbox/{message_id}", user=OFFICER)
    assert site.post(f"/inbox/{message_id}/tag", {"form_token": token_for(page, message_id, "tag"),
                                                  "tag": "bins\x1b[31m"}, user=OFFICER).status == 409


def test_the_reports_headings_skip_no_level(site):
    # WCAG 1.3.1 (H42): headings give the page's outline; h2 then h4 leaves a screen-reader
    # user guessing what the missing level was.
    body = site.get("/reports", user="bob").body
    levels = [int(n) for n in re.findall(r"<h([1-6])[\s>]", body)]
    assert levels and levels[0] == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels


def test_the_lists_glimpse_never_splits_an_emoji(site):
    listing = site.get("/inbox", user="bob").body
    shown = re.search(r'<a href="/inbox/%d"><bdi dir="auto">(.*?)</bdi>' % site.hostile["flags"], listing).group(1)
    assert shown.endswith("…")
    kept = shown[:-1]
    # Whole flags only: as many G indicators as B indicators, and the text a prefix of the message.
    assert kept.count("\U0001F1EC") == kept.count("\U0001F1E7") and ("a" * 158 + FLAG * 5).startswith(kept)
