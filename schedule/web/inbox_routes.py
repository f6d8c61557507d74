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

    @inbox.get("/inbox")
    def inbox_list():
        try:
            filters = inbox_pages.filters_from(request.args, config)
        except BotError as exc:
            abort(400, mask(exc))
        return render_template("inbox.html", page="inbox", **inbox_pages.list_page(config, filters))

    @inbox.get("/inbox/<int:message_id>")
    def conversation(message_id: int):
        data = inbox_pages.conversation_page(config, message_id)
        if data is None:
            abort(404, f"There is no inbox message {message_id}.")
        tokens = {}
        if "triage" in g.rights and not data["message"]["own"]:
            tokens = {action: forms.issue(secret, g.user, f"inbox-{action}:{message_id}")
                      for action in inbox_pages.ACTIONS}
        return render_template("inbox_message.html", page="inbox", tokens=tokens, **data)

    @inbox.post("/inbox/<int:message_id>/<action>")
    def act(message_id: int, action: str):
        if action not in inbox_pages.ACTIONS:
            abort(404, "There is no such action.")
        need("triage")
        try:
            forms.redeem(secret, request.form.get("form_token", ""), g.user, f"inbox-{action}:{message_id}", config)
        except forms.FormRefused as refusal:
            abort(403, str(refusal))
        try:
            result = inbox_pages.act(config, message_id, action, request.form, g.user)
        except BotError as exc:
            return render_template("error.html", code=409, title="Not done", message=mask(exc),
                                   back=message_id), 409
        log.info("inbox %s %s by web:%s", action, message_id, g.user)
        return render_template("inbox_done.html", page="inbox", action=action,
                               heading=inbox_pages.ACTIONS[action], flag_words=inbox_pages.FLAG_WORDS, **result)

    app.register_blueprint(inbox)
