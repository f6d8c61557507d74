"""Bluesky specifics, read back from the real PDS: facets as UTF-8 byte ranges, session reuse."""
from __future__ import annotations

import pytest

from tests.channels import harness_bluesky
from tests.helpers import make_variant

pytestmark = pytest.mark.skipif(bool(harness_bluesky.SKIP_REASON), reason=harness_bluesky.SKIP_REASON or "")


@pytest.fixture
def bsky(tmp_path, monkeypatch):
    harness = harness_bluesky.Harness(tmp_path, monkeypatch)
    yield harness
    harness.close()


def test_link_and_tag_facets_are_utf8_byte_ranges(bsky):
    text = f"Café ☕ opens 🎉 https://www.example.gov.uk/cafe #BlackburnLeisure @{bsky.handle}"
    receipt = bsky.channel.publish(make_variant(bsky.channel, [text]), key="k-facets")
    record = bsky.record(receipt)
    encoded = text.encode("utf-8")
    spans = {f["features"][0]["$type"]: encoded[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode()
             for f in record["facets"]}
    assert spans["app.bsky.richtext.facet#link"] == "https://www.example.gov.uk/cafe"
    assert spans["app.bsky.richtext.facet#tag"] == "#BlackburnLeisure"
    assert spans["app.bsky.richtext.facet#mention"] == f"@{bsky.handle}"


def test_one_login_for_many_posts(bsky):
    for n in range(3):
        bsky.channel.publish(make_variant(bsky.channel, [f"Post number {n} of three."]), key=f"k{n}")
    assert len(bsky.proxy.calls("POST", r"createSession$")) == 1


def test_expired_access_token_is_refreshed_once(bsky):
    bsky.channel.client()
    bsky.proxy.faults.clear()
    from tests.servers.base import Response

    original = bsky.proxy.fault_response
    bsky.proxy.fault_response = lambda kind, request: Response(400, {"error": "ExpiredToken",
                                                                      "message": "Token has expired"})
    bsky.proxy.inject("expired_token", match=r"createRecord$")
    receipt = bsky.channel.publish(make_variant(bsky.channel, ["After a token refresh."]), key="k-refresh")
    bsky.proxy.fault_response = original
    assert bsky.posted_text(receipt) == "After a token refresh."
    assert len(bsky.proxy.calls("POST", r"refreshSession$")) == 1
