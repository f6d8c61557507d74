"""X (Twitter), through tweepy's ``Client`` (API v2): ``create_tweet`` for posts, and the
v2 media endpoints for pictures, alt text and video.

tweepy 4.17 still uploads media through the v1.1 endpoints, which X retired in 2025
(tweepy issue #2217, open).  The v2 ones (``/2/media/upload/initialize``, ``.../append``,
``.../finalize``, ``/2/media/metadata``) are called here through tweepy's own
``Client.request``, so the requests and tweepy's error classes are tweepy's; only the
multipart ``append`` goes straight to the Client's session.  Every request is signed with
OAuth 1.0a by the account's one signer (``oauth1.py``: oauthlib's RFC 5849 functions, a new
nonce and timestamp each time) where tweepy would build requests-oauthlib's for each call.

tweepy hard-codes https://api.twitter.com, so instead of forking it we mount a requests
transport adapter on its session that sends that host to ``api_base`` (a test server or
a proxy) and gives every request a timeout (tweepy's Client has no timeout setting).
"""
from __future__ import annotations

import functools
import re
import time
from datetime import datetime, timezone
from typing import Any

from .. import counting
from ..errors import AuthError, ChannelError, RateLimited, Rejected, Transient
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from ..secrets import mask
from .base import IMAGE_TYPES, Channel, never_sent, parse_time, retry_at_from_headers
from .oauth1 import signer_class, signing_session_class
from .sessions import prepare_session, steady_adapter_class

HOSTS = ("https://api.twitter.com",)
CHUNK_BYTES = 4 * 1024 * 1024              # X takes append segments of up to 5 MB
_URL = re.compile(r"https?://\S+")


def rerouting_adapter(api_base: str | None, timeout: float, **adapter_arguments: Any):
    """A requests adapter that sends the library's fixed hosts to api_base, with a timeout."""
    class _Reroute(steady_adapter_class()):       # fenced connections (#12), pool key kept per origin
        def send(self, request, **kwargs):
            if api_base:
                for host in HOSTS:
                    if request.url.startswith(host):
                        request.url = api_base + request.url[len(host):]
            if not kwargs.get("timeout"):
                kwargs["timeout"] = timeout
            return super().send(request, **kwargs)

    return _Reroute(**adapter_arguments)


