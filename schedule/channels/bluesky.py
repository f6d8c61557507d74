"""Bluesky, through atproto (the AT Protocol SDK), tested against the real Bluesky PDS.

One login per channel, then the session is reused (and refreshed by atproto), because
Bluesky rate-limits createSession.  Links, hashtags and @mentions become facets with
UTF-8 byte offsets, computed here: atproto's TextBuilder builds text piece by piece, it
does not find links in text we already have.  Link cards are not made.

A video goes up as Bluesky's documentation calls the "simple method": uploadBlob to the
PDS and an app.bsky.embed.video embed, with alt text and WebVTT captions (an .srt file
is converted).  Bluesky's
video service processes it once the post appears, so it may show as loading for a few
seconds (the service's own pre-processing upload needs service auth to video.bsky.app,
which is not used here).

Each post's record key is chosen here, not by the PDS: a TID derived from the delivery's
idempotency key and the part number (``record_key``).  A resend after a crash or a lost
answer therefore names the same record, which the PDS refuses to create twice; the
channel then reads that record back and treats it as posted.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from .. import counting
from ..errors import AuthError, ChannelError, RateLimited, Rejected, Transient
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from ..secrets import mask, remember
from .base import IMAGE_TYPES, Channel, parse_time, retry_at_from_headers
from .wire_fence import fence_httpx_request

_LINK = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]]")
_TAG = re.compile(r"(?<![\w#])#([^\s#.,;:!?()\[\]\"']*[^\W\d_][^\s#.,;:!?()\[\]\"']*)")
_MENTION = re.compile(r"(?<![\w@])@([a-zA-Z0-9][a-zA-Z0-9.-]*\.[a-zA-Z][a-zA-Z0-9-]*)")
_AUTH_ERRORS = ("ExpiredToken", "InvalidToken", "AuthenticationRequired", "AccountTakedown", "AuthFactorTokenRequired",
                "AuthMissing", "InvalidPassword")


# atproto's "base32-sortable" alphabet for TIDs (atproto.com/specs/tid).
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_NO_PLANNED_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)
DEFAULT_LANGUAGE = "en"                  # what atproto's send_post puts in langs when none is given


def record_key(key: str, planned_at: datetime | None) -> str:
    """A TID for this delivery part: app.bsky.feed.post records are keyed by ``tid``
    (the lexicon's "key": "tid"; atproto.com/specs/record-key).  A TID is 64 bits, the top
    one 0, then 53 bits of microseconds since the UNIX epoch and 10 bits of clock id,
    written as 13 characters of base32-sortable (atproto.com/specs/tid).

    The timestamp is the planned second (so the key sorts like a post made then) plus
    microseconds from a hash of the key, and the clock id comes from the same hash: the
    same delivery and part always get the same key, different ones practically never.
    Written here because atproto's Python SDK only validates TIDs (it has no generator
    that takes a chosen time and clock id)."""
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    second = int((planned_at or _NO_PLANNED_TIME).timestamp())
    micros = second * 1_000_000 + digest % 1_000_000
    value = (micros << 10) | ((digest >> 20) & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


class BlueskyChannel(Channel):
    network = "bluesky"
    label = "Bluesky"
    max_length = 300
    count = staticmethod(counting.graphemes)
    # lexicons/app/bsky/feed/post.json: text maxGraphemes 300 and maxLength 3000 (UTF-8 bytes).
    second_limit = (3000, counting.utf8_bytes, "UTF-8 bytes")
    max_images = 4
    max_videos = 1
    video_types = frozenset({"video/mp4"})
    max_video_bytes = 100 * 1024 * 1024
    uploads_captions = True
    caption_format = "vtt"               # app.bsky.embed.video#caption: WebVTT, up to 20 kB
    max_caption_bytes = 20_000
    alt_text = True
    max_alt_length = 2000
    threads = True
    idempotent = True                    # the record key is ours (record_key): a resend names the same record
    can_find_existing = True
    image_types = IMAGE_TYPES
    max_image_bytes = 1_000_000
    secret_fields = ("app_password",)
    client_modules = ("atproto", "atproto_client.request")
    required_settings = ("handle",)

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self.api_base = (config.api_base or str(self.setting("service", "https://bsky.social"))).rstrip("/")
        self._client = None
        self._timeout_used = None

    # ----- session -----------------------------------------------------------------
    def client(self):
        from atproto import Client
        from atproto_client.request import Request

        if self._client is None or self._timeout_used != self.timeout:
            session = self._client.export_session_string() if self._client and self._client._session else None
            # The request hook lets httpcore run the armed fencing check as a create's headers leave (#12).
            client = Client(base_url=self.api_base + "/xrpc", request=Request(
                timeout=self.timeout, event_hooks={"request": [fence_httpx_request]}))
            if session:
                client.login(session_string=session, fetch_bsky_profile=False)
            else:
                self._call(client.login, self.setting("handle"), self.secret("app_password"), fetch_bsky_profile=False)
            remember(client.export_session_string())      # never logged, even by accident
            self._client, self._timeout_used = client, self.timeout
        return self._client

    def _did(self) -> str:
        return self.client()._session.did

    # ----- errors ------------------------------------------------------------------
    def _classify(self, exc: Exception) -> ChannelError:
        from atproto_client import exceptions as e

        text = mask(f"{self.name}: {type(exc).__name__}: {exc}")
        response = getattr(exc, "response", None)
        error_name = getattr(getattr(response, "content", None), "error", "") or ""
        if isinstance(exc, e.NetworkError):
            return Transient(text)
        if isinstance(exc, e.UnauthorizedError) or error_name in _AUTH_ERRORS:
            return AuthError(text)
        if response is not None and response.status_code == 429:
            reset = getattr(exc, "reset_at", None) or retry_at_from_headers(response.headers)
            return RateLimited(text, reset)
        if response is not None and response.status_code >= 500:
            return Transient(text)
        if isinstance(exc, (e.BadRequestError, e.RequestException)):
            return Rejected(text)
        return ChannelError(text)

    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        from atproto_client import exceptions as e

        try:
            with self.network_errors():
                return fn(*args, **kwargs)
        except e.AtProtocolError as exc:
            raise self._classify(exc) from None

    def _with_session(self, fn, *args: Any, **kwargs: Any) -> Any:
        """Call fn; if the server says the access token has expired, refresh the session once."""
        try:
            return self._call(fn, *args, **kwargs)
        except AuthError as exc:
            if "ExpiredToken" not in str(exc):
                raise
            client = self.client()
            self._call(client._refresh_and_set_session)
            return self._call(fn, *args, **kwargs)

    # ----- posting -----------------------------------------------------------------
    def facets(self, text: str) -> list:
        from atproto import models

        encoded = text.encode("utf-8")

        def span(match: re.Match, group: int = 0) -> Any:
            start = len(text[: match.start(group)].encode("utf-8"))
            end = start + len(match.group(group).encode("utf-8"))
            assert encoded[start:end].decode("utf-8") == match.group(group)
            return models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end)

        facets = []
        for match in _LINK.finditer(text):
            facets.append(models.AppBskyRichtextFacet.Main(
                index=span(match), features=[models.AppBskyRichtextFacet.Link(uri=match.group(0))]))
        for match in _TAG.finditer(text):
            facets.append(models.AppBskyRichtextFacet.Main(
                index=span(match), features=[models.AppBskyRichtextFacet.Tag(tag=match.group(1))]))
        for match in _MENTION.finditer(text):
            did = self._resolve(match.group(1))
            if did:
                facets.append(models.AppBskyRichtextFacet.Main(
                    index=span(match), features=[models.AppBskyRichtextFacet.Mention(did=did)]))
        return facets

    def _resolve(self, handle: str) -> str | None:
        from atproto_client import exceptions as e

        try:
            return self.client().com.atproto.identity.resolve_handle({"handle": handle}).did
        except e.AtProtocolError:
            return None                  # not a handle: leave it as plain text

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        from atproto import models

        client = self.client()
        embed = None
        lang = variant.extra.get("lang")
        videos = [m for m in variant.media if m.kind == "video"]
        if index == 0 and videos:
            embed = self._video_embed(videos[0], lang)
        elif index == 0 and variant.media:
            images = []
            for media in variant.media:
                blob = self._upload(media.path.read_bytes(), media.mime)
                images.append(models.AppBskyEmbedImages.Image(alt=media.alt or "", image=blob))
            embed = models.AppBskyEmbedImages.Main(images=images)
        reply = None
        if parent is not None and root is not None:
            reply = models.AppBskyFeedPost.ReplyRef(
                parent=models.ComAtprotoRepoStrongRef.Main(uri=parent.extra["uri"], cid=parent.extra["cid"]),
                root=models.ComAtprotoRepoStrongRef.Main(uri=root.extra["uri"], cid=root.extra["cid"]))
        # As atproto's Client.send_post builds the record, but created with our own record key.
        record = models.AppBskyFeedPost.Record(
            created_at=client.get_current_time_iso(), text=part.text, reply=reply, embed=embed,
            langs=[lang] if lang else [DEFAULT_LANGUAGE], facets=self.facets(part.text) or None)
        rkey = record_key(key, variant.extra.get("planned_at"))
        try:
            with self.creating():
                created = self._with_session(client.app.bsky.feed.post.create, self._did(), record, rkey=rkey)
        except (Transient, Rejected) as exc:
            # Refused (the record exists: the PDS answers 500 for a taken key), or no answer:
            # the record under our key says whether the post was made.
            try:
                existing = self._own_record(rkey)
            except ChannelError:
                raise exc from None
            if existing is None:
                raise
            if getattr(existing.value, "text", None) != part.text:
                raise Rejected(f"{self.name}: record key {rkey} already holds a different post") from None
            return self._receipt(existing.uri, existing.cid)
        return self._receipt(created.uri, created.cid)

    def _own_record(self, rkey: str):
        """Our post under this record key, or None when the PDS says there is none."""
        from atproto_client import exceptions as e

        client = self.client()
        try:
            with self.network_errors():
                return client.app.bsky.feed.post.get(self._did(), rkey)
        except e.AtProtocolError as exc:
            content = getattr(getattr(exc, "response", None), "content", None)
            if getattr(content, "error", None) == "RecordNotFound":
                return None
            raise self._classify(exc) from None

    def _video_embed(self, video, lang: str | None):
        from atproto import models

        blob = self._upload(video.path.read_bytes(), video.mime)
        captions = None
        if video.captions:
            from ..captions import captions_as

            uploaded = self._upload(captions_as(video.captions, "vtt"), "text/vtt")
            captions = [models.AppBskyEmbedVideo.Caption(file=uploaded, lang=lang or "en")]
        return models.AppBskyEmbedVideo.Main(video=blob, alt=video.alt or None, captions=captions)

    def _upload(self, data: bytes, mime: str):
        """uploadBlob with the file's type: the PDS cannot tell WebVTT from other text, and
        the post record is refused unless the blob's type is the one its lexicon accepts."""
        repo = self.client().com.atproto.repo
        return self._with_session(repo.upload_blob, data, headers={"Content-Type": mime}).blob

    def _receipt(self, uri: str, cid: str) -> Receipt:
        rkey = uri.rsplit("/", 1)[-1]
        handle = self.setting("handle")
        return Receipt(uri, f"https://bsky.app/profile/{handle}/post/{rkey}", {"uri": uri, "cid": cid})

    def candidates(self, variant: Variant, index: int, part: Part):
        client = self.client()
        listed = self._with_session(client.com.atproto.repo.list_records,
                                    {"repo": self._did(), "collection": "app.bsky.feed.post", "limit": 50})
        for record in listed.records:
            if getattr(record.value, "text", None) == part.text:
                reply = getattr(record.value, "reply", None)
                receipt = self._receipt(record.uri, record.cid)
                receipt.extra["in_reply_to"] = reply.parent.uri if reply else None
                yield receipt, parse_time(getattr(record.value, "created_at", None))

    def check(self) -> dict[str, Any]:
        client = self.client()
        session = self._with_session(client.com.atproto.server.get_session)
        return {"account": f"@{session.handle}", "expires_at": None, "checked_at": datetime.now(timezone.utc)}

    # ----- the inbox (schedule/inbox/): replies, mentions and quotes ------------------
    # app.bsky.* reads go to the account's PDS, which proxies them to its AppView (Bluesky's
    # own, or the test AppView in tests/servers/appview.py); a PDS without one answers
    # "No service configured", which the inbox reports once.
    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """app.bsky.feed.getPostThread for each post (depth 20): every reply under it, the
        council's own included; a post deleted since is skipped."""
        client, found, missing = self.client(), {}, []
        for uri in remote_ids:
            try:
                thread = self._with_session(client.app.bsky.feed.get_post_thread,
                                            {"uri": uri, "depth": 20, "parent_height": 0}).thread
            except Rejected as exc:
                if "NotFound" not in str(exc):
                    raise
                missing.append(uri)
                continue
            stack = list(getattr(thread, "replies", None) or [])
            while stack:
                node = stack.pop()
                post = getattr(node, "post", None)
                if post is None:                      # notFoundPost / blockedPost
                    continue
                found.setdefault(post.uri, self._incoming(post.uri, post.author, post.record, "reply", uri,
                                                          post.indexed_at))
                stack += list(getattr(node, "replies", None) or [])
        return InboxPage(tuple(found.values()), None, complete=True, missing_posts=tuple(missing))

    def inbox_mentions(self, cursor: str | None) -> InboxPage:
        """app.bsky.notification.listNotifications (reply, mention, quote), newest first, page
        by page until one is no newer than the cursor (the newest indexedAt seen)."""
        client, found, newest, page_cursor = self.client(), [], cursor, None
        while True:
            params = {"limit": 50, "reasons": ["reply", "mention", "quote"]}
            if page_cursor:
                params["cursor"] = page_cursor
            listed = self._with_session(client.app.bsky.notification.list_notifications, params)
            for note in listed.notifications:
                if cursor and note.indexed_at <= cursor:
                    return InboxPage(tuple(found), newest)
                if note.reason not in ("reply", "mention", "quote"):
                    continue
                newest = max(newest or "", note.indexed_at)
                kind = "mention" if note.reason in ("mention", "quote") else "reply"
                found.append(self._incoming(note.uri, note.author, note.record, kind, note.reason_subject,
                                            note.indexed_at))
            page_cursor = listed.cursor
            if not page_cursor or not listed.notifications:
                return InboxPage(tuple(found), newest)

    def inbox_direct(self, cursor: str | None) -> InboxPage:
        """Direct messages live on Bluesky's chat service, reached through the account's PDS
        with ``atproto-proxy: DID#bsky_chat`` (``chat_service``, default did:web:api.bsky.chat):
        chat.bsky.convo.listConvos, then getMessages for each conversation whose last
        message is newer than the cursor (the newest sentAt seen).  The app password must be
        allowed direct messages."""
        chat = self.client().with_proxy("bsky_chat", str(self.setting("chat_service", "did:web:api.bsky.chat")))
        found, newest, me = [], cursor, self._did()
        for convo in self._with_session(chat.chat.bsky.convo.list_convos, {"limit": 100}).convos:
            last = getattr(convo.last_message, "sent_at", None)
            if last is None or (cursor and last <= cursor):
                continue
            handles = {member.did: member.handle for member in convo.members}
            listed = self._with_session(chat.chat.bsky.convo.get_messages, {"convo_id": convo.id, "limit": 100})
            for message in listed.messages:
                sent = getattr(message, "sent_at", None)
                if getattr(message, "text", None) is None or (cursor and sent <= cursor):
                    continue                         # a deleted message's view, or already read
                newest = max(newest or "", sent)
                sender = message.sender.did
                found.append(Incoming(remote_id=f"dm:{convo.id}:{message.id}", kind="direct", text=message.text,
                                      created_at=datetime.fromisoformat(sent.replace("Z", "+00:00")),
                                      author=f"@{handles.get(sender, sender)}", author_id=sender,
                                      conversation=f"dm:{convo.id}", own=sender == me))
        return InboxPage(tuple(found), newest)

    def _incoming(self, uri: str, author: Any, record: Any, kind: str, answers: str | None,
                  indexed_at: str) -> Incoming:
        reply = getattr(record, "reply", None)
        parent = reply.parent.uri if reply else None
        root = reply.root.uri if reply else None
        created = getattr(record, "created_at", None) or indexed_at
        langs = getattr(record, "langs", None) or []
        return Incoming(remote_id=uri, kind=kind, text=getattr(record, "text", "") or "",
                        created_at=datetime.fromisoformat(created.replace("Z", "+00:00")),
                        author=f"@{author.handle}", author_id=author.did,
                        url=f"https://bsky.app/profile/{author.handle}/post/{uri.rsplit('/', 1)[-1]}",
                        parent_id=parent, conversation=answers if kind == "reply" and answers else root,
                        answers=answers if kind == "reply" else None, own=author.did == self._did(),
                        language=langs[0] if langs else None)

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """Bluesky replies carry strong refs to the parent and to the thread's root: read the
        parent record from its own repo (com.atproto.repo.getRecord) for its cid and root."""
        if remote_id.startswith("dm:"):
            # chat.bsky.convo.sendMessage has no idempotency key and this channel resends
            # rather than reads back (idempotent posts): a private reply could go twice.
            raise Rejected(f"{self.name}: civicpost does not send Bluesky direct messages yet: answer it in the "
                           "Bluesky app (the inbox sees that answer)")
        repo, collection, rkey = remote_id.removeprefix("at://").split("/", 2)
        got = self._with_session(self.client().com.atproto.repo.get_record,
                                 {"repo": repo, "collection": collection, "rkey": rkey})
        parent = Receipt(got.uri, None, {"uri": got.uri, "cid": got.cid})
        reply = getattr(got.value, "reply", None)
        root = Receipt(reply.root.uri, None, {"uri": reply.root.uri, "cid": reply.root.cid}) if reply else parent
        return parent, root
