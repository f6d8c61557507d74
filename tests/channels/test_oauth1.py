"""X's OAuth 1.0a signature, made by one signer per account (#12's burst, schedule/channels/oauth1.py).

tweepy builds requests-oauthlib's ``OAuth1`` afresh for every call and signs through
oauthlib's ``Client.sign``; the X channel's session signs instead with the account's one
signer, from oauthlib's own RFC 5849 functions.  What must hold: the signature is RFC 5849's
(X's own worked example, and requests-oauthlib's header for the same nonce and timestamp);
every request gets a new nonce and a current timestamp; X verifies what arrives.
"""
from __future__ import annotations

import time
from urllib.parse import unquote, urlencode

import pytest
import requests
from requests_oauthlib import OAuth1

from schedule.channels.oauth1 import authorization, signer_class
from tests.helpers import make_variant

# X's documentation, "Creating a signature" (developer.x.com/en/docs/authentication/oauth-1-0a/
# creating-a-signature): its worked example's request, credentials, nonce and timestamp, and
# the signature it arrives at.
X_EXAMPLE = dict(method="POST", url="https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
                 form_body="status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21",
                 consumer_key="xvz1evFS4wEEPTGEFPHBog", consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                 token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
                 token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
                 nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", timestamp="1318622958")
X_EXAMPLE_SIGNATURE = "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def _fields(header: str) -> dict[str, str]:
    """An OAuth Authorization header's parameters (RFC 5849 section 3.5.1), decoded."""
    assert header.startswith("OAuth ")
    return {name.strip(): unquote(value.strip().strip('"'))
            for name, value in (pair.split("=", 1) for pair in header[len("OAuth "):].split(","))}


def test_xs_documented_example_signs_as_x_says():
    fields = _fields(authorization(**X_EXAMPLE))
    assert fields["oauth_signature"] == X_EXAMPLE_SIGNATURE
    assert (fields["oauth_consumer_key"], fields["oauth_token"], fields["oauth_signature_method"],
            fields["oauth_version"]) == (X_EXAMPLE["consumer_key"], X_EXAMPLE["token"], "HMAC-SHA1", "1.0")


@pytest.mark.parametrize("shape", [
    dict(method="POST", url="https://api.twitter.com/2/tweets", json={"text": "Library hours change: 9-5 £ ✓"}),
    dict(method="GET", url="https://api.twitter.com/2/users/42/tweets",
         params={"max_results": 50, "exclude": "retweets", "tweet.fields": "created_at,referenced_tweets"}),
    dict(method="POST", url="https://api.twitter.com/2/media/upload/7/append", data={"segment_index": "0"},
         files={"media": ("chunk", b"\x00\x01", "image/png")}),
    dict(method="POST", url="https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
         data={"status": "Hello Ladies + Gentlemen, a signed OAuth request!"}),
    dict(method="DELETE", url="HTTPS://API.Twitter.com:443/2/tweets/1?x=a%20b&x=c"),
])
def test_the_header_is_requests_oauthlibs_for_the_same_nonce_and_timestamp(shape, monkeypatch):
    credentials = ("ck-4242", "cs-4242", "at-4242", "ats-4242")
    nonce, timestamp = "chapoH1371312024242", "1700000000"
    prepared = requests.Request(**shape).prepare()          # (one multipart boundary for both)
    theirs = prepared.copy()
    OAuth1(credentials[0], client_secret=credentials[1], resource_owner_key=credentials[2],
           resource_owner_secret=credentials[3], decoding=None, nonce=nonce, timestamp=timestamp)(theirs)
    monkeypatch.setattr("oauthlib.common.generate_nonce", lambda: nonce)
    monkeypatch.setattr("oauthlib.common.generate_timestamp", lambda: timestamp)
    ours = signer_class()(*credentials)(prepared.copy())
    assert (ours.url, dict(ours.headers), ours.body) == (theirs.url, dict(theirs.headers), theirs.body)


def test_every_post_is_signed_afresh_by_the_accounts_one_signer(open_harness, monkeypatch):
    harness = open_harness("x")
    channel = harness.channel
    signed_by_requests_oauthlib = []
    real = OAuth1.__call__
    monkeypatch.setattr(OAuth1, "__call__", lambda self, r: signed_by_requests_oauthlib.append(r) or real(self, r))
    before = int(time.time())
    for number in range(3):
        channel.publish(make_variant(channel, [f"Recycling centre notice {number}"]), key=f"k-sign-{number}")
    headers = [_fields(call.header("Authorization")) for call in harness.server.calls("POST", r"^/2/tweets$")]
    assert len(headers) == 3
    assert signed_by_requests_oauthlib == []             # tweepy's per-call OAuth1 never signs
    assert len({h["oauth_nonce"] for h in headers}) == 3
    assert all(before <= int(h["oauth_timestamp"]) <= time.time() + 1 for h in headers)


def test_x_can_verify_what_arrives(open_harness, tmp_path):
    """The server's side of RFC 5849 section 3.2: the signature recomputed from each request
    as it arrived (at X's own host, as tweepy addressed it before the test route), with
    oauthlib: a post with a picture (JSON calls and the multipart append, whose body is not
    signed) and a read with a query."""
    from oauthlib.common import Request
    from oauthlib.oauth1.rfc5849 import signature

    from tests.helpers import image, tiny_png

    harness = open_harness("x")
    channel = harness.channel
    picture = image(tiny_png(tmp_path / "car-park.png"), alt="The new car park")
    channel.publish(make_variant(channel, ["Parking charges change on Monday"], media=(picture,)), key="k-verify")
    channel.client().get_users_tweets("42", max_results=50, user_auth=True, tweet_fields=["created_at"])
    secrets = dict(client_secret=channel.secret("consumer_secret"), resource_owner_secret=channel.secret(
        "access_token_secret"))
    calls = harness.server.calls()
    assert {(c.method, c.path.rsplit("/", 1)[-1]) for c in calls} >= {
        ("POST", "initialize"), ("POST", "append"), ("POST", "finalize"), ("POST", "metadata"), ("POST", "tweets"),
        ("GET", "tweets")}
    for call in calls:
        query = urlencode(call.query, doseq=True)
        request = Request(f"https://api.twitter.com{call.path}" + (f"?{query}" if query else ""), call.method,
                          headers={"Authorization": call.header("Authorization")})
        request.params = signature.collect_parameters(uri_query=query, headers=request.headers)
        request.signature = _fields(call.header("Authorization"))["oauth_signature"]
        assert signature.verify_hmac_sha1(request, **secrets), call.path
