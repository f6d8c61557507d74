"""Inbox messages for the web page's tests (#13), stored the way `inbox fetch` stores them:
each text assessed by the inbox's own triage (flags, language, FOI date), recorded with
store.record, and the council's replies marked by triage.answered_by, as fetch does.

The times are chosen so the expected figures follow from the rules alone:
- the FOI request arrives on Tue 19 May 2026; the ICO's 20 working days ("the day after
  receipt is day one") skip Mon 25 May 2026, the spring bank holiday (gov.uk/bank-holidays),
  so it is due on Wed 17 June 2026 (16 June without the holiday);
- three messages on x are answered after 1, 2 and 17 office hours (09:00-17:00, Mon-Fri,
  November 2026 has no England and Wales bank holiday): Fri 6 Nov 16:30 -> Mon 9 Nov 09:30
  is 0.5 h + 0.5 h; Mon 9 Nov 10:00 -> 12:00 is 2 h; Tue 10 Nov 09:00 -> Thu 12 Nov 10:00 is
  8 + 8 + 1 h.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.web_helpers import PROXY, WebSite

LONDON = ZoneInfo("Europe/London")
FOI_TEXT = "Under the Freedom of Information Act please provide the number of potholes reported in 2026"
WELSH_TEXT = "Pryd mae'r llyfrgell ar agor ddydd Sadwrn? Diolch yn fawr iawn am eich help."
OFFICER = "olivia"


def inbox_site(project, trusted: str = PROXY, inbox: str = "", extra_messages: int = 0) -> WebSite:
    """A WebSite with an officer (olivia), an optional [inbox] table and seeded messages
    (``site.messages``: name -> id)."""
    site = WebSite(project, trusted=trusted)
    text = project.config_path.read_text(encoding="utf-8")
    text = text.replace("[web.roles]\n", f'[web.roles]\nofficer = ["{OFFICER}"]\n')
    project.config_path.write_text(text + (f"\n[inbox]\n{inbox}\n" if inbox else ""), encoding="utf-8")
    site.config = project.config()
    site.messages = seed(site, extra_messages)
    return site


def seed(site: WebSite, extra: int = 0) -> dict[str, int]:
    from schedule.inbox import store, triage
    from schedule.ledger import Ledger
    from schedule.model import Incoming

    config = site.config
    assess = triage.Triage(config).assess
    ledger = Ledger(config.database, config.timezone)
    ids: dict[str, int] = {}

    def add(name, channel, text, when, author="@resident", remote=None, delivery=None, parent=None,
            conversation=None, own=False):
        message = Incoming(remote or name, "mention" if delivery is None and not own else "reply", text, when,
                           author=author, parent_id=parent, conversation=conversation, own=own)
        flags, language, due = assess(text, when)
        ids[name] = store.record(ledger, channel, config.channels[channel].network, message, delivery=delivery,
                                 flags=flags, language=language, foi_due=due)[0]
        return ids[name]

    try:
        add("foi", "x", FOI_TEXT, datetime(2026, 5, 19, 10, 0, tzinfo=LONDON), author="@pothole_counter")
        add("welsh", "x", WELSH_TEXT, datetime(2026, 11, 2, 11, 0, tzinfo=LONDON), author="@dai")
        for name, asked, answered in (("a", (6, 16, 30), (9, 9, 30)), ("b", (9, 10, 0), (9, 12, 0)),
                                      ("c", (10, 9, 0), (12, 10, 0))):
            add(name, "x", f"Is the tip open this weekend? ({name})", datetime(2026, 11, *asked, tzinfo=LONDON),
                conversation=name)
            own = add(f"{name}-answer", "x", "Yes, 9 to 4.", datetime(2026, 11, *answered, tzinfo=LONDON),
                      remote=f"{name}-answer", parent=name, conversation=name, own=True)
            triage.answered_by(ledger, store.message(ledger, own))
        posted = ledger.get(site.ids["posted"])
        on_post = add("on-post", "log", "Is the winter fair free?", datetime(2030, 1, 15, 11, 0, tzinfo=LONDON),
                      remote="log-r1", delivery=posted, parent="log-1", conversation="log-1")
        # The resident edits the comment: a second version, the first kept.
        store.record(ledger, "log", "log", Incoming("log-r1", "reply", "Is the winter fair free for children?",
                                                    datetime(2030, 1, 15, 11, 0, tzinfo=LONDON), author="@resident",
                                                    parent_id="log-1", conversation="log-1",
                                                    edited_at=datetime(2030, 1, 15, 11, 5, tzinfo=LONDON)),
                     delivery=posted)
        ids["on-post"] = on_post
        start = datetime(2026, 10, 1, 9, 0, tzinfo=LONDON)
        for number in range(extra):
            add(f"bulk-{number}", "log", f"Thanks for the update number {number}", start + timedelta(minutes=number))
    finally:
        ledger.close()
    return ids
