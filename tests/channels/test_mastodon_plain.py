"""Mastodon: statuses are created through Mastodon.py with its answers left as parsed JSON
(`MastodonChannel.poster`, #12: its typed-entity cast was half of a Mastodon delivery's CPU).

What must not change is the request Mastodon.py sends and what the receipt says: the
request is compared with the one Mastodon.py's own typed client sends for the same status,
byte for byte, and the receipt with the status as the server stored it.  The shapes are
Mastodon's (docs.joinmastodon.org/methods/statuses: POST /api/v1/statuses with
``Idempotency-Key``; the Status entity's id, url and uri).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedule.errors import RateLimited
from tests.helpers import make_variant


@pytest.fixture
def mastodon(open_harness):
    return open_harness("mastodon")


def _create(harness, text: str, key: str):
    channel = harness.channel
    variant = make_variant(channel, [text])
    return channel.publish(variant, key=key)


def test_answers_are_left_as_parsed_json(mastodon):
    from mastodon.types_base import AttribAccessDict

    status = mastodon.channel._call(mastodon.channel.poster().status_post, "Swimming pool reopens", idempotency_key="p1")
    # A plain dict: Mastodon.py's cast (AttribAccessDict and its subclasses) was skipped.
    # Fails if a Mastodon.py upgrade renames the hook (answers typed again: slower, still right).
    assert type(status) is dict and not isinstance(status, AttribAccessDict)
    assert status == mastodon.server.statuses[status["id"]]
    # The reading client is the ordinary typed one (inbox, find_existing and check read its entities).
    assert isinstance(mastodon.channel._call(mastodon.channel.client().status, status["id"]), AttribAccessDict)


def test_request_is_mastodon_pys_own(mastodon):
    """The same status through Mastodon.py's typed client and through the poster: the same
    method, path, form body and headers (Idempotency-Key, Authorization, User-Agent)."""
    channel, server = mastodon.channel, mastodon.server
    sent = []
    for client in (channel.client(), channel.poster()):
        server.clear()
        channel._call(client.status_post, "Library hours change", in_reply_to_id=None, media_ids=None,
                      idempotency_key="same-key-for-both", visibility="public", language="en")
        (request,) = server.calls("POST", r"^/api/v1/statuses$")
        sent.append((request.method, request.path, request.body,
                     {k.lower(): v for k, v in request.headers.items()}))
    assert sent[0] == sent[1]
    assert sent[1][3]["idempotency-key"] == "same-key-for-both"


def test_receipt_and_idempotency(mastodon):
    first = _create(mastodon, "Bin collections move to Wednesday.", "civicpost-7")
    stored = mastodon.server.statuses[first.remote_id]
    assert (first.remote_id, first.url, first.extra["uri"]) == (stored["id"], stored["url"], stored["uri"])
    # Mastodon returns the first status for a repeated Idempotency-Key: no second post.
    again = _create(mastodon, "Bin collections move to Wednesday.", "civicpost-7")
    assert again.remote_id == first.remote_id and len(mastodon.server.statuses) == 1


def test_rate_limit_reset_is_read_from_the_client_that_was_refused(mastodon):
    # The test server answers 429 with X-RateLimit-Reset 30 s ahead (Mastodon's rate-limit headers).
    mastodon.channel.client()                     # the typed client exists, and has no reset
    mastodon.inject_on_create("429")
    before = datetime.now(timezone.utc)
    with pytest.raises(RateLimited) as caught:
        _create(mastodon, "Parking charges update.", "civicpost-8")
    assert caught.value.retry_at is not None
    assert before + timedelta(seconds=20) < caught.value.retry_at < before + timedelta(seconds=40)