class XChannel(Channel):
    network = "x"
    label = "X (Twitter)"
    max_length = 280
    count = staticmethod(counting.x_weighted)
    refuses = staticmethod(counting.x_refuses)          # twitter-text parse_tweet().valid
    max_images = 4
    max_videos = 1
    alt_text = True
    max_alt_length = 1000
    threads = True
    idempotent = False
    can_find_existing = True
    sends_direct_replies = True                  # a reply to a "dm:" message is a direct message
    image_types = IMAGE_TYPES
    video_types = frozenset({"video/mp4", "video/quicktime"})
    max_image_bytes = 5 * 1024 * 1024
    max_video_bytes = 512 * 1024 * 1024
    secret_fields = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    client_modules = ("tweepy", "requests")
    default_api_base = ""                       # the real hosts unless api_base is set

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self._client = None
        self._client_for: tuple | None = None             # the (api_base, timeout) its adapter sends with
        self._me: dict[str, str] | None = None

    def warm_up(self) -> None:
        super().warm_up()
        # twitter-text's emoji tables (~0.2 s of CPU): loaded before the daemon's workers run,
        # not in the first burst (a node that never rendered, #12, counts every part).
        counting.x_weighted("warm up")

    def _credentials(self) -> tuple[str, str, str, str]:
        return tuple(self.secret(f) for f in self.secret_fields)  # type: ignore[return-value]

    def client(self):
        import tweepy

        # Made again only if api_base or the timeout changed (the daemon lowers the timeout
        # under a cluster's lease, docs/admin.md), not per call: CPU in a burst.
        if self._client is None or self._client_for != (self.api_base, self.timeout):
            key, secret, token, token_secret = self._credentials()
            client = tweepy.Client(consumer_key=key, consumer_secret=secret, access_token=token,
                                   access_token_secret=token_secret, wait_on_rate_limit=False)
            # tweepy's own requests, each signed by this account's one signer (oauth1.py)
            client.session = signing_session_class()()
            client.session.signer = signer_class()(key, secret, token, token_secret)
            # One adapter (so one connection pool) for every X account with this api_base and timeout.
            api_base, timeout = self.api_base or None, self.timeout
            prepare_session(client.session, ("x", api_base, timeout),
                            functools.partial(rerouting_adapter, api_base, timeout), HOSTS)
            self._client, self._client_for = client, (self.api_base, self.timeout)
        return self._client

    # ----- errors ------------------------------------------------------------------
    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        import tweepy

        try:
            with self.network_errors():
                return fn(*args, **kwargs)
        except tweepy.errors.HTTPException as exc:
            raise self._classify(exc) from None
        except tweepy.errors.TweepyException as exc:
            text = mask(f"{self.name}: {exc}")
            if "Failed to send request" in str(exc):     # tweepy.API wraps connection errors
                raise Transient(text, not_sent=never_sent(exc)) from None
            raise ChannelError(text) from None

    def _classify(self, exc) -> ChannelError:
        import tweepy

        messages = "; ".join(exc.api_messages) or str(exc)
        text = mask(f"{self.name}: HTTP {exc.response.status_code}: {messages}")
        if isinstance(exc, tweepy.errors.TooManyRequests):
            return RateLimited(text, retry_at_from_headers(exc.response.headers))
        if isinstance(exc, tweepy.errors.Unauthorized):
            return AuthError(text)
        if isinstance(exc, tweepy.errors.TwitterServerError):
            return Transient(text)
        if isinstance(exc, tweepy.errors.Forbidden) and "duplicate" not in messages.lower() and \
                any(w in messages.lower() for w in ("token", "permission", "suspended", "oauth")):
            return AuthError(text)
        return Rejected(text, duplicate="duplicate" in messages.lower())

    # ----- posting -----------------------------------------------------------------
    def _upload(self, variant: Variant) -> list[str]:
        return [self._upload_one(media) for media in variant.media]

    def _upload_one(self, media) -> str:
        """initialize, append each chunk, finalize, wait while X processes it, then alt text."""
        client = self.client()
        category = "tweet_video" if media.kind == "video" else "tweet_image"
        started = self._call(client.request, "POST", "/2/media/upload/initialize", user_auth=True, json={
            "media_type": media.mime, "total_bytes": media.path.stat().st_size, "media_category": category})
        media_id = str(started.json()["data"]["id"])
        with open(media.path, "rb") as handle:
            size = int(self.setting("media_chunk_bytes", CHUNK_BYTES))
            for index, chunk in enumerate(iter(lambda: handle.read(size), b"")):
                self._call(self._append, media_id, index, chunk, media.mime)
        done = self._call(client.request, "POST", f"/2/media/upload/{media_id}/finalize", user_auth=True)
        self._wait_for_processing(media_id, done.json()["data"].get("processing_info"))
        if media.kind == "image" and media.alt:
            self._call(client.request, "POST", "/2/media/metadata", user_auth=True,
                       json={"id": media_id, "metadata": {"alt_text": {"text": media.alt}}})
        return media_id

    def _append(self, media_id: str, index: int, chunk: bytes, mime: str) -> None:
        """The one multipart call: tweepy's Client.request only sends JSON bodies."""
        client = self.client()
        with client.session.post(f"{HOSTS[0]}/2/media/upload/{media_id}/append", auth=client.session.signer,
                                 headers={"User-Agent": client.user_agent}, data={"segment_index": str(index)},
                                 files={"media": ("chunk", chunk, mime)}) as response:
            if response.status_code >= 400:
                raise _tweepy_error(response)

    def _wait_for_processing(self, media_id: str, info: dict | None) -> None:
        deadline = time.monotonic() + float(self.setting("media_timeout_seconds", 300))
        while info and info.get("state") in ("pending", "in_progress"):
            if time.monotonic() > deadline:
                raise Transient(f"{self.name}: X is still processing media {media_id}")
            time.sleep(min(float(info.get("check_after_secs", 1)), float(self.setting("media_poll_seconds", 5))))
            status = self._call(self.client().request, "GET", "/2/media/upload", user_auth=True,
                                params={"media_id": media_id, "command": "STATUS"})
            info = status.json()["data"].get("processing_info")
        if info and info.get("state") == "failed":
            error = info.get("error") or {}
            raise Rejected(f"{self.name}: X could not process the media: {error.get('message', 'failed')}")

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        if root is not None and is_dm(root.remote_id):
            return self._send_dm(variant, part, root.remote_id)
        media_ids = self._upload(variant) if index == 0 and variant.media else None
        with self.creating():
            response = self._call(self.client().create_tweet, text=part.text, media_ids=media_ids,
                                  in_reply_to_tweet_id=parent.remote_id if parent else None)
        tweet_id = str(response.data["id"])
        return Receipt(tweet_id, self._url(tweet_id))

    def _send_dm(self, variant: Variant, part: Part, target: str) -> Receipt:
        """A reply to a direct message is a direct message in the same conversation, never a
        tweet: POST /2/dm_conversations/:id/messages (tweepy create_direct_message)."""
        if variant.media:
            raise Rejected(f"{self.name}: civicpost sends private replies as text only: remove media:")
        conversation = target.split(":")[1]
        with self.creating():
            response = self._call(self.client().create_direct_message, dm_conversation_id=conversation,
                                  text=part.text, user_auth=True)
        return Receipt(f"dm:{conversation}:{response.data['dm_event_id']}", f"https://x.com/messages/{conversation}")

    def _url(self, tweet_id: str) -> str:
        handle = self.setting("handle") or (self._me or {}).get("username") or "i/web"
        return f"https://x.com/{handle}/status/{tweet_id}" if handle != "i/web" else f"https://x.com/i/web/status/{tweet_id}"

    def me(self) -> dict[str, str]:
        if self._me is None:
            data = self._call(self.client().get_me).data
            self._me = {"id": str(_field(data, "id")), "username": str(_field(data, "username"))}
        return self._me

    def candidates(self, variant: Variant, index: int, part: Part):
        """X rewrites links to t.co in what it returns, so links are compared as 'a link'."""
        target = str(variant.extra.get("in_reply_to") or "").split(":", 1)[-1]
        if is_dm(target):
            yield from self._dm_candidates(target, part)
            return
        me = self.me()
        response = self._call(self.client().get_users_tweets, me["id"], max_results=50, user_auth=True,
                              exclude=["retweets"], tweet_fields=["created_at", "referenced_tweets"])
        wanted = _comparable(part.text)
        for tweet in response.data or []:
            if _comparable(_field(tweet, "text")) == wanted:
                tweet_id = str(_field(tweet, "id"))
                yield (Receipt(tweet_id, self._url(tweet_id), {"in_reply_to": _replied_to(tweet)}),
                       parse_time(_optional(tweet, "created_at")))

    def _dm_candidates(self, target: str, part: Part):
        """A private reply after a crash: the conversation's own recent messages with this text
        (GET /2/dm_conversations/:id/dm_events)."""
        conversation, me, wanted = target.split(":")[1], self.me()["id"], _comparable(part.text)
        response = self._call(self.client().get_direct_message_events, dm_conversation_id=conversation,
                              max_results=50, user_auth=True, event_types=["MessageCreate"],
                              dm_event_fields=["id", "text", "created_at", "sender_id", "dm_conversation_id"])
        for event in response.data or []:
            if str(_field(event, "sender_id")) == me and _comparable(str(_field(event, "text"))) == wanted:
                yield (Receipt(f"dm:{conversation}:{_field(event, 'id')}", f"https://x.com/messages/{conversation}"),
                       parse_time(_optional(event, "created_at")))

    def check(self) -> dict[str, Any]:
        me = self.me()
        return {"account": f"@{me['username']}", "expires_at": None,
                "checked_at": datetime.now(timezone.utc)}

    # ----- the inbox (schedule/inbox/): reading replies and mentions -----------------
    # Both need a paid API tier (docs/channels.md); without it X answers 403
    # "client-not-enrolled", which the inbox reports once.  Search covers the last 7 days.
    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """GET /2/tweets/search/recent with "conversation_id:A OR conversation_id:B ..."
        (queries kept under X's 512-character limit) and since_id; every page."""
        found, newest = [], since
        for query in _conversation_queries(remote_ids):
            page_found, page_newest = self._read_pages(self.client().search_recent_tweets, "next_token",
                                                       set(remote_ids), query, since_id=since)
            found += page_found
            newest = _newer(newest, page_newest)
        return InboxPage(tuple(found), newest)

    def inbox_mentions(self, cursor: str | None) -> InboxPage:
        """GET /2/users/:id/mentions with since_id; every page (next_token goes older)."""
        found, newest = self._read_pages(self.client().get_users_mentions, "pagination_token", set(),
                                         self.me()["id"], since_id=cursor)
        return InboxPage(tuple(found), _newer(cursor, newest))

    def inbox_direct(self, cursor: str | None) -> InboxPage:
        """GET /2/dm_events (tweepy get_direct_message_events): the account's messages, newest
        first, with no since_id, so pages are read until an event at or below the cursor (the
        newest event id seen).  The first read takes one page (100), not the whole history.
        Needs the app's Direct Messages permission (docs/channels.md)."""
        found, newest, token, me = [], cursor, None, self.me()["id"]
        while True:
            response = self._call(self.client().get_direct_message_events, user_auth=True, max_results=100,
                                  event_types=["MessageCreate"], expansions=["sender_id"], user_fields=["username"],
                                  dm_event_fields=["id", "text", "event_type", "dm_conversation_id", "created_at",
                                                   "sender_id"], **({"pagination_token": token} if token else {}))
            users = {str(_field(u, "id")): str(_field(u, "username")) for u in (response.includes or {}).get("users", [])}
            reached = False
            for event in response.data or []:
                if cursor and int(_field(event, "id")) <= int(cursor):
                    reached = True
                    break
                found.append(self._dm_incoming(event, users, me))
                newest = _newer(newest, str(_field(event, "id")))
            token = (response.meta or {}).get("next_token")
            if reached or not token or cursor is None:
                return InboxPage(tuple(found), newest)

    def _dm_incoming(self, event: Any, users: dict[str, str], me: str) -> Incoming:
        conversation, sender = str(_field(event, "dm_conversation_id")), str(_field(event, "sender_id"))
        handle = users.get(sender, sender)
        # "dm:" keeps DM event ids apart from tweet ids, and tells reply_target/post_part the
        # answer must be a direct message in this conversation, never a public tweet.
        return Incoming(remote_id=f"dm:{conversation}:{_field(event, 'id')}", kind="direct",
                        text=str(_field(event, "text") or ""), created_at=parse_time(_field(event, "created_at")),
                        author=f"@{handle}", author_id=sender, url=f"https://x.com/messages/{conversation}",
                        conversation=f"dm:{conversation}", own=sender == me)

    def direct_access(self) -> str:
        try:
            self._call(self.client().get_direct_message_events, user_auth=True, max_results=1)
        except ChannelError as exc:
            return f"cannot read direct messages (the app needs the Direct Messages permission): {mask(exc)}"
        return "ok"

    def inbox_deleted(self, remote_ids: list[str]) -> list[str]:
        """Which stored tweets X no longer has: GET /2/tweets?ids=... (100 a call) answers
        each missing one with a "resource-not-found" error (X API v2, Tweets lookup).  Only
        that type counts: a protected or suspended author's tweet is not deleted."""
        gone, remote_ids = [], [r for r in remote_ids if not is_dm(r)]
        for start in range(0, len(remote_ids), 100):
            response = self._call(self.client().get_tweets, remote_ids[start:start + 100], user_auth=True)
            for error in response.errors or []:
                if str(error.get("type", "")).endswith("/resource-not-found"):
                    gone.append(str(error.get("resource_id") or error.get("value")))
        return gone

    def hide(self, remote_id: str) -> None:
        """PUT /2/tweets/:id/hidden {"hidden": true}: X's hidden replies (in the account's own
        conversations only)."""
        response = self._call(self.client().hide_reply, remote_id)
        if not (response.data or {}).get("hidden"):
            raise Rejected(f"{self.name}: X did not hide reply {remote_id}")

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """create_tweet(in_reply_to_tweet_id=...): post_part sends parent.remote_id.  X allows
        it only where the resident mentioned or quoted the account (docs/channels.md)."""
        target = Receipt(remote_id, None)
        return target, target

    def _read_pages(self, fn, page_param: str, posts: set[str], *args: Any, **params: Any):
        found, newest, token = [], None, None
        fields = dict(max_results=100, user_auth=True, expansions=["author_id"], user_fields=["username"],
                      tweet_fields=["created_at", "conversation_id", "referenced_tweets", "lang", "author_id",
                                    "edit_history_tweet_ids"])
        while True:
            extra = {page_param: token} if token else {}
            response = self._call(fn, *args, **params, **fields, **extra)
            users = {str(_field(u, "id")): str(_field(u, "username")) for u in (response.includes or {}).get("users", [])}
            for tweet in response.data or []:
                found.append(self._incoming(tweet, users, posts))
            meta = response.meta or {}
            newest = _newer(newest, meta.get("newest_id"))
            token = meta.get("next_token")
            if not token:
                return found, newest

    def _incoming(self, tweet: Any, users: dict[str, str], posts: set[str]) -> Incoming:
        tweet_id = str(_field(tweet, "id"))
        history = [str(t) for t in (_field(tweet, "edit_history_tweet_ids") or [tweet_id])]
        parent = next((str(_field(r, "id")) for r in (_field(tweet, "referenced_tweets") or [])
                       if _field(r, "type") == "replied_to"), None)
        conversation = str(_field(tweet, "conversation_id") or tweet_id)
        author_id = str(_field(tweet, "author_id") or "")
        created = _field(tweet, "created_at")
        created = created if isinstance(created, datetime) else datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        handle = users.get(author_id, author_id)
        # An edit is a new tweet id listing the original first (X's edit_history_tweet_ids):
        # it is kept as a new version of the original message.
        return Incoming(remote_id=history[0], kind="reply" if conversation in posts else "mention",
                        text=str(_field(tweet, "text")), created_at=created, author=f"@{handle}", author_id=author_id,
                        url=f"https://x.com/{handle}/status/{tweet_id}", parent_id=parent, conversation=conversation,
                        answers=conversation if conversation in posts else None,
                        edited_at=created if len(history) > 1 else None, own=author_id == self.me()["id"],
                        language=_field(tweet, "lang"))


