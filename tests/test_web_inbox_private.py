"""Direct messages on the web page (#11, #13): private correspondence to the council is read
only by those who answer it.  UK GDPR Article 5(1)(f) and the ICO's guidance on security
("access on a need-to-know basis") are why a `viewer` — often everyone the sign-in lets in —
sees that a direct message exists, never its words or who sent it."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.web_inbox_helpers import OFFICER, inbox_site

SECRET_WORDS = "My son's school has not told me about the safeguarding meeting, my address is 4 Mill Lane"
AUTHOR = "@worried_parent"


@pytest.fixture
def site(project):
    website = inbox_site(project)
    from schedule.inbox import store
    from schedule.model import Incoming

    ledger = website.ledger()
    try:
        message = Incoming("dm-1", "direct", SECRET_WORDS, datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Europe/London")),
                           author=AUTHOR, conversation="dm-conv-1")
        website.messages["dm"] = store.record(ledger, "x", "x", message)[0]
    finally:
        ledger.close()
    website.start()
    yield website
    website.stop()


def test_a_viewer_sees_that_a_direct_message_exists_but_not_its_words(site):
    # bob is a viewer in the web tests' config; alice an admin; olivia an officer.
    listing = site.get("/inbox", user="bob")
    assert listing.status == 200
    assert f'href="/inbox/{site.messages["dm"]}"' in listing.body
    assert SECRET_WORDS[:40] not in listing.body and AUTHOR not in listing.body
    page = site.get(f"/inbox/{site.messages['dm']}", user="bob")
    assert page.status == 200
    assert SECRET_WORDS[:40] not in page.body and AUTHOR not in page.body
    assert "only officers and admins can read it" in page.body
    # Other messages are not hidden from viewers.
    assert "Is the tip open this weekend?" in listing.body


@pytest.mark.parametrize("user", [OFFICER, "alice"])
def test_those_who_answer_it_read_it(site, user):
    page = site.get(f"/inbox/{site.messages['dm']}", user=user)
    assert page.status == 200
    assert SECRET_WORDS in page.body.replace("&#39;", "'") and AUTHOR in page.body
