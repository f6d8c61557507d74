"""Threads media containers are polled with the fields Threads documents (issue 10 §7).

Threads API, "Troubleshooting: Publishing Does Not Return a Media ID": GET
/{threads-container-id}?fields=status,error_message returns `status` (EXPIRED, ERROR,
FINISHED, IN_PROGRESS, PUBLISHED) and, on error, `error_message` (e.g.
FAILED_DOWNLOADING_VIDEO).  There is no `status_code` (that is Instagram's container field);
the Graph API answers a request for a field a node does not have with error 100, and so does
the test server.
"""
from __future__ import annotations

import pytest

from schedule.channels.threads import ThreadsChannel
from schedule.config import ChannelConfig
from schedule.errors import Rejected
from tests.helpers import image, make_variant, tiny_png
from tests.servers.graph import THREADS_USER, TOKEN, Server


@pytest.fixture
def threads(monkeypatch):
    server = Server().start()
    server.container_polls_before_finished = 2               # IN_PROGRESS twice, then FINISHED
    monkeypatch.setenv("CIVICPOST_COUNCIL_THREADS_ACCESS_TOKEN", TOKEN)
    channel = ThreadsChannel(ChannelConfig(name="council_threads", network="threads", api_base=server.url,
                                           settings={"threads_user_id": THREADS_USER, "container_poll_seconds": 0.01,
                                                     "media_base_url": "https://www.example.gov.uk/social"}))
    yield server, channel
    server.stop()


def _polls(server) -> list[str]:
    return [r.query.get("fields", [""])[0] for r in server.requests
            if r.method == "GET" and "fields" in r.query and "threads" not in r.path]


def test_an_image_post_polls_only_documented_fields(threads, tmp_path):
    server, channel = threads
    picture = image(tiny_png(tmp_path / "pool.png"), alt="The new pool")
    receipt = channel.publish(make_variant(channel, ["The pool opens on Saturday."], (picture,)), "k")
    assert server.objects[receipt.remote_id]["kind"] == "thread"
    polls = [p for p in _polls(server) if p != "permalink"]
    assert polls and all(set(p.split(",")) <= {"status", "error_message"} for p in polls), polls


def test_a_failed_container_reports_the_error_message(threads, tmp_path):
    server, channel = threads
    server.container_error = "FAILED_DOWNLOADING_VIDEO"
    picture = image(tiny_png(tmp_path / "pool.png"))
    with pytest.raises(Rejected, match="ERROR: FAILED_DOWNLOADING_VIDEO"):
        channel.publish(make_variant(channel, ["The pool opens on Saturday."], (picture,)), "k")


def test_the_server_refuses_an_undocumented_field_like_graph(threads):
    """Guard for the double: `status_code` on a Threads container is Graph error 100."""
    server, channel = threads
    container = channel.call("post_object", THREADS_USER, "threads", data={"media_type": "TEXT", "text": "hi"})
    with pytest.raises(Rejected, match=r"nonexisting field \(status_code\)"):
        channel.call("get_object", container["id"], fields="status_code")


def test_a_threads_post_answers_documented_fields_only(threads):
    server, channel = threads
    receipt = channel.publish(make_variant(channel, ["Bins go out on Tuesday."]), "k")
    assert channel.call("get_object", receipt.remote_id, fields="permalink")["permalink"] == receipt.url
    with pytest.raises(Rejected, match=r"nonexisting field \(status_code\)"):
        channel.call("get_object", receipt.remote_id, fields="status_code")
