"""X's OAuth 1.0a request signature (RFC 5849, HMAC-SHA1 in the Authorization header), made by
one signer per account with oauthlib's own RFC 5849 functions (#12's burst).

tweepy signs each user-context request with requests-oauthlib's ``OAuth1``, which it builds
afresh for every call (``OAuth1UserHandler(...).apply_auth()``: an ``OAuth1Session``, that
is a whole requests Session, and an oauthlib ``Client``), and ``Client.sign`` renders the
request twice and formats five debug lines eagerly: ~150 µs of CPU per post, a sixth of an X
delivery's client CPU.  This signer does the same steps once each, with the same oauthlib
functions (``signature.collect_parameters``, ``normalize_parameters``, ``base_string_uri``,
``signature_base_string``, ``sign_hmac_sha1_with_client``; ``parameters.prepare_headers``), and a new
nonce and timestamp for every request.  The header is the one requests-oauthlib makes
(tests/channels/test_oauth1.py checks both against RFC 5849's and X's own examples).
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

FORM = "application/x-www-form-urlencoded"


def authorization(method: str, url: str, form_body: str | None, consumer_key: str, consumer_secret: str,
                  token: str, token_secret: str, nonce: str, timestamp: str) -> str:
    """The ``Authorization: OAuth ...`` value for one request (RFC 5849 section 3): the query
    and a form-encoded body are signed with the OAuth parameters (3.4.1.3); any other body is
    not.  The parameters are in oauthlib's order (``Client.get_oauth_params``)."""
    from oauthlib.oauth1.rfc5849 import parameters, signature

    oauth = [("oauth_nonce", nonce), ("oauth_timestamp", timestamp), ("oauth_version", "1.0"),
             ("oauth_signature_method", "HMAC-SHA1"), ("oauth_consumer_key", consumer_key)]
    if token:
        oauth.append(("oauth_token", token))
    collected = signature.collect_parameters(uri_query=urlsplit(url).query, body=form_body) + oauth
    base = signature.signature_base_string(method.upper(), signature.base_string_uri(url),
                                           signature.normalize_parameters(collected))
    secrets = SimpleNamespace(client_secret=consumer_secret, resource_owner_secret=token_secret)
    signed = oauth + [("oauth_signature", signature.sign_hmac_sha1_with_client(base, secrets))]
    return parameters.prepare_headers(signed, {})["Authorization"]


@functools.cache
def signer_class() -> type:
    """The requests auth class of the signer (made on first use, as it subclasses requests')."""
    from oauthlib import common
    from requests.auth import AuthBase

    class OAuth1Signer(AuthBase):
        """A requests auth for one account: each request it is given is signed afresh."""

        def __init__(self, consumer_key: str, consumer_secret: str, token: str, token_secret: str):
            self.credentials = (consumer_key, consumer_secret, token, token_secret)

        def __call__(self, request: Any) -> Any:
            # As requests-oauthlib's OAuth1.__call__: a body with no Content-Type that parses
            # as a form is sent as one; only a form-encoded body is part of the signature.
            content_type = request.headers.get("Content-Type", "")
            if isinstance(content_type, bytes):
                content_type = content_type.decode("utf-8")
            if not content_type and common.extract_params(request.body):
                content_type = request.headers["Content-Type"] = FORM
            body = request.body if FORM in content_type else None
            if isinstance(body, bytes):
                body = body.decode("utf-8")
            request.headers["Authorization"] = authorization(request.method, request.url, body or None,
                                                             *self.credentials, common.generate_nonce(),
                                                             common.generate_timestamp())
            return request

    return OAuth1Signer


@functools.cache
def signing_session_class() -> type:
    """A requests ``Session`` that signs with its account's one signer where tweepy hands it a
    requests-oauthlib ``OAuth1`` for the same account (tweepy's ``Client.request`` builds one
    per call, and its own code is left as it is)."""
    import requests
    from requests_oauthlib import OAuth1

    class SigningSession(requests.Session):
        signer: Any = None

        def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            auth = kwargs.get("auth")
            if isinstance(auth, OAuth1) and self.signer is not None and \
                    (auth.client.client_key, auth.client.client_secret, auth.client.resource_owner_key,
                     auth.client.resource_owner_secret) == self.signer.credentials:
                kwargs["auth"] = self.signer
            return super().request(method, url, *args, **kwargs)

    return SigningSession
