"""Mastodon, through Mastodon.py.

Every status is sent with an ``Idempotency-Key`` (the delivery's key plus the part
number, the same on every retry), so a retry after a crash or a timeout returns the
first status instead of posting a second one.  Mastodon keeps a key "for up to 1 hour"
(docs.joinmastodon.org/methods/statuses, Idempotency-Key), so a resend later than that
asks the account first (``idempotency_window``).
"""
from __future__ import annotations

import functools
import html
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import counting
from ..errors import AuthError, ChannelError, RateLimited, Rejected, Transient
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from ..secrets import mask
from .base import IMAGE_TYPES, VIDEO_TYPES, Channel, parse_time
from .sessions import prepare_session


class MastodonChannel(Channel):
    network = "mastodon"
    label = "Mastodon"
    max_length = 500
    count = staticmethod(counting.mastodon_length)     # StatusLengthValidator: graphemes, URLs 23
    max_images = 4
    max_videos = 1
    alt_text = True
    max_alt_length = 1500
    threads = True
    idempotent = True
    idempotency_window = timedelta(hours=1)
    can_find_existing = True
    image_types = IMAGE_TYPES
    video_types = VIDEO_TYPES
    max_image_bytes = 16 * 1024 * 1024
    max_video_bytes = 99 * 1024 * 1024
    secret_fields = ("access_token",)
    client_modules = ("mastodon",)
    required_settings = ("instance",)

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self.api_base = (config.api_base or str(self.setting("instance", ""))).rstrip("/")
        self._client = None
        self._poster = None

    def warm_up(self) -> None:
        super().warm_up()
        # The length rule's URL and mention patterns (~0.25 s to compile): before the workers
        # run, not inside the first burst on a node that never rendered (#12).
        counting.mastodon_length("warm up https://example.org @someone@example.org")

    def _mastodon(self, client_class: type, session: Any = None) -> Any:
        # ratelimit_method="throw": a 429 must reach the daemon (which schedules the retry)
        # rather than put this thread to sleep for minutes.  mastodon_version is given so the
        # library does not fetch /api/v1/instance before every session.
        return client_class(access_token=self.secret("access_token"), api_base_url=self.api_base,
                            request_timeout=self.timeout, ratelimit_method="throw", mastodon_version="4.2.0",
                            version_check_mode="created", session=session)

    def client(self):
        from mastodon import Mastodon

        if self._client is None or self._client.request_timeout != self.timeout:
            self._client = self._mastodon(Mastodon)
            prepare_session(self._client.session)         # one pool per instance host, for every account
        return self._client

    def poster(self):
        """The client that creates (media, statuses): Mastodon.py itself, on the same
        session (its connections are reused), whose answers are left as the JSON it parsed.

        Mastodon.py casts every answer into its typed entities (`Status`, its `Account`, its
        media...) field by field: 1.2 ms of CPU for one status, half of a Mastodon delivery's
        client CPU in the burst (bench/burst.py), for a receipt that reads three strings.
        Its own request path already takes the answer type as a parameter (`__api_request`'s
        ``override_type``; `dict` for its OAuth and unread-count calls) but `status_post` fixes
        it to `Status`, so this client answers every cast with the value as parsed (see
        `PlainAnswers`).  The request itself (form fields, Idempotency-Key header, token), the
        rate-limit headers and the error mapping are Mastodon.py's own, unchanged."""
        if self._poster is None or self._poster.request_timeout != self.timeout:
            self._poster = self._mastodon(plain_answers(), session=self.client().session)
        return self._poster

    # ----- errors ------------------------------------------------------------------
    def _raise(self, exc: Exception, client: Any = None) -> None:
        from mastodon import errors as e

        text = mask(f"{self.name}: {type(exc).__name__}: {exc}")
        if isinstance(exc, e.MastodonRatelimitError):
            client = client or self._client          # the client that was answered 429 read its headers
            reset = getattr(client, "ratelimit_reset", None) if client else None
            retry_at = datetime.fromtimestamp(reset, timezone.utc) if reset else None
            raise RateLimited(text, retry_at) from None
        if isinstance(exc, e.MastodonUnauthorizedError):
            raise AuthError(text) from None
        if isinstance(exc, (e.MastodonNetworkError, e.MastodonServerError)):
            raise Transient(text) from None
        if isinstance(exc, e.MastodonAPIError):
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
            if status == 403 and "token" in str(exc).lower():
                raise AuthError(text) from None
            raise Rejected(text) from None
        raise ChannelError(text) from None

    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        from mastodon import errors as e

        try:
            with self.network_errors():
                return fn(*args, **kwargs)
        except e.MastodonError as exc:
            self._raise(exc, getattr(fn, "__self__", None))

    # ----- posting -----------------------------------------------------------------
    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        client = self.poster()
        media_ids = []
        if index == 0:
            for media in variant.media:
                uploaded = self._call(client.media_post, str(media.path), mime_type=media.mime,
                                      description=media.alt or None)
                media_ids.append(uploaded["id"])
        visibility, text = self.setting("visibility", "public"), part.text
        if root is not None and root.extra.get("visibility"):
            # An inbox reply is never seen by more people than the message it answers: a reply
            # to a direct message is itself direct, mentioning only that person.
            visibility = narrowest(visibility, root.extra["visibility"])
            if visibility == "direct":
                text = private_text(self.name, text, root.extra["acct"])
        with self.creating():
            status = self._call(client.status_post, text, in_reply_to_id=parent.remote_id if parent else None,
                                media_ids=media_ids or None, idempotency_key=key,
                                visibility=visibility, language=variant.extra.get("lang"))
        return Receipt(str(status["id"]), status.get("url"), {"uri": status.get("uri")})

    def candidates(self, variant: Variant, index: int, part: Part):
        client = self.client()
        me = self._call(client.account_verify_credentials)
        for status in self._call(client.account_statuses, me["id"], limit=40, exclude_reblogs=True):
            shown = html_to_text(status["content"])
            if shown == part.text.strip() or (status.get("visibility") == "direct" and
                                              without_leading_mentions(shown) == without_leading_mentions(part.text)):
                reply_to = status.get("in_reply_to_id")
                yield (Receipt(str(status["id"]), status.get("url"), {
                    "uri": status.get("uri"), "in_reply_to": str(reply_to) if reply_to is not None else None}),
                    parse_time(status.get("created_at")))

    def check(self) -> dict[str, Any]:
        me = self._call(self.client().account_verify_credentials)
        host = re.sub(r"^https?://", "", self.api_base)
        return {"account": f"@{me['acct']}@{host}", "expires_at": None}

    # ----- the inbox (schedule/inbox/): reading replies and mentions -----------------
    def _my_id(self) -> str:
        if getattr(self, "_me_id", None) is None:
            self._me_id = str(self._call(self.client().account_verify_credentials)["id"])
        return self._me_id

    def _incoming(self, status: Any, kind: str, answers: str | None) -> Incoming:
        account = status["account"] or {}
        return Incoming(
            remote_id=str(status["id"]), kind="direct" if status.get("visibility") == "direct" else kind,
            text=html_to_text(status["content"]),
            created_at=_aware(status["created_at"]), author=f"@{account.get('acct', '')}",
            author_id=str(account.get("id", "")), url=status.get("url"),
            parent_id=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
            conversation=answers or (str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None),
            answers=answers, edited_at=_aware(status["edited_at"]) if status.get("edited_at") else None,
            own=str(account.get("id")) == self._my_id(), language=status.get("language"))

    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """GET /api/v1/statuses/:id/context for each post: every reply under it, the
        council's own included.  Context has no since id, so each pass reads the whole
        thread (which is how edits and deletions are seen); a post deleted since is skipped."""
        client, found, missing = self.client(), {}, []
        for post_id in remote_ids:
            try:
                context = self._call(client.status_context, post_id)
            except Rejected as exc:
                if "404" not in str(exc) and "not found" not in str(exc).lower():
                    raise
                missing.append(post_id)
                continue
            for status in context["descendants"]:
                found.setdefault(str(status["id"]), self._incoming(status, "reply", post_id))
        return InboxPage(tuple(found.values()), None, complete=True, missing_posts=tuple(missing))

    def inbox_mentions(self, cursor: str | None) -> InboxPage:
        """Public mentions: the mention notifications whose status is not direct."""
        return self._mention_notifications(cursor, direct=False)

    def inbox_direct(self, cursor: str | None) -> InboxPage:
        """Direct messages: a status with visibility "direct" is "visible only to mentioned
        users" (Mastodon's docs), so each one sent to the council arrives as a mention
        notification; those are read here, with their own cursor."""
        return self._mention_notifications(cursor, direct=True)

    def direct_access(self) -> str:
        return self.inbox_access()               # the same notifications, the same read scope

    def _mention_notifications(self, cursor: str | None, direct: bool) -> InboxPage:
        """GET /api/v1/notifications?types[]=mention&min_id=cursor, page by page (each page's
        Link rel="prev" goes newer) until nothing is newer; the cursor is the newest id."""
        client, found, newest = self.client(), [], cursor
        page = self._call(client.notifications, types=["mention"], min_id=cursor, limit=40)
        while page:
            for notification in page:
                newest = str(max(int(newest or 0), int(notification["id"])))
                status = notification.get("status")      # None when the status was deleted since
                if status and (status.get("visibility") == "direct") == direct:
                    found.append(self._incoming(status, "mention", None))
            if getattr(page, "_pagination_prev", None) is None:
                break
            page = self._call(client.fetch_previous, page)
        return InboxPage(tuple(found), newest)

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """A reply is a status with in_reply_to_id (post_part sends parent.remote_id), no more
        visible than the status it answers (GET /api/v1/statuses/:id: its visibility and
        author), so a direct message is answered directly."""
        status = self._call(self.client().status, remote_id)
        target = Receipt(remote_id, status.get("url"), {"visibility": status.get("visibility") or "public",
                                                        "acct": (status.get("account") or {}).get("acct", "")})
        return target, target


