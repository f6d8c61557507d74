"""Sign-off from the web page: an approver signs off the exact text, bound to its digest;
any edit to the file voids it (issue 13).  Real HTTP against `bot.py serve`."""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.web_helpers import WebSite


@pytest.fixture
def site(project):
    website = WebSite(project).start()
    yield website
    website.stop()


def sign(site, item="pool", user="carol", note="Checked with legal"):
    page = site.get(f"/preview/{item}", user=user)
    digest = __import__("re").search(r'name="digest" value="([0-9a-f]+)"', page.body).group(1)
    return site.post(f"/signoff/{item}", {"form_token": page.token(), "digest": digest, "reason": note}, user=user)


def test_an_approver_signs_off_the_exact_file(site):
    reply = sign(site)
    assert reply.status == 200 and "You signed off Pool opens" in reply.text()
    # The digest is the sha256 of the file's bytes as they are on disk (FIPS 180-4), so the
    # sign-off names exactly what was read.
    on_disk = hashlib.sha256((site.project.content / "pool.md").read_bytes()).hexdigest()
    ledger = site.ledger()
    [event] = ledger.events(kind="signed_off")
    assert (event["item"], event["actor"], event["reason"]) == ("pool", "web:carol", "Checked with legal")
    assert json.loads(event["detail"])["digest"] == on_disk
    ledger.close()
    assert "Signed off on this page by web:carol" in site.get("/preview/pool", user="bob").text()
    assert "By web:carol" in site.get("/items/pool", user="bob").text()


def test_any_edit_voids_the_sign_off(site):
    from schedule.scanner import ContentScanner
    from schedule.signoff import approved_by_page, signoffs

    assert sign(site).status == 200
    path = site.project.content / "pool.md"
    path.write_text(path.read_text().replace("Monday", "Tuesday"))
    [item] = ContentScanner(site.config).scan([path]).items
    assert approved_by_page(item, signoffs(site.config)) is None
    page = site.get("/preview/pool", user="bob").text()
    assert "no longer counts" in page and "the file has changed since" in page
    assert "voided by a later edit" in site.get("/items/pool", user="bob").text()


def test_a_sign_off_form_for_text_since_edited_is_refused(site):
    page = site.get("/preview/pool", user="carol")
    digest = __import__("re").search(r'name="digest" value="([0-9a-f]+)"', page.body).group(1)
    path = site.project.content / "pool.md"
    path.write_text(path.read_text().replace("Monday", "Tuesday"))
    reply = site.post("/signoff/pool", {"form_token": page.token(), "digest": digest}, user="carol")
    assert reply.status == 409 and "has changed since you opened its preview" in reply.text()
    ledger = site.ledger()
    assert ledger.events(kind="signed_off") == []
    ledger.close()


def test_the_digest_cannot_be_swapped_in_the_form(site):
    page = site.get("/preview/pool", user="carol")
    reply = site.post("/signoff/pool", {"form_token": page.token(), "digest": "0" * 64}, user="carol")
    assert reply.status == 403 and "another action" in reply.text()


def test_only_approvers_and_admins_sign_off(site):
    assert 'action="/signoff/pool"' not in site.get("/preview/pool", user="bob").body
    from schedule.web import forms
    from tests.web_helpers import SECRET

    token = forms.issue(SECRET, "bob", "signoff:pool:" + "0" * 64)
    reply = site.post("/signoff/pool", {"form_token": token, "digest": "0" * 64}, user="bob")
    assert reply.status == 403 and "approver" in reply.text()
    assert sign(site, user="alice").status == 200                    # admin may too


def test_a_sign_off_form_is_used_once(site):
    page = site.get("/preview/pool", user="carol")
    digest = __import__("re").search(r'name="digest" value="([0-9a-f]+)"', page.body).group(1)
    form = {"form_token": page.token(), "digest": digest}
    assert site.post("/signoff/pool", form, user="carol").status == 200
    assert site.post("/signoff/pool", form, user="carol").status == 403
