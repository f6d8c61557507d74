"""The one base class every network builds on.

Limits are class data, so one ``validate`` checks every network the same way (the
apprise pattern).  Subclasses implement ``post_part`` (and, where the network lets us
look, ``candidates``); the base class owns thread order, resumption from part k, error
classification and the rule for ambiguous failures, so those rules live in one place:

- ``network_errors`` tells a request that certainly never left (connection refused,
  connect timeout, unknown host: ``Transient(not_sent=True)``) from one that may have
  reached the network (read timeout, connection dropped after sending).
- ``creating`` wraps the one call that makes the post: any transient failure inside it
  that is not certainly unsent becomes ``Ambiguous`` (a 5xx too: the network may have
  stored the post before failing).  The publisher never resends an ambiguous post before
  asking the network (``idempotent`` networks: the same key; others: ``find_existing``).
- ``after_create`` wraps every call made once the post exists (permalink, thumbnail,
  captions): its failure never re-posts; it becomes a warning on the receipt.
"""
from __future__ import annotations

import contextlib
import threading
import importlib
import email.utils
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, ClassVar, Iterable, Iterator

from ..config import ChannelConfig
from ..counting import chars
from ..errors import Ambiguous, AuthError, ChannelError, Problem, RateLimited, Rejected, Transient
from ..model import InboxPage, Part, Receipt, Variant
from ..secrets import get_secret, mask, env_name
from .wire_fence import armed

log = logging.getLogger("civicpost.channel")

MB = 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})

# Alt text that is only a file name or starts with "image of" tells a screen-reader user nothing.
_LAZY_ALT_PREFIXES = ("image of", "picture of", "photo of", "an image of", "a picture of", "a photo of")


# Per thread: a check the publisher runs just before each call that makes a post (after any
# upload), so a node whose lease may have passed to another sends nothing (schedule/cluster.py).
_before_create = threading.local()


@contextlib.contextmanager
def before_create(check: Callable[[], None]) -> Iterator[None]:
    _before_create.check = check
    try:
        yield
    finally:
        _before_create.check = None


