"""One contract suite, run against every network (as APScheduler runs one job-store suite
over every back end).  Each network supplies ``tests/channels/harness_<network>.py`` with a
``Harness`` class (see ``harness_log.py`` for the interface); this file never changes when a
network is added.
"""
from __future__ import annotations

import logging
import pkgutil
import socket
from datetime import datetime, timedelta, timezone

import pytest

import tests.channels as harness_pkg
from schedule.errors import Ambiguous, AuthError, RateLimited, Rejected, Transient
from schedule.model import Receipt
from tests.channels.deliveries import Deliveries
from tests.helpers import image, make_variant, tiny_png

NETWORKS = sorted(m.name.removeprefix("harness_") for m in pkgutil.iter_modules(harness_pkg.__path__)
                  if m.name.startswith("harness_"))


@pytest.fixture(params=NETWORKS)
def harness(request, open_harness):
    return open_harness(request.param)


def unique(text: str) -> str:
    # Networks reject exact duplicates; every test posts fresh text.
    return f"{text} {datetime.now(timezone.utc).strftime('%H%M%S%f')}"


def test_plain_post(harness):
    text = unique("Bins go out on Tuesday this week because of the bank holiday.")
    receipt = harness.channel.publish(make_variant(harness.channel, [text]), key="k-plain")
    assert receipt.remote_id
    assert harness.posted_text(receipt) == text
    if harness.has_urls:
        assert receipt.url and receipt.url.startswith(("http://", "https://"))


def test_image_with_alt_text(harness, tmp_path):
    if harness.channel.max_images == 0:
        pytest.skip(f"{harness.channel.network} posts no images")
    picture = image(tiny_png(tmp_path / "pool.png"), alt="The new 25 metre pool with six lanes")
    variant = make_variant(harness.channel, [unique("The new pool opens on Saturday.")], media=(picture,))
    receipt = harness.channel.publish(variant, key="k-image")
    assert harness.media_count(receipt) == 1
    if harness.channel.alt_text:
        assert harness.alt_texts(receipt) == ["The new 25 metre pool with six lanes"]


def test_thread_posts_in_order_each_replying_to_the_last(harness):
    texts = [unique(f"Road closure update part {n}.") for n in (1, 2, 3)]
    variant = make_variant(harness.channel, texts)
    seen = []
    root = harness.channel.publish(variant, key="k-thread", on_part=lambda i, r: seen.append((i, r)))
    if not harness.channel.threads:
        assert [i for i, _ in seen] == [0]
        assert harness.posted_text(root) == "\n\n".join(texts)
        return
    assert [i for i, _ in seen] == [0, 1, 2]
    assert seen[0][1] == root
    for (_, parent), (_, child) in zip(seen, seen[1:]):
        assert harness.reply_parent(child) == parent.remote_id
    assert [harness.posted_text(r) for _, r in seen] == texts


def test_failed_part_resumes_without_reposting(harness):
    if not harness.channel.threads or not harness.supports_fault("5xx"):
        pytest.skip("single-post network, or no faults to inject")
    texts = [unique(f"Consultation thread {n}.") for n in (1, 2, 3)]
    variant = make_variant(harness.channel, texts)
    recorded = []
    harness.fail_nth_post(2, "5xx")
    with pytest.raises(Transient):
        harness.channel.publish(variant, key="k-resume", on_part=lambda i, r: recorded.append(r))
    assert len(recorded) == 1
    harness.channel.publish(variant, key="k-resume", done=recorded, on_part=lambda i, r: recorded.append(r))
    assert [harness.posted_text(r) for r in recorded] == texts
    assert harness.count_posts_with(texts[0]) == 1


@pytest.mark.parametrize("fault, error", [
    ("5xx", Transient), ("drop", Transient), ("429", RateLimited),
    ("expired_token", AuthError), ("duplicate", Rejected),
])
def test_fault_classes(harness, fault, error):
    if not harness.supports_fault(fault):
        pytest.skip(f"{harness.channel.network} has no {fault} to simulate")
    harness.fail_nth_post(1, fault)
    with pytest.raises(error) as caught:
        harness.channel.publish(make_variant(harness.channel, [unique("Library hours change.")]), key="k-fault")
    assert harness.channel.name in str(caught.value)


