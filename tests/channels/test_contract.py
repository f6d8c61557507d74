"""One contract suite, run against every network (as APScheduler runs one job-store suite
over every back end).  Each network supplies ``tests/channels/harness_<network>.py`` with a
``Harness`` class (see ``harness_log.py`` for the interface); this file never changes when a
network is added.
"""
from __future__ import annotations

import logging
import pkgutil
from datetime import datetime, timedelta, timezone

import pytest

import tests.channels as harness_pkg
from schedule.errors import AuthError, RateLimited, Rejected, Transient
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


def test_timeout_is_transient(harness):
    if not harness.supports_fault("slow"):
        pytest.skip("cannot slow this server")
    harness.channel.timeout = 0.5
    harness.slow_next_post(3.0)
    with pytest.raises(Transient):
        harness.channel.publish(make_variant(harness.channel, [unique("Slow network.")]), key="k-slow")


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
