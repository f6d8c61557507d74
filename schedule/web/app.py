"""The team's web page (Flask): routes that call the same functions as bot.py.

Who is asking comes from the single sign-on proxy in front (`[web] user_header`), and is
believed only from `[web] trusted_proxies`; what they may do comes from `[web.roles]`.
Every change is a POST carrying a one-use signed form (forms.py) and goes through
schedule/operator.py with the signed-in user as the actor of its ledger event.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Flask, abort, g, redirect, render_template, request, send_from_directory, url_for

from .. import operator, signoff
from ..config import Config
from ..errors import BotError
from ..inbox import report as inbox_report
from ..languages import split_delivery_item
from ..database import open_configured
from ..ledger import public_row
from ..secrets import mask
from . import forms, inbox_pages, inbox_routes, pages
from .content import Content
from .settings import RIGHTS, WebSettings

HERE = Path(__file__).parent
log = logging.getLogger("civicpost.web")


def create_app(config: Config, settings: WebSettings, secret: str, content: Content | None = None) -> Flask:
    content = content or Content(config)
    # Reports' inbox counts are recounted in the background as soon as the inbox changes, so
    # a visit does not wait for a count of every message (inbox/report.py keep_warm).
    threading.Thread(target=inbox_report.keep_warm, args=(config, content.stopping), name="civicpost-web-report",
                     daemon=True).start()
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    app.jinja_env.filters["local"] = lambda value: pages.local_time(value, config)
    app.jinja_env.filters["clock"] = lambda value: pages.local_time(value, config, with_date=False)
    # A bilingual pair's deliveries are "<id>#<lang>" in the ledger; pages are per item.
    app.jinja_env.filters["item_of"] = lambda delivery_item: split_delivery_item(delivery_item)[0]

    @app.before_request
    def identify():
        if request.endpoint == "static":
            return None
        if not settings.trusts(request.remote_addr):
            abort(403, "This page is reached through the council's sign-in; this request did not come through it.")
        user = (request.headers.get(settings.user_header) or "").strip()
        if not user:
            abort(401, "You are not signed in: the sign-in service did not say who you are.")
        if "," in user:
            # Two headers joined: the proxy passed on one the browser sent instead of replacing it.
            abort(400, "The sign-in service sent more than one user name; ask the administrator to check it.")
        g.user = user
        g.roles = settings.roles_of(user)
        g.rights = settings.rights_of(user)
        if "view" not in g.rights:
            abort(403, f"You are signed in as {user}, but you have no role on this page. Ask an administrator "
                  "to add you to [web.roles] in config.toml.")
        return None

    @app.after_request
    def harden(response):
        # No scripts at all; nothing may frame the page (clickjacking on the action forms).
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                                       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def refused(error):
        return render_template("error.html", code=error.code, title=error.name, message=error.description), error.code

    @app.context_processor
    def common():
        return {"user": g.get("user"), "roles": g.get("roles", ()), "rights": g.get("rights", set()),
                "zone": config.timezone.key}

    def need(right: str) -> None:
        if right not in g.rights:
            roles = ", ".join(role for role, rights in RIGHTS.items() if right in rights)
            abort(403, f"You are signed in as {g.user} ({', '.join(g.roles)}); this needs the role {roles}.")

    @app.get("/")
    def now():
        return render_template("now.html", page="now", **pages.now_page(config, content))

    @app.get("/calendar")
    def calendar():
        channel = request.args.get("channel") or None
        if channel and channel not in config.channels:
            abort(404, f"There is no channel called {channel}.")
        data = pages.calendar_page(config, content, request.args.get("view", "week"), request.args.get("start"), channel)
        return render_template("calendar.html", page="calendar", **data)

    @app.get("/reports")
    def reports():
        return render_template("reports.html", page="reports", **pages.reports_page(config),
                               inbox=inbox_pages.report_page(config, request.args))

    @app.get("/items/<path:item_id>")
    def post(item_id: str):
        data = pages.post_page(config, content, item_id)
        if data is None:
            abort(404, f"There is no item {item_id} in the content folder or the ledger.")
        return render_template("post.html", page="post", **data)

    @app.get("/preview/<path:item_id>")
    def item_preview(item_id: str):
        data = pages.preview_page(config, content, item_id)
        if data is None:
            abort(404, f"There is no item {item_id} in the content folder.")
        token = forms.issue(secret, g.user, f"signoff:{item_id}:{data['digest']}") if "signoff" in g.rights else None
        return render_template("preview.html", page="preview", token=token, **data)

    @app.get("/media/<path:name>")
    def media(name: str):
        # Only the content's media folder; send_from_directory refuses paths that leave it.
        return send_from_directory(config.content_dir / "media", name)

    # ----- actions: a confirmation page (GET) and the change itself (POST) ----------
    ACTIONS = {"pause": "Pause all posting", "resume": "Resume posting",
               "release": "Release this delivery", "cancel": "Cancel this delivery"}

    def delivery(delivery_id: int | None) -> dict | None:
        """One delivery in the public shape plus why it is held, or a 404 page."""
        if delivery_id is None:
            return None
        if delivery_id > inbox_pages.MAX_ID:           # past SQLite's INTEGER: none, and the driver would raise
            abort(404, f"There is no delivery {delivery_id}.")
        ledger = open_configured(config, readonly=True)
        row = ledger.get(delivery_id) if ledger else None
        if ledger:
            ledger.close()
        if row is None:
            abort(404, f"There is no delivery {delivery_id}.")
        return {**public_row(row, config.timezone), "hold_reason": row["hold_reason"]}

    def confirm(action: str, delivery_id: int | None = None):
        need("operate")
        target = f"{action}:{delivery_id}" if delivery_id is not None else action
        # Resume: what goes out at once and what stays held, as `bot.py resume` lists before asking.
        plan = operator.resume_plan(config) if action == "resume" else None
        return render_template("confirm.html", page="action", action=action, heading=ACTIONS[action],
                               delivery=delivery(delivery_id), token=forms.issue(secret, g.user, target),
                               target=request.path, plan=plan)

    def act(action: str, delivery_id: int | None = None):
        need("operate")
        target = f"{action}:{delivery_id}" if delivery_id is not None else action
        try:
            forms.redeem(secret, request.form.get("form_token", ""), g.user, target, config)
        except forms.FormRefused as refusal:
            abort(403, str(refusal))
        reason = (request.form.get("reason") or "").strip()[:500]
        actor = f"web:{g.user}"
        try:
            if action == "pause":
                result = operator.pause(config, reason, actor=actor)
            elif action == "resume":
                result = operator.resume(config, reason, actor=actor)
            elif action == "release":
                result = operator.release(config, [delivery_id], reason, actor=actor)
            else:
                result = operator.cancel(config, delivery_id, reason, actor=actor)
        except BotError as exc:
            return render_template("error.html", code=409, title="Not done", message=mask(exc)), 409
        log.info("%s%s by %s: %s", action, f" {delivery_id}" if delivery_id is not None else "", actor,
                 mask(reason) or "(no reason)")
        return render_template("done.html", page="action", action=action, heading=ACTIONS[action], result=result,
                               delivery=delivery(delivery_id))

    @app.get("/actions/<action>")
    def confirm_global(action: str):
        if action not in ("pause", "resume"):
            abort(404, "There is no such action.")
        return confirm(action)

    @app.post("/actions/<action>")
    def act_global(action: str):
        if action not in ("pause", "resume"):
            abort(404, "There is no such action.")
        return act(action)

    @app.get("/deliveries/<int:delivery_id>/<action>")
    def confirm_delivery(delivery_id: int, action: str):
        if action not in ("release", "cancel"):
            abort(404, "There is no such action.")
        return confirm(action, delivery_id)

    @app.post("/deliveries/<int:delivery_id>/<action>")
    def act_delivery(delivery_id: int, action: str):
        if action not in ("release", "cancel"):
            abort(404, "There is no such action.")
        return act(action, delivery_id)

    @app.post("/signoff/<path:item_id>")
    def sign_off(item_id: str):
        need("signoff")
        digest = request.form.get("digest", "")
        try:
            forms.redeem(secret, request.form.get("form_token", ""), g.user, f"signoff:{item_id}:{digest}", config)
        except forms.FormRefused as refusal:
            abort(403, str(refusal))
        item = content.fresh(item_id)
        if item is None:
            abort(404, f"There is no item {item_id} in the content folder.")
        try:
            record = signoff.sign_off(config, item, digest, f"web:{g.user}",
                                      (request.form.get("reason") or "").strip()[:500])
        except BotError as exc:
            return render_template("error.html", code=409, title="Not signed off", message=mask(exc)), 409
        log.info("signed off %s (digest %s) by %s", item_id, record["digest"][:12], record["by"])
        return render_template("signed.html", page="action", item=item, record=record)

    @app.get("/deliveries/<int:delivery_id>")
    def delivery_page(delivery_id: int):
        return redirect(url_for("post", item_id=delivery(delivery_id)["item"]) + f"#delivery-{delivery_id}")

    inbox_routes.register(app, config, secret, need)      # the Inbox pages (#13), their own module
    return app
