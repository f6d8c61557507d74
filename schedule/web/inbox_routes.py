"""The Inbox pages' routes (a Flask Blueprint): the list, a conversation, and the officer
actions (assign, tag, note, close, hide, reply draft).

Identity and roles are app.py's (its before_request runs for these routes too).  Each
action is a POST carrying a one-use form token bound to the user, the action and the
message (forms.py: an "inbox-close:12" form cannot close 13), needs the right ``triage``
(roles officer and admin, settings.RIGHTS), and runs the CLI's own function with the actor
``web:<user>`` (inbox_pages.act), so the ledger's inbox_events say who did it.
"""
from __future__ import annotations

import logging
from typing import Callable

from flask import Blueprint, Flask, abort, g, render_template, request

from ..config import Config
from ..errors import BotError
from ..secrets import mask
from . import forms, inbox_pages

log = logging.getLogger("civicpost.web")


def register(app: Flask, config: Config, secret: str, need: Callable[[str], None]) -> None:
    inbox = Blueprint("inbox", __name__)
    app.jinja_env.filters["foi_date"] = inbox_pages.foi_date
    app.jinja_env.filters["language_tag"] = inbox_pages.language_tag
    app.jinja_env.filters["shorten"] = inbox_pages.shorten
    app.jinja_env.tests["web_link"] = inbox_pages.web_link

    @inbox.get("/inbox")
    def inbox_list():
        try:
            filters = inbox_pages.filters_from(request.args, config)
        except inbox_pages.FilterError as exc:
            # The list's own form again, the sentence beside the field it is about (WCAG 3.3.1).
            return render_template("inbox.html", page="inbox", error=mask(exc), error_field=exc.field,
                                   **inbox_pages.empty_list(config, exc.filters)), 400
        return render_template("inbox.html", page="inbox",
                               **inbox_pages.for_reader(inbox_pages.list_page(config, filters), g.rights))

    def conversation_view(message_id: int, refused: str | None = None, action: str | None = None,
                          typed: str = "", status: int = 200):
        """The conversation with fresh action forms; after a refusal, the CLI's sentence beside
        the field it is about, with what was typed still in it (WCAG 3.3.1 and 3.3.7: the form
        just sent is spent, so going back would only find a used form)."""
        # Past SQLite's INTEGER (2**63 - 1) no message can exist, and the driver would raise.
        data = inbox_pages.conversation_page(config, message_id) if message_id <= inbox_pages.MAX_ID else None
        if data is None:
            abort(404, f"There is no inbox message {message_id}.")
        data = inbox_pages.for_reader(data, g.rights)
        tokens = {}
        if "triage" in g.rights and not data["message"]["own"]:
            tokens = {name: forms.issue(secret, g.user, f"inbox-{name}:{message_id}")
                      for name in inbox_pages.ACTIONS}
        return render_template("inbox_message.html", page="inbox", tokens=tokens, error=refused,
                               error_field=inbox_pages.FIELD_IDS.get(action or ""),
                               error_heading=inbox_pages.ACTIONS.get(action or ""),
                               typed={action: typed} if action else {}, **data), status

    @inbox.get("/inbox/<int:message_id>")
    def conversation(message_id: int):
        return conversation_view(message_id)

    @inbox.post("/inbox/<int:message_id>/<action>")
    def act(message_id: int, action: str):
        if action not in inbox_pages.ACTIONS or message_id > inbox_pages.MAX_ID:
            abort(404, "There is no such action.")
        need("triage")
        try:
            forms.redeem(secret, request.form.get("form_token", ""), g.user, f"inbox-{action}:{message_id}", config)
        except forms.FormRefused as refusal:
            abort(403, str(refusal))
        try:
            result = inbox_pages.act(config, message_id, action, request.form, g.user)
        except BotError as exc:
            typed = request.form.get(inbox_pages.FIELDS[action][0]) or ""
            return conversation_view(message_id, mask(exc), action, typed, 409)
        log.info("inbox %s %s by web:%s", action, message_id, g.user)
        return render_template("inbox_done.html", page="inbox", action=action,
                               heading=inbox_pages.ACTIONS[action], flag_words=inbox_pages.FLAG_WORDS, **result)

    app.register_blueprint(inbox)