class Channel:
    network: ClassVar[str] = ""
    label: ClassVar[str] = ""                    # human name, e.g. "Facebook Page"
    max_length: ClassVar[int] = 0
    count: ClassVar[Callable[[str], int]] = staticmethod(chars)
    # A second limit in another unit, (maximum, count, unit): Bluesky's lexicon caps a post
    # at 300 graphemes and also 3,000 UTF-8 bytes.
    second_limit: ClassVar[tuple[int, Callable[[str], int], str] | None] = None
    # The network's own validity rule beyond length: why it would refuse a text, or "".
    refuses: ClassVar[Callable[[str], str] | None] = None
    max_images: ClassVar[int] = 4
    max_videos: ClassVar[int] = 0
    mix_media: ClassVar[bool] = False            # images and video in one post
    alt_text: ClassVar[bool] = True              # the network stores alt text
    max_alt_length: ClassVar[int] = 1000
    threads: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False           # safe to resend with the same key after a crash
    # How long the network remembers an idempotency key (None: for ever, e.g. a record key).
    idempotency_window: ClassVar[timedelta | None] = None
    can_find_existing: ClassVar[bool] = False    # can look up recent posts after a crash
    image_types: ClassVar[frozenset[str]] = IMAGE_TYPES
    video_types: ClassVar[frozenset[str]] = frozenset({"video/mp4"})
    max_image_bytes: ClassVar[int] = 5 * MB
    max_video_bytes: ClassVar[int] = 512 * MB
    needs_media: ClassVar[str | None] = None     # "image" (Instagram) or "video" (YouTube)
    uploads_captions: ClassVar[bool] = False     # sends a video's captions file with it
    caption_format: ClassVar[str | None] = None  # "vtt" / "srt": converted to it (schedule/captions.py)
    max_caption_bytes: ClassVar[int | None] = None
    title_limit: ClassVar[int | None] = None     # YouTube titles
    secret_fields: ClassVar[tuple[str, ...]] = ()
    required_settings: ClassVar[tuple[str, ...]] = ()
    default_api_base: ClassVar[str] = ""
    # How long before the planned time the daemon hands the post over.  YouTube uploads
    # ahead as private with status.publishAt, so the network itself publishes on time.
    lead_time: ClassVar[timedelta] = timedelta(0)
    # The client library's modules, imported by warm_up() before the daemon's worker
    # threads start: a first import racing in several threads can see a half-built module.
    client_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ChannelConfig, timeout: float = 30.0):
        quiet_credential_loggers()
        self.config = config
        self.name = config.name
        self.timeout = timeout
        self.api_base = (config.api_base or self.default_api_base).rstrip("/")

    def warm_up(self) -> None:
        for module in self.client_modules:
            importlib.import_module(module)

    # ----- settings and secrets -------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        return self.config.settings.get(key, default)

    def secret(self, field: str) -> str:
        value = get_secret(self.name, field)
        if not value:
            raise AuthError(f"{self.name}: missing credential {field!r}: set {env_name(self.name, field)} "
                            f"or put it in $CREDENTIALS_DIRECTORY/{self.name}_{field}")
        return value

    def config_problems(self) -> list[str]:
        """Missing non-secret settings, reported by validate without touching the network."""
        return [f"[channels.{self.name}] needs {key} = ... for {self.label or self.network}"
                for key in self.required_settings if not self.setting(key)]

    # ----- validation: one set of rules, driven by the class data ---------------
    def validate(self, variant: Variant) -> list[Problem]:
        problems: list[Problem] = []

        def add(code: str, message: str, level: str = "error", line: int | None = None) -> None:
            problems.append(Problem(variant.source, line or variant.line, level, code, message, self.name))

        if len(variant.parts) > 1 and not self.threads:
            add("thread", f"{self.label or self.network} has no threads; the parts are joined into one post",
                "warning")
        for number, part in enumerate(variant.parts, 1):
            which = f"part {number}" if len(variant.parts) > 1 else "text"
            if not part.text.strip():
                add("empty", f"part {number} is empty")
            if self.max_length and part.length > self.max_length:
                add("too-long", f"{which} is {part.length}/{self.max_length} as {self.network} counts; "
                    f"shorten it, add an override '{self.name}: {{text: ...}}', or set autothread: true")
            if self.second_limit and (size := self.second_limit[1](part.text)) > self.second_limit[0]:
                add("too-long", f"{which} is {size:,}/{self.second_limit[0]:,} {self.second_limit[2]}; shorten it "
                    f"or set autothread: true")
            if self.refuses and (why := self.refuses(part.text)):
                add("text-refused", f"{which} {why}")
        if self.title_limit is not None:
            if not variant.title.strip():
                add("no-title", f"{self.network} needs a title: add title: to the front matter")
            elif len(variant.title) > self.title_limit:
                add("too-long", f"title is {len(variant.title)}/{self.title_limit} characters")
            elif self.refuses and (why := self.refuses(variant.title)):
                add("text-refused", f"title {why}")
        images = [m for m in variant.media if m.kind == "image"]
        videos = [m for m in variant.media if m.kind == "video"]
        mline = variant.media_line
        if len(images) > self.max_images:
            add("media-count", f"{len(images)} images, {self.network} takes at most {self.max_images}", line=mline)
        if len(videos) > self.max_videos:
            add("media-count", f"{len(videos)} videos, {self.network} takes at most {self.max_videos}", line=mline)
        if images and videos and not self.mix_media:
            add("media-mix", f"{self.network} cannot mix images and video in one post", line=mline)
        reply = bool(variant.extra.get("in_reply_to"))      # an inbox reply is a comment: no media needed
        if self.needs_media == "video" and not videos and not reply:
            add("media-needed", f"{self.network} posts need a video in media:", line=mline)
        if self.needs_media == "image" and not (images or videos) and not reply:
            add("media-needed", f"{self.network} posts need an image or video in media:", line=mline)
        for media in variant.media:
            allowed = self.image_types if media.kind == "image" else self.video_types
            if media.kind == "other" or media.mime not in allowed:
                add("media-type", f"{media.rel}: {media.mime} is not accepted by {self.network} "
                    f"(accepts {', '.join(sorted(self.image_types | self.video_types))})", line=mline)
                continue
            limit = self.max_image_bytes if media.kind == "image" else self.max_video_bytes
            if media.size > limit:
                add("media-size", f"{media.rel} is {media.size / MB:.1f} MB, {self.network} takes at most "
                    f"{limit / MB:.0f} MB", line=mline)
            if media.kind == "video" and media.captions and self.uploads_captions and self.max_caption_bytes:
                self._caption_problems(media, add, mline)
            if media.kind == "image" and self.alt_text and len(media.alt) > self.max_alt_length:
                add("alt-length", f"{media.rel}: alt text is {len(media.alt)} characters, {self.network} "
                    f"keeps at most {self.max_alt_length}", line=mline)
        return problems

    def _caption_problems(self, media, add, line: int) -> None:
        from ..captions import captions_as
        from ..errors import ContentError

        try:
            size = len(captions_as(media.captions, self.caption_format)) if self.caption_format else \
                media.captions.stat().st_size
        except ContentError:
            return                               # unreadable captions: reported once, by the accessibility check
        if size > self.max_caption_bytes:
            add("captions-size", f"{media.captions.name} is {size:,} bytes as {self.network} takes it, "
                f"which is over its limit of {self.max_caption_bytes:,} bytes", line=line)

    # ----- publishing ------------------------------------------------------------
    def publish(self, variant: Variant, key: str, done: Iterable[Receipt] = (),
                on_part: Callable[[int, Receipt], None] | None = None,
                hold: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> Receipt:
        """Post every part not yet in ``done``, each replying to the one before.

        ``on_part`` is called after each part so the ledger records it before the next
        network call: a failure at part k leaves parts 0..k-1 recorded and the retry
        carries on from k.  Each part's create and its ``on_part`` run inside ``hold()``
        (the publisher's: no read-back sees the post before it is recorded).
        """
        posted = list(done)
        parts = variant.parts if self.threads else (Part(variant.text, 0),)
        reply_to = variant.extra.get("in_reply_to")          # "CHANNEL:REMOTE_ID" (schedule/inbox/replies.py)
        target = self.reply_target(str(reply_to).split(":", 1)[1]) if reply_to else None
        for index in range(len(posted), len(parts)):
            parent = posted[-1] if posted else (target[0] if target else None)
            root = target[1] if target else (posted[0] if posted else None)
            with hold():
                receipt = self.post_part(variant, index, parts[index], parent, root, f"{key}:{index}")
                posted.append(receipt)
                if on_part:
                    on_part(index, receipt)
        return posted[0]

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        raise NotImplementedError

    def find_existing(self, variant: Variant, index: int, part: Part, since: datetime | None = None,
                      taken: Iterable[str] = (), parent: Receipt | None = None) -> Receipt | None:
        """After a crash or an ambiguous failure: the post if the account has it, None if it
        certainly does not.  Raises ``ChannelError`` when it cannot tell (the delivery then
        becomes ``uncertain``).

        Text alone is not enough (a weekly reminder says the same thing every week): a post
        older than ``since`` (when this delivery first went to `publishing`, less a little
        for clock skew) or already recorded for another delivery (``taken``) is never ours,
        and in a thread, part k is ours only if it replies to our part k-1 (``parent``;
        where the network says what a post replies to, as ``extra["in_reply_to"]``).
        """
        taken = set(taken)
        if parent is None and index == 0 and variant.extra.get("in_reply_to"):
            # An inbox reply's first part answers the resident's message (#11), not nothing.
            parent = self.reply_target(str(variant.extra["in_reply_to"]).split(":", 1)[1])[0]
        for receipt, created in self.candidates(variant, index, part):
            if receipt.remote_id in taken:
                continue
            if "in_reply_to" in receipt.extra and receipt.extra["in_reply_to"] != (parent.remote_id if parent else None):
                continue
            if since is not None:
                if created is None:
                    raise ChannelError(f"{self.name}: {self.network} did not say when {receipt.remote_id} was posted")
                if created < since:
                    continue
            return receipt
        return None

    def candidates(self, variant: Variant, index: int, part: Part) -> Iterable[tuple[Receipt, datetime | None]]:
        """The account's recent posts whose text is this part's, each with when it was posted
        (and, for networks with threads, ``extra["in_reply_to"]``: the remote id it replies to)."""
        raise ChannelError(f"{self.network} cannot look up recent posts")

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        """Around the one call that makes the post: a failure that may have happened after the
        network received the request is Ambiguous (see the module docstring)."""
        check = getattr(_before_create, "check", None)
        if check is not None:
            check()          # several daemons (#12): fencing, here and again at each write (wire_fence.py)
        with armed(check):
            try:
                yield
            except Ambiguous:
                raise
            except Transient as exc:
                if exc.not_sent:
                    raise
                raise Ambiguous(f"{exc} (the post may have been made)") from None

    def after_create(self, receipt: Receipt, step: str, call: Callable[[], Any]) -> Any:
        """Run a step that needs the post to exist; on failure the post stays recorded and the
        receipt carries a warning saying which step did not happen (never a second post)."""
        try:
            return call()
        except ChannelError as exc:
            receipt.extra.setdefault("warnings", []).append(f"{step} failed: {mask(exc)}")
            log.warning("%s: posted %s, but %s failed: %s", self.name, receipt.remote_id, step, mask(exc))
            return None

    def check(self) -> dict[str, Any]:
        """Who am I, and when does the token expire (``expires_at`` aware datetime or None)."""
        raise NotImplementedError

    def part_count(self, variant: Variant) -> int:
        return len(variant.parts) if self.threads else 1

    # ----- error classification (one table for every network) ------------------
    @contextlib.contextmanager
    def network_errors(self) -> Iterator[None]:
        """Turn a client library's transport errors into Transient, masking secrets."""
        try:
            yield
        except ChannelError:
            raise
        except Exception as exc:  # noqa: BLE001 - every library has its own names for these
            name = type(exc).__name__.lower()
            text = mask(f"{self.name}: {type(exc).__name__}: {exc}")
            if any(word in name for word in ("timeout", "connection", "remotedisconnected", "protocol", "ssl", "network",
                                             "servernotfound")):
                raise Transient(text, not_sent=never_sent(exc)) from None
            raise

    # ----- the inbox: reading what comes back (schedule/inbox/ calls these) ---------
    def inbox_replies(self, remote_ids: list[str], since: str | None) -> "InboxPage":
        """Replies and comments under the council's own posts ``remote_ids``, newer than the
        cursor ``since``; the council's own replies come back too, with ``own=True``."""
        raise InboxNotSupported(f"{self.name}: the inbox cannot read replies on {self.label or self.network} yet")

    def inbox_mentions(self, cursor: str | None) -> "InboxPage":
        """Mentions of the account after ``cursor`` (a since id or time; None: the newest page)."""
        raise InboxNotSupported(f"{self.name}: the inbox cannot read mentions on {self.label or self.network} yet")

    def inbox_direct(self, cursor: str | None) -> "InboxPage":
        """Direct messages to the account after ``cursor`` (kind "direct"), where the network
        lets an app read them ([inbox.channels.NAME] direct = true; docs/channels.md).  A
        reply to one is sent privately: ``post_part`` must never make it a public post."""
        raise InboxNotSupported(f"{self.name}: {self.label or self.network} has no direct messages civicpost can read")

    def direct_access(self) -> str:
        """For `channels check`: "ok", or why direct messages cannot be read here."""
        return f"not available: {self.label or self.network} gives apps no direct messages"

    def inbox_deleted(self, remote_ids: list[str]) -> list[str]:
        """Which of these stored messages the network no longer has (asked once per
        ``[inbox] sweep_minutes``), for networks whose reads never show a deletion."""
        raise InboxNotSupported(f"{self.name}: {self.label or self.network} cannot be asked what was deleted")

    # A read of inbox_replies with since=None lists every current reply, so it shows edits
    # and deletions that an incremental read (by creation time) cannot: the poller does one
    # such read every [inbox] sweep_minutes (Facebook: Graph has no edit time on comments).
    inbox_full_read_shows_changes: ClassVar[bool] = False
    # Can answer a direct message (an inbox id "dm:...") privately; validate refuses a reply
    # file for one on a network that cannot.
    sends_direct_replies: ClassVar[bool] = False

    def inbox_access(self) -> str:
        """For `channels check`: "ok", or why the inbox cannot read on this channel.  The
        default reads one page of mentions; networks with a cheaper test override it."""
        try:
            self.inbox_mentions(None)
        except InboxNotSupported:
            return "not checked here: the first `inbox fetch` reports it"
        except ChannelError as exc:
            return f"cannot read mentions: {mask(exc)}"
        return "ok"

    def hide(self, remote_id: str) -> None:
        """Hide a resident's reply or comment from public view, where the network allows it."""
        raise InboxNotSupported(f"{self.name}: {self.label or self.network} has no way to hide a reply here")

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """(parent, root) receipts for a native reply to the message ``remote_id``; networks
        that can reply override this (publish() then sends part 0 as that reply)."""
        raise Rejected(f"{self.name}: civicpost cannot post replies on {self.label or self.network} yet")


# Exceptions (by class name, as the libraries are imported lazily) that mean the request
# never reached the server: no connection was made, so nothing can have been posted.
# A read timeout or a connection dropped after sending is not here: it may have been.
_NOT_SENT = frozenset({"ConnectionRefusedError", "gaierror", "NewConnectionError", "NameResolutionError",
                       "ConnectTimeout", "ConnectTimeoutError", "ConnectError", "ServerNotFoundError"})


def never_sent(exc: BaseException) -> bool:
    """Whether anywhere in the chain of wrapped exceptions (requests -> urllib3, Mastodon.py
    -> requests, atproto -> httpx, httplib2) the cause is a connection that never opened."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if any(cls.__name__ in _NOT_SENT for cls in type(current).__mro__):
            return True
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


# Libraries that write credentials into their DEBUG logs (OAuth 1 signing keys, tokens in
# query strings).  Held at WARNING so a debug log level can never leak a secret.
CREDENTIAL_LOGGERS = ("oauthlib", "requests_oauthlib", "urllib3", "httpx", "httpcore", "googleapiclient.discovery",
                      "google.auth")


def parse_time(value: Any) -> datetime | None:
    """A network's timestamp (ISO 8601 with Z or +0000, or epoch milliseconds) as aware UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def quiet_credential_loggers() -> None:
    for name in CREDENTIAL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def retry_at_from_headers(headers: Any, now: datetime | None = None) -> datetime | None:
    """Read a rate-limit reset from whichever header the network uses."""
    now = now or datetime.now(timezone.utc)
    get = (lambda k: headers.get(k)) if headers is not None else (lambda k: None)
    for key in ("x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset"):
        value = get(key) or get(key.title()) or get(key.upper())
        if value:
            try:
                number = float(value)
            except ValueError:
                continue
            # Epoch seconds (X, Bluesky) or seconds-from-now (IETF draft): tell them apart by size.
            return datetime.fromtimestamp(number, timezone.utc) if number > 1e9 else now + timedelta(seconds=number)
    value = get("retry-after") or get("Retry-After")
    if value:
        try:
            return now + timedelta(seconds=float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def classify_http(channel: str, status: int, message: str, headers: Any = None,
                  duplicate_words: tuple[str, ...] = ("duplicate",)) -> ChannelError:
    """Map an HTTP status and the network's own message to the error hierarchy."""
    text = mask(f"{channel}: HTTP {status}: {message}")
    if status == 429:
        return RateLimited(text, retry_at_from_headers(headers))
    if status in (401,) or (status == 403 and any(w in message.lower() for w in ("token", "auth", "expired", "revoked"))):
        return AuthError(text)
    if status in (408, 409 if "conflict" in message.lower() else -1):
        return Transient(text, not_sent=status == 408)   # 408: the server gave up reading the request
    if status >= 500:
        return Transient(text)                            # may have been acted on (Ambiguous when creating)
    return Rejected(text, duplicate=any(word in message.lower() for word in duplicate_words))



class InboxNotSupported(ChannelError):
    """This network (or this civicpost) has no such read call: skipped, never retried."""