def is_dm(remote_id: str) -> bool:
    """A direct message's inbox id: "dm:CONVERSATION:EVENT"."""
    return remote_id.startswith("dm:")


def _newer(a: str | None, b: str | None) -> str | None:
    """Tweet ids are snowflakes: compare as numbers, not strings."""
    values = [int(v) for v in (a, b) if v]
    return str(max(values)) if values else None


def _conversation_queries(remote_ids: list[str], limit: int = 512) -> list[str]:
    queries, current = [], ""
    for remote_id in remote_ids:
        term = f"conversation_id:{remote_id}"
        joined = f"{current} OR {term}" if current else term
        if len(joined) > limit and current:
            queries.append(current)
            joined = term
        current = joined
    return queries + ([current] if current else [])


def _tweepy_error(response):
    """tweepy's exception for a failed response, as its Client.request raises them."""
    from tweepy import errors

    classes = {400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
               429: errors.TooManyRequests}
    if response.status_code >= 500:
        return errors.TwitterServerError(response)
    return classes.get(response.status_code, errors.HTTPException)(response)


def _field(obj: Any, name: str) -> Any:
    """tweepy gives dicts for some responses and model objects for others."""
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _optional(tweet: Any, name: str) -> Any:
    return tweet.get(name) if isinstance(tweet, dict) else getattr(tweet, name, None)


def _replied_to(tweet: Any) -> str | None:
    """The tweet this one replies to (X's referenced_tweets, type "replied_to"), or None."""
    for ref in _optional(tweet, "referenced_tweets") or ():
        if _field(ref, "type") == "replied_to":
            return str(_field(ref, "id"))
    return None


def _comparable(text: str) -> str:
    return _URL.sub("<link>", text).strip()