@functools.cache
def plain_answers():
    """Mastodon.py's client class, with its answers left as parsed JSON (dicts and lists).

    Mastodon.py (2.x) sends every answer through one private method of its request path,
    ``Mastodon.__try_cast_to_type(value, override_type)``, which returns (the cast value,
    its type's name); nothing else in a request depends on the cast (error answers are read
    as a dict with "error", which a plain dict is).  This subclass overrides that one method
    and never calls the original, so the original's look two frames up the stack (for the
    public method's return annotation) is never asked from a wrong frame.  If a later
    Mastodon.py renames it, answers are typed again: slower, still right (the receipt reads
    ``["id"]``, ``.get("url")``, ``.get("uri")`` of either); tests/channels/test_mastodon_plain.py
    notices.  Made on first use, so importing this module does not import Mastodon.py."""
    from mastodon import Mastodon

    class PlainAnswers(Mastodon):
        def _Mastodon__try_cast_to_type(self, value, override_type=None):
            return value, None

    return PlainAnswers


# Mastodon's visibilities, most public first (docs.joinmastodon.org, Status: visibility).
VISIBILITIES = ("public", "unlisted", "private", "direct")
_MENTION = re.compile(r"(?<![\w/@])@([\w.]+)(?:@([\w.-]+\w))?", re.UNICODE)


