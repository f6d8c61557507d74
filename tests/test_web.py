"""`bot.py serve`: the team's web page, tested through real HTTP against the running server.

Who may do what (issue 13): identity only from the trusted proxy's header, roles from
config, state changes only by POST with a one-use signed form, every action a ledger
event naming the signed-in user.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.web_helpers import OUTSIDER, ROOT, SECRET, WebSite


@pytest.fixture
def site(project):
    website = WebSite(project).start()
    yield website
    website.stop()


# ----- identity -------------------------------------------------------------------------
def test_missing_user_header_is_refused_and_shows_nothing(site):
    reply = site.get("/", user=None)
    assert reply.status == 401
    assert "not signed in" in reply.text()
    assert "Pool opens" not in reply.body and "pool" not in reply.text().lower()


def test_user_header_from_an_untrusted_address_is_refused(site):
    # 127.0.0.1 is not in trusted_proxies (only 127.0.0.2, the "proxy"): anyone there could
    # type the header, so it must not be believed, even for an admin's name.
    reply = site.get("/", user="alice", source=OUTSIDER)
    assert reply.status == 403
    assert "did not come through" in reply.text()
    token = site.get("/actions/pause").token()
    refused = site.post("/actions/pause", {"form_token": token, "reason": "x"}, user="alice", source=OUTSIDER)
    assert refused.status == 403
    ledger = site.ledger()
    assert ledger.get_meta("paused") != "1"
    ledger.close()


def test_user_with_no_role_is_refused(site):
    reply = site.get("/", user="mallory")
    assert reply.status == 403 and "no role" in reply.text()


def test_blank_header_counts_as_missing(site):
    assert site.get("/", user="   ").status == 401


def test_lookalike_or_doubled_headers_are_not_believed(site):
    # WSGI turns dashes into underscores, so X_Remote_User would alias X-Remote-User if the
    # server kept it (a proxy that strips only the dashed name would let it through).
    assert site.get("/", user=None, headers={"X_Remote_User": "alice"}).status == 401
    # A proxy that appends instead of replacing yields "mallory, alice": not a user name.
    conn_reply = site.get("/", user="mallory, alice")
    assert conn_reply.status == 400 and "more than one user name" in conn_reply.text()


# ----- roles ----------------------------------------------------------------------------
def test_viewer_sees_pages_but_no_action_buttons(site):
    reply = site.get("/", user="bob")
    assert reply.status == 200
    assert "Pause all posting" not in reply.text() and "Release" not in reply.text()


def test_a_role_without_the_right_cannot_pause_even_with_a_valid_form(site):
    from schedule.web import forms

    assert site.get("/actions/pause", user="bob").status == 403
    assert site.get("/actions/pause", user="carol").status == 403      # approver: sign-off, not operate
    # A correctly signed form made out to bob still does not give bob the admin's right.
    token = forms.issue(SECRET, "bob", "pause")
    reply = site.post("/actions/pause", {"form_token": token, "reason": "trying"}, user="bob")
    assert reply.status == 403 and "needs the role admin" in reply.text()
    ledger = site.ledger()
    assert ledger.get_meta("paused") != "1" and ledger.events(kind="paused") == []
    ledger.close()


# ----- actions: POST, one-use signed forms, events with who -------------------------------
def test_admin_pause_is_an_event_with_who_and_why(site):
    confirm = site.get("/actions/pause")
    assert confirm.status == 200 and 'method="post"' in confirm.body
    reply = site.post("/actions/pause", {"form_token": confirm.token(), "reason": "Flood warning"})
    assert reply.status == 200 and "Posting is paused" in reply.text()
    ledger = site.ledger()
    assert ledger.get_meta("paused") == "1" and ledger.get_meta("paused_by") == "web:alice"
    [event] = ledger.events(kind="paused")
    assert (event["actor"], event["reason"]) == ("web:alice", "Flood warning")
    ledger.close()
    now = site.get("/", user="bob").text()
    assert "Paused by web:alice: Flood warning" in now


def test_resume_confirmation_lists_what_goes_out_at_once_and_what_stays_held(site):
    """Issue 10 §4: resume lists what will go out at once before asking (the CLI does; so must
    the page), so a cheerful post does not slip out after a grave pause.  The fixture's held
    pool post was due 5 minutes ago (inside the default 15-minute grace: goes at once); one
    due 2 hours ago is past grace and stays held."""
    from datetime import datetime, timedelta, timezone

    ledger = site.ledger()
    ledger.set_meta(paused="1", paused_by="web:alice", paused_reason="Major incident")
    old = ledger.add("summer", "log", "log", datetime.now(timezone.utc) - timedelta(hours=2), source="summer.md")
    ledger.transition(old, "held", reason="paused by operator", hold_reason="paused")
    ledger.close()
    page = site.get("/actions/resume").text()
    at_once = page[page.index("Goes out at once"):page.index("Stays held")]
    held = page[page.index("Stays held"):]
    assert f"{site.ids['held']}: pool on log, planned for" in at_once
    assert f"{old}: summer" in held and "summer" not in at_once


def test_a_replayed_form_is_refused(site):
    token = site.get("/actions/pause").token()
    assert site.post("/actions/pause", {"form_token": token, "reason": "first"}).status == 200
    resume = site.get("/actions/resume").token()
    assert site.post("/actions/resume", {"form_token": resume}).status == 200
    replay = site.post("/actions/pause", {"form_token": token, "reason": "first"})
    assert replay.status == 403 and "already been used" in replay.text()
    ledger = site.ledger()
    assert len(ledger.events(kind="paused")) == 1 and ledger.get_meta("paused") == "0"
    ledger.close()


def test_a_form_for_one_delivery_cannot_act_on_another(site):
    token = site.get(f"/deliveries/{site.ids['failed']}/cancel").token()
    reply = site.post(f"/deliveries/{site.ids['held']}/cancel", {"form_token": token})
    assert reply.status == 403 and "another action" in reply.text()
    ledger = site.ledger()
    assert ledger.get(site.ids["held"])["state"] == "held"
    ledger.close()


def test_a_form_issued_to_someone_else_or_forged_is_refused(site):
    from schedule.web import forms

    stolen = forms.issue(SECRET, "bob", "pause")                 # made out to bob, sent by alice
    assert site.post("/actions/pause", {"form_token": stolen, "reason": "x"}).status == 403
    forged = forms.issue("another-secret-" + "x" * 32, "alice", "pause")
    reply = site.post("/actions/pause", {"form_token": forged, "reason": "x"})
    assert reply.status == 403 and "not issued by this site" in reply.text()
    assert site.post("/actions/pause", {"reason": "no token"}).status == 403


def test_state_changes_need_post(site):
    # A GET only shows the confirmation; it changes nothing.
    site.get("/actions/pause")
    site.get(f"/deliveries/{site.ids['held']}/cancel")
    ledger = site.ledger()
    assert ledger.get_meta("paused") != "1" and ledger.get(site.ids["held"])["state"] == "held"
    ledger.close()


def test_release_and_cancel_go_through_the_operator_functions(site):
    held, failed = site.ids["held"], site.ids["failed"]
    page = site.get(f"/deliveries/{held}/release")
    assert "pool on log" in page.text()
    done = site.post(f"/deliveries/{held}/release", {"form_token": page.token(), "reason": "late but needed"})
    assert done.status == 200 and "is released" in done.text()
    page = site.get(f"/deliveries/{failed}/cancel")
    assert site.post(f"/deliveries/{failed}/cancel", {"form_token": page.token()}).status == 200
    ledger = site.ledger()
    released = ledger.get(held)
    assert released["state"] == "scheduled" and released["released"] == 1
    assert ledger.get(failed)["state"] == "cancelled"
    kinds = {(e["kind"], e["actor"]) for e in ledger.events(delivery_id=held) + ledger.events(delivery_id=failed)}
    assert ("released", "web:alice") in kinds and ("cancelled", "web:alice") in kinds
    ledger.close()


def test_an_action_the_operator_refuses_is_one_clear_message(site):
    posted = site.ids["posted"]
    token = site.get(f"/deliveries/{posted}/cancel").token()
    reply = site.post(f"/deliveries/{posted}/cancel", {"form_token": token})
    assert reply.status == 409 and "it cannot be cancelled" in reply.text()
    assert "Traceback" not in reply.body


def test_pause_without_a_reason_is_refused_like_the_cli(site):
    token = site.get("/actions/pause").token()
    reply = site.post("/actions/pause", {"form_token": token, "reason": "  "})
    assert reply.status == 409 and "needs" in reply.text()


# ----- pages ----------------------------------------------------------------------------
def test_now_page_shows_state_blackouts_attention_and_next_24_hours(site):
    text = site.get("/").text()
    assert "Not running" in text and "Not paused" in text
    assert "Pre-election period" in text
    assert "403 duplicate content" in text                # the failed one needs attention
    assert "paused" in text                                # the held one, with its reason
    # The pool post on x is planned 3 hours from now: it is in the next 24 hours.
    assert f"{site.soon:%H:%M}" in text


def test_now_page_lists_tokens_that_expire_soon(site):
    from datetime import datetime, timedelta, timezone

    from schedule.tokens import remember

    soon = datetime.now(timezone.utc) + timedelta(days=3)
    remember(site.config, [{"channel": "x", "expires_at": soon.isoformat(), "warning": None, "error": None},
                           {"channel": "log", "expires_at": None, "warning": None, "error": None}])
    text = site.get("/").text()
    assert "x : its token expires on" in text and "(3 days): renew it soon" in text
    assert "log : " not in text


def test_times_are_local_with_the_zone_abbreviation(site):
    # Europe/London is UTC+1 (BST) from the last Sunday of March to the last Sunday of
    # October, UTC+0 (GMT) otherwise (the Summer Time Order 2002; tz database "GB-Eire").
    july = site.get("/calendar?view=month&start=2030-07-01").text()
    assert "10:00 BST" in july and "Summer fair" in july
    january = site.get("/items/winter").text()
    assert "Tue 15 Jan 2030 10:00 GMT" in january


def test_calendar_week_month_and_per_channel(site):
    week = site.get(f"/calendar?start={site.soon:%Y-%m-%d}")
    assert week.status == 200 and "Pool opens" in week.text()
    assert '/preview/pool#channel-x' in week.body and '/preview/pool#channel-log' in week.body
    only_log = site.get(f"/calendar?start={site.soon:%Y-%m-%d}&channel=log").body
    assert '/preview/pool#channel-log' in only_log and '/preview/pool#channel-x' not in only_log
    month = site.get("/calendar?view=month&start=2030-01-20").text()
    assert "January 2030" in month and "Winter fair" in month and "Summer fair" not in month
    assert site.get("/calendar?channel=nope").status == 404


def test_preview_page_shows_what_the_cli_preview_shows(site):
    from schedule.preview import preview

    page = site.get("/preview/pool").text()
    [item], _ = preview(site.project.config_path, [str(site.project.content / "pool.md")])
    for variant in item["variants"]:
        for part in variant["parts"]:
            assert " ".join(part["text"].split()) in page
            assert f"{part['length']} of {variant['limit']} characters" in page
    # X counts every URL as 23 characters, whatever its length (developer.x.com,
    # "Counting characters": t.co wrapping); the body is 32 characters of text plus one link.
    body = "The pool opens on Monday. Book at https://www.example.gov.uk/pool/booking"
    assert f"{len('The pool opens on Monday. Book at ') + 23} of 280 characters" in page
    assert "Alt text: The new pool with six lanes" in page
    assert 'alt="The new pool with six lanes"' in site.get("/preview/pool").body
    assert site.get("/media/pool.png").status == 200
    assert site.get("/media/../config.toml").status == 404
    assert body


def test_post_page_shows_deliveries_history_links_commit_and_author(site):
    reply = site.get("/items/winter")
    text = reply.text()
    assert "https://social.example/posts/1" in text and 'href="https://social.example/posts/1"' in reply.body
    assert "feedbeef" * 5 in text and "Priya Shah" in text
    assert "publishing" in text and "posted" in text and "planner" in text   # events: what and who
    pool = site.get("/items/pool").text()
    assert "paused by operator" in pool and "network refused it" in pool    # why


def test_unknown_item_is_404_not_a_traceback(site):
    reply = site.get("/items/nope")
    assert reply.status == 404 and "Traceback" not in reply.body


def test_pages_carry_no_scripts_and_forbid_framing(site):
    reply = site.get("/")
    assert "<script" not in reply.body
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "script-src" not in reply.headers["content-security-policy"]   # default-src 'none' covers it


# ----- the command ------------------------------------------------------------------------
def run_serve(project, env=None):
    import os
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CIVICPOST_")}
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "serve"],
                          capture_output=True, text=True, timeout=60, env={**environ, **(env or {})})


def test_serve_without_a_secret_says_so_in_one_line(project):
    done = run_serve(project)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "CIVICPOST_WEB_SECRET" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_a_bad_listen_names_the_key(project):
    project.write_config(extra='[web]\nlisten = "everywhere"\n')
    done = run_serve(project, {"CIVICPOST_WEB_SECRET": SECRET})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "config.toml:4" in done.stderr and "[web] listen" in done.stderr


def test_serve_on_a_port_in_use_says_so(project):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        project.write_config(extra=f'[web]\nlisten = "127.0.0.1:{busy.getsockname()[1]}"\n')
        done = run_serve(project, {"CIVICPOST_WEB_SECRET": SECRET})
    assert done.returncode == 1 and "cannot listen on" in done.stderr and "Traceback" not in done.stderr


def test_sigterm_stops_the_server_cleanly(project):
    website = WebSite(project).start()
    assert website.get("/").status == 200
    website.stop()
    assert website.process.returncode == 0, website.process.stdout.read()


def test_listens_on_loopback_unless_told(project):
    from schedule.web.settings import web_settings

    settings = web_settings(project.config())
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.trusts("127.0.0.1") and not settings.trusts("10.0.0.5")


def test_roles_are_not_ranked_and_star_means_anyone_signed_in(project):
    from schedule.web.settings import web_settings

    project.write_config(extra='[web.roles]\nviewer = ["*"]\napprover = ["carol"]\nadmin = ["alice"]\n')
    settings = web_settings(project.config())
    assert settings.rights_of("anyone") == {"view"}
    assert "operate" not in settings.rights_of("carol") and "signoff" in settings.rights_of("carol")
    assert "operate" in settings.rights_of("alice")


def test_unknown_role_is_one_line_naming_it(project):
    from schedule.errors import ConfigError
    from schedule.web.settings import web_settings

    project.write_config(extra='[web.roles]\nsuperuser = ["eve"]\n')
    with pytest.raises(ConfigError, match=r"\[web.roles\] superuser: unknown role"):
        web_settings(project.config())


def test_the_systemd_unit_runs_serve_with_the_secret_as_a_credential():
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "deploy" / "civicpost-web.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[-1] == "serve" and "--config /etc/civicpost/config.toml" in service["ExecStart"]
    assert service["LoadCredential"].startswith("web_secret:")       # secrets.get_secret("web", "secret")
    assert "/var/lib/civicpost" in service["ReadWritePaths"]          # actions and used forms go in the ledger
    assert service["User"] == "civicpost" and service["NoNewPrivileges"] == "yes"


def test_reports_count_posts_per_channel_per_month(site):
    from datetime import datetime, timedelta, timezone

    from schedule.timeutil import to_utc_key

    ledger = site.ledger()
    now = datetime.now(timezone.utc)
    last_month = now.astimezone(site.config.timezone).replace(day=1) - timedelta(days=3)
    for n, (channel, when) in enumerate([("x", now), ("x", now), ("log", now), ("x", last_month)]):
        row = ledger.add(f"old-{n}", channel, channel, when - timedelta(hours=1))
        ledger.transition(row, "posted", posted_at=to_utc_key(when))
    ledger.close()
    reply = site.get("/reports", user="bob")
    assert reply.status == 200
    this_label = f"{now.astimezone(site.config.timezone):%b %Y}"
    last_label = f"{last_month:%b %Y}"
    import re
    tables = {m.group(1): m.group(2) for m in re.finditer(r'aria-label="Posts per month on (\w+)".*?<tbody>(.*?)</tbody>',
                                                          reply.body, re.S)}
    heads = re.findall(r'<th scope="col">([^<]+)</th>', reply.body.split('aria-label="Posts per month on x"')[1])[:12]
    x_counts = dict(zip(heads, re.findall(r"<td>(\d+)</td>", tables["x"])))
    log_counts = dict(zip(heads, re.findall(r"<td>(\d+)</td>", tables["log"])))
    assert x_counts[this_label] == "2" and x_counts[last_label] == "1" and log_counts[this_label] == "1"
    assert '<svg role="img"' in reply.body


def test_a_bilingual_pair_is_one_calendar_entry_and_one_post_page(project):
    # Paired mode: one post per language, "<id>#<lang>" in the ledger (docs/content.md).
    from datetime import datetime, timedelta, timezone

    from schedule.ledger import Ledger

    website = WebSite(project)
    text = project.config_path.read_text()
    project.config_path.write_text(text.replace("[web]", '[languages]\nrequired = ["cy", "en"]\nfirst = "cy"\n'
                                                'mode = "paired"\n[web]', 1))
    when = (datetime.now(timezone.utc) + timedelta(hours=5)).replace(second=0, microsecond=0)
    project.post("market.md", f"id: market\npublish_at: {when.isoformat()}\ntitle: Market\ntitle_cy: Marchnad\n"
                              "approved_by: Tom Hughes\nlang: en\nbody_cy: Mae'r farchnad yn ôl.", "The market is back.")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    ledger.add("market#cy", "log", "log", when)
    ledger.add("market#en", "log", "log", when + timedelta(seconds=2))
    ledger.close()
    website.config = config
    website.start()
    try:
        week = website.get(f"/calendar?start={when.astimezone(config.timezone):%Y-%m-%d}&channel=log").text()
        assert week.count("Market (preview)") == 1 and "log (cy)" in week and "log (en)" in week
        post = website.get("/items/market").text()
        assert post.count("History of delivery") == 2
    finally:
        website.stop()


def test_calendar_in_a_zone_whose_midnight_is_skipped(project):
    # America/Santiago springs forward at 24:00 on Saturday 7 September 2030 (tz database,
    # "Chile" rules: -04 to -03), so Sunday 8 September starts at 01:00 -03, 04:00 UTC.
    from datetime import date, datetime, timezone

    from schedule.web.pages import _day_start, window

    project.write_config(timezone="America/Santiago")
    config = project.config()
    assert _day_start(date(2030, 9, 8), config).astimezone(timezone.utc) == datetime(2030, 9, 8, 4, tzinfo=timezone.utc)
    begin, end, _, _ = window(config, "week", "2030-09-08", datetime(2030, 9, 1, tzinfo=timezone.utc))
    assert (begin.date().isoformat(), end.date().isoformat()) == ("2030-09-02", "2030-09-09")


def test_an_edit_reaches_the_calendar_without_a_restart(site):
    import time

    start = f"/calendar?start={site.soon:%Y-%m-%d}"
    assert "Pool opens" in site.get(start).text()
    path = site.project.content / "pool.md"
    path.write_text(path.read_text().replace("title: Pool opens", "title: Pool reopens"))
    deadline = time.monotonic() + 15        # the folder watch debounces 0.5 s
    while "Pool reopens" not in site.get(start).text():
        assert time.monotonic() < deadline, "the calendar never showed the edit"
        time.sleep(0.2)