def test_429_reset_is_honoured(harness):
    if not harness.supports_fault("429"):
        pytest.skip("no rate limit to simulate")
    before = datetime.now(timezone.utc)
    harness.fail_nth_post(1, "429")
    with pytest.raises(RateLimited) as caught:
        harness.channel.publish(make_variant(harness.channel, [unique("Parking update.")]), key="k-429")
    retry_at = caught.value.retry_at
    assert retry_at is not None, "the network's reset header must become retry_at"
    assert before < retry_at < before + timedelta(hours=1)


# The ambiguous cases of issue 9: the network makes the post, then the answer is lost to a
# read timeout, a connection dropped after the request was sent, or a 5xx from a gateway.
# Whatever the network, the post must exist once, and the delivery must say so (`posted`)
# or say it cannot tell (`uncertain`): never a second post.
LOST_ANSWERS = ("created_then_slow", "created_then_drop", "created_then_5xx")


@pytest.mark.parametrize("fault", LOST_ANSWERS)
def test_a_post_made_whose_answer_is_lost_exists_once(harness, tmp_path, fault):
    if not harness.supports_fault("drop"):
        pytest.skip(f"{harness.channel.network} has no connection to lose")
    world = Deliveries(harness, tmp_path)
    text = unique("Bins go out on Tuesday this week because of the bank holiday.")
    delivery = world.plan([text])
    harness.channel.timeout = 2.0
    harness.inject_on_create(fault, delay=4.0)
    state = world.run_until_settled(delivery)
    assert harness.count_posts_with(text) == 1, f"{fault}: posted {harness.count_posts_with(text)} times"
    assert state in ("posted", "uncertain")
    if harness.channel.idempotent or harness.channel.can_find_existing:
        assert state == "posted"                 # the network can tell, so it is found, not left in doubt
        row = world.row(delivery)
        assert harness.posted_text(Receipt(row["remote_id"], row["url"])) == text


def test_a_connection_never_made_is_certainly_not_sent(harness):
    """Connection refused: nothing reached the network, so a plain retry is safe."""
    if not harness.supports_fault("drop"):
        pytest.skip(f"{harness.channel.network} has no connection to refuse")
    with socket.socket() as probe:                # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    channel = harness.channel
    channel.api_base = closed
    channel.timeout = 2.0
    with pytest.raises(Transient) as caught:
        channel.publish(make_variant(channel, [unique("Refused.")]), key="k-refused")
    assert caught.value.not_sent and not isinstance(caught.value, Ambiguous)


def test_crash_after_request_is_resolved_by_find_existing(harness):
    variant = make_variant(harness.channel, [unique("Council tax bills are on their way.")])
    part = variant.parts[0]
    if harness.channel.idempotent:
        first = harness.channel.publish(variant, key="k-crash")
        again = harness.channel.publish(variant, key="k-crash")   # the retry after a crash
        assert again.remote_id == first.remote_id
        assert harness.count_posts_with(part.text) == 1
        return
    if not harness.channel.can_find_existing:
        pytest.skip("network cannot look up recent posts: deliveries become 'uncertain'")
    assert harness.channel.find_existing(variant, 0, part) is None
    receipt = harness.channel.publish(variant, key="k-crash")      # ...and the daemon died here
    found = harness.channel.find_existing(variant, 0, part)
    assert found is not None and found.remote_id == receipt.remote_id


def test_secrets_never_in_logs_or_errors(harness, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    harness.channel.publish(make_variant(harness.channel, [unique("Secret-free post.")]), key="k-s1")
    for fault in ("expired_token", "5xx"):
        if harness.supports_fault(fault):
            harness.fail_nth_post(1, fault)
            try:
                harness.channel.publish(make_variant(harness.channel, [unique("Another.")]), key="k-s2")
            except Exception as exc:  # noqa: BLE001 - we inspect whatever was raised
                errors.append(str(exc))
    text = caplog.text + "\n".join(errors)
    for secret in harness.secrets:
        assert secret not in text


def test_limits_are_declared_as_data(harness):
    cls = type(harness.channel)
    assert cls.network == harness.network
    assert cls.max_length > 0
    assert isinstance(cls.threads, bool) and isinstance(cls.alt_text, bool)
    assert cls.count("abc") == 3