def narrowest(*visibilities: str) -> str:
    """The least visible of these; one Mastodon does not document counts as direct."""
    return max(visibilities, key=lambda v: VISIBILITIES.index(v) if v in VISIBILITIES else len(VISIBILITIES))


def without_leading_mentions(text: str) -> str:
    """A direct reply as Mastodon shows it back starts with "@user" (the domain is only in
    the link): compare what follows the mentions."""
    return re.sub(r"^(?:\s*@[\w.]+(?:@[\w.-]+\w)?)+\s*", "", text.strip())


def private_text(channel: str, text: str, acct: str) -> str:
    """A direct status reaches everyone it mentions: it must mention the resident (added in
    front if the reply does not) and nobody else (refused: never a leak)."""
    user = acct.split("@")[0].lower()
    others = [m.group(0) for m in _MENTION.finditer(text)
              if m.group(1).lower() != user or (m.group(2) and f"{m.group(1)}@{m.group(2)}".lower() != acct.lower()
                                                and "@" in acct)]
    if others:
        raise Rejected(f"{channel}: a private reply to @{acct} also mentions {', '.join(others)}, who would receive "
                       "it too: remove the other mentions")
    if not any(True for _ in _MENTION.finditer(text)):
        text = f"@{acct} {text}"
    return text


def _aware(moment: Any) -> datetime:
    """Mastodon.py gives aware datetimes; a string (an odd server) is parsed, never guessed."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00"))


def html_to_text(content: str) -> str:
    """Mastodon returns statuses as HTML; compare them with what we sent as plain text."""
    text = re.sub(r"<br\s*/?>", "\n", content or "")
    text = re.sub(r"</p>\s*<p>", "\n\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()
