"""Forms that change state: signed, bound to one user and one action, usable once.

A token is ``{user, action, nonce}`` signed with the credential ``web_secret``
(itsdangerous, Flask's own signer, so no hand-made crypto).  It is refused if the signature
is wrong, it is older than ``MAX_AGE``, it was issued to someone else or for another
action (a "cancel 12" form cannot cancel 13), or its nonce was used before (a replayed
form).  Used nonces live in the ledger's meta table, so a restart does not forget them.
No cookies are needed: the user comes from the proxy on every request.
"""
from __future__ import annotations

import secrets as random_tokens

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..config import Config
from ..database import open_configured
from ..timeutil import to_utc_key, utcnow

MAX_AGE = 3600          # seconds a confirmation page stays usable
SALT = "civicpost-web-form"


class FormRefused(Exception):
    """Why a submitted form was not acted on (shown to the user, never a secret)."""


def issue(secret: str, user: str, action: str) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT).dumps({"u": user, "a": action,
                                                            "n": random_tokens.token_urlsafe(16)})


def redeem(secret: str, token: str, user: str, action: str, config: Config) -> None:
    """Check the token and spend its nonce, or raise FormRefused."""
    try:
        data = URLSafeTimedSerializer(secret, salt=SALT).loads(token or "", max_age=MAX_AGE)
    except SignatureExpired:
        raise FormRefused("this form has expired (forms last an hour): go back, reload the page and try again") from None
    except BadSignature:
        raise FormRefused("this form was not issued by this site: go back, reload the page and try again") from None
    if not isinstance(data, dict) or data.get("u") != user or data.get("a") != action:
        raise FormRefused("this form was issued to someone else or for another action: reload the page") from None
    key = f"web_form:{data.get('n')}"
    ledger = open_configured(config)
    try:
        with ledger.transaction():       # BEGIN IMMEDIATE: two replays cannot both pass
            if ledger.get_meta(key) is not None:
                raise FormRefused("this form has already been used: reload the page to act again")
            ledger.set_meta(**{key: to_utc_key(utcnow())})
    finally:
        ledger.close()
