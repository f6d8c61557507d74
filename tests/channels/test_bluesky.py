"""Bluesky specifics, read back from the real PDS: facets as UTF-8 byte ranges, session reuse."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from schedule.channels.bluesky import record_key
from tests.channels import harness_bluesky
from tests.helpers import make_variant, tiny_mp4, video

pytestmark = pytest.mark.skipif(bool(harness_bluesky.SKIP_REASON), reason=harness_bluesky.SKIP_REASON or "")


@pytest.fixture
def bsky(open_harness):
    return open_harness("bluesky")


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


def test_video_with_alt_text_and_captions(bsky, tmp_path):
    import requests

    clip = tiny_mp4(tmp_path / "meeting.mp4")
    vtt = tmp_path / "meeting.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nWelcome to full council.\n")
    variant = make_variant(bsky.channel, ["Highlights of full council."],
                           media=(video(clip, alt="The council chamber", captions=vtt),))
    assert [p.code for p in bsky.channel.validate(variant)] == []
    receipt = bsky.channel.publish(variant, key="k-video")
    embed = bsky.record(receipt)["embed"]
    assert embed["$type"] == "app.bsky.embed.video" and embed["alt"] == "The council chamber"
    assert embed["video"]["mimeType"] == "video/mp4"
    (caption,) = embed["captions"]
    assert caption["lang"] == "en"
    did = bsky.channel._did()

    def blob(ref: dict) -> bytes:
        answer = requests.get(f"{bsky.pds.url}/xrpc/com.atproto.sync.getBlob",
                              params={"did": did, "cid": ref["ref"]["$link"]}, timeout=10)
        answer.raise_for_status()
        return answer.content

    assert blob(embed["video"]) == clip.read_bytes()
    assert blob(caption["file"]) == vtt.read_bytes()


def test_srt_captions_are_sent_as_webvtt_and_big_captions_are_an_error(bsky, tmp_path):
    import requests

    clip = tiny_mp4(tmp_path / "meeting.mp4")
    srt = tmp_path / "meeting.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,000\nWelcome.\n")
    variant = make_variant(bsky.channel, ["Highlights."], media=(video(clip, captions=srt),))
    assert bsky.channel.validate(variant) == []
    embed = bsky.record(bsky.channel.publish(variant, key="k-srt"))["embed"]
    (caption,) = embed["captions"]
    sent = requests.get(f"{bsky.pds.url}/xrpc/com.atproto.sync.getBlob",
                        params={"did": bsky.channel._did(), "cid": caption["file"]["ref"]["$link"]}, timeout=10)
    assert sent.text == "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nWelcome.\n"
    big = tmp_path / "long.vtt"
    big.write_text("WEBVTT\n\n" + "".join(f"00:{n // 60:02d}:{n % 60:02d}.000 --> 00:{n // 60:02d}:{n % 60:02d}.500\n"
                                           f"Words number {n}.\n\n" for n in range(1000)))
    found = bsky.channel.validate(make_variant(bsky.channel, ["Highlights."], media=(video(clip, captions=big),)))
    assert [(p.level, p.code) for p in found] == [("error", "captions-size")]


# ----- record keys chosen by us (issue 10 §5) -------------------------------------------
# atproto.com/specs/tid: 13 characters of base32-sortable, the first in 234567abcdefghij (the
# top bit is 0); the value is 53 bits of microseconds since the UNIX epoch, then 10 bits of
# clock id.  app.bsky.feed.post's lexicon says "key": "tid" (atproto.com/specs/record-key).
TID_SYNTAX = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
BASE32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"


def tid_microseconds(tid: str) -> int:
    value = 0
    for char in tid:
        value = value * 32 + BASE32_SORTABLE.index(char)
    return value >> 10


def test_record_keys_are_tids_of_the_planned_second_one_per_delivery_part():
    planned = datetime(2027, 1, 3, 18, 0, tzinfo=timezone.utc)
    keys = [record_key(f"civicpost-{delivery}:{part}", planned) for delivery in range(1, 300) for part in range(3)]
    assert all(TID_SYNTAX.match(key) for key in keys)
    assert len(set(keys)) == len(keys)
    assert record_key("civicpost-7:0", planned) == record_key("civicpost-7:0", planned)
    start = int(planned.timestamp()) * 1_000_000
    assert all(start <= tid_microseconds(key) < start + 1_000_000 for key in keys)


def test_a_resend_names_the_same_record_which_the_pds_refuses_so_it_is_posted_once(bsky):
    planned = datetime.now(timezone.utc).replace(microsecond=0)
    variant = make_variant(bsky.channel, ["Bins go out on Tuesday this week."])
    variant.extra["planned_at"] = planned
    first = bsky.channel.publish(variant, key="civicpost-7")       # ...and the daemon died before recording it
    again = bsky.channel.publish(variant, key="civicpost-7")       # the retry after the crash
    assert again.remote_id == first.remote_id
    assert first.remote_id.endswith("/app.bsky.feed.post/" + record_key("civicpost-7:0", planned))
    assert len(bsky.proxy.calls("POST", r"createRecord$")) == 2    # the second create was sent, and refused
    assert bsky.count_posts_with("Bins go out on Tuesday this week.") == 1


def test_a_failed_create_that_made_nothing_is_ambiguous_until_the_resend_posts_it(bsky):
    from schedule.errors import Ambiguous

    variant = make_variant(bsky.channel, ["Library closed on Monday."])
    bsky.fail_nth_post(1, "5xx")                                      # a gateway error, nothing created
    with pytest.raises(Ambiguous):
        bsky.channel.publish(variant, key="civicpost-8")
    receipt = bsky.channel.publish(variant, key="civicpost-8")
    assert bsky.posted_text(receipt) == "Library closed on Monday."
    assert bsky.count_posts_with("Library closed on Monday.") == 1


def test_a_post_left_in_publishing_by_an_older_civicpost_is_read_back_not_resent(bsky, tmp_path):
    """An older civicpost let the PDS choose a random record key (atproto's send_post), so a
    resend under today's deterministic key would be a second post (atproto.com/specs/record-key:
    a tid key is any TID).  A `publishing` row without this version's same-key marker is
    therefore recovered by reading the account back."""
    from tests.channels.deliveries import Deliveries

    world = Deliveries(bsky, tmp_path)
    text = "Garden waste collections restart on Monday."
    delivery = world.plan([text])
    world.ledger.transition(delivery, "publishing", idem_key=f"civicpost-{delivery}",  # as the old version did
                            retry_until="2999-01-01T00:00:00+00:00")
    bsky.channel.client().send_post(text=text, profile_identify=bsky.channel._did())   # the old create: random key
    assert world.publisher.recover(world.row(delivery)) == "posted"
    assert world.publisher.run(delivery) == "posted"
    assert bsky.count_posts_with(text) == 1
    assert world.row(delivery)["remote_id"].startswith("at://")
