"""What the three Meta Graph channels (Facebook Page, Instagram, Threads) share: the
pyfacebook client pointed at api_base, and one classification of Graph errors.

Graph errors arrive as {"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}; rate limits are codes (4, 17, 32, 613, 80001-80014) rather than HTTP 429,
with the wait in the X-App-Usage / X-Business-Use-Case-Usage headers.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import AuthError, ChannelError, RateLimited, Rejected, Transient
from ..model import Media, Receipt
from ..secrets import mask
from .base import Channel, parse_time, retry_at_from_headers
from .sessions import prepare_session

RATE_LIMIT_CODES = {4, 17, 32, 613} | set(range(80001, 80015))
AUTH_SUBCODES = {458, 459, 460, 463, 464, 467, 492}
DUPLICATE_CODES = {506}
TRANSIENT_CODES = {1, 2}


class GraphChannel(Channel):
    """Base for the Graph networks: client, calls and errors; subclasses post."""

    api_class = "GraphAPI"
    default_version = "v25.0"            # Meta keeps each version for at least two years; `api_version` overrides
    default_api_base = "https://graph.facebook.com"
    secret_fields = ("access_token",)
    client_modules = ("pyfacebook", "requests")

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self._api = None
        # The last answer's headers and status, per thread: up to per_channel_concurrency
        # workers share this channel, and a 429's reset headers must be its own request's.
        self._seen = threading.local()

    def api(self):
        import pyfacebook

        if self._api is None:
            # sleep_on_rate_limit=False: a rate limit must reach the daemon, not stall a thread.
            self._api = getattr(pyfacebook, self.api_class)(
                access_token=self.secret("access_token"), version=str(self.setting("api_version", self.default_version)),
                ignore_version_check=True, sleep_on_rate_limit=False, base_url=self.api_base + "/",
                timeout=self.timeout)
            self._api.session.hooks["response"].append(self._remember_headers)
            prepare_session(self._api.session)            # one pool per Graph host, for every account
        self._api._GraphAPI__timeout = self.timeout       # tests change the timeout after construction
        return self._api

    def _remember_headers(self, response, *args: Any, **kwargs: Any) -> None:
        self._seen.headers = dict(response.headers)      # requests runs hooks in the calling thread
        self._seen.status = response.status_code

    def call(self, method: str, *args: Any, **kwargs: Any) -> dict:
        from pyfacebook.exceptions import FacebookError, LibraryError

        self._seen.headers, self._seen.status = {}, 0
        try:
            with self.network_errors():
                return getattr(self.api(), method)(*args, **kwargs)
        except FacebookError as exc:
            raise classify_graph(self.name, exc, self._seen.headers) from None
        except LibraryError as exc:
            # Not JSON: an HTML error page from a load balancer; a 5xx is worth retrying.
            status = self._seen.status
            text = mask(f"{self.name}: HTTP {status}: {getattr(exc, 'message', exc)}")
            raise (Transient(text) if status >= 500 or status == 0 else Rejected(text)) from None

    def media_url(self, media: Media) -> str:
        """Instagram and Threads fetch media from a public URL: media_base_url + the path
        as written in the content file (e.g. https://www.example.gov.uk/social/media/pool.png)."""
        base = str(self.setting("media_base_url", "")).rstrip("/")
        if not base:
            raise Rejected(f"{self.name}: set media_base_url in [channels.{self.name}] so {self.label} can fetch "
                           f"{media.rel}")
        return f"{base}/{media.rel.lstrip('/')}"

    # The container fields each network documents for its status (asking Graph for a field a
    # node does not have is error 100): Instagram's IG Container has `status_code` and `status`
    # (the error detail); Threads' container has `status` and `error_message` (Threads API,
    # "Troubleshooting: Publishing Does Not Return a Media ID").  Subclasses set their pair.
    container_status_field: str = "status_code"
    container_error_field: str = "status"

    def wait_for_container(self, container_id: str) -> None:
        """Instagram and Threads process a media container before it can be published."""
        interval = float(self.setting("container_poll_seconds", 2))
        deadline = time.monotonic() + float(self.setting("container_timeout_seconds", 120))
        fields = f"{self.container_status_field},{self.container_error_field}"
        while True:
            status = self.call("get_object", container_id, fields=fields)
            code = status.get(self.container_status_field)
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code in ("ERROR", "EXPIRED"):
                detail = status.get(self.container_error_field) or ""
                raise Rejected(f"{self.name}: media container {container_id} is {code}: {detail}")
            if time.monotonic() > deadline:
                raise Transient(f"{self.name}: media container {container_id} still {code} after waiting")
            time.sleep(interval)

    def recent_matches(self, owner: str, edge: str, text_field: str, link_field: str, time_field: str, text: str,
                       *more_fields: str):
        """The owner's recent posts on this edge whose text is exactly ``text``, with when each
        was made (and, when ``more_fields`` are asked for, the post itself as a third item)."""
        fields = ",".join((text_field, link_field, time_field, *more_fields))
        recent = self.call("get_connection", owner, edge, fields=fields, limit=25)
        for post in recent.get("data", []):
            if (post.get(text_field) or "").strip() == text.strip():
                found = Receipt(str(post["id"]), post.get(link_field)), parse_time(post.get(time_field))
                yield (*found, post) if more_fields else found

    def inbox_access(self) -> str:
        """The token's own scopes (debug_token) against what reading comments needs."""
        needed = {"facebook": ("pages_read_engagement", "pages_read_user_content"),
                  "instagram": ("instagram_manage_comments",),
                  "threads": ("threads_read_replies",)}.get(self.network, ())
        try:
            scopes = set(self.call("debug_token", self.secret("access_token")).get("data", {}).get("scopes", []))
        except ChannelError as exc:
            return f"cannot tell: {exc}"
        missing = [s for s in needed if s not in scopes]
        return f"missing permission {', '.join(missing)} (App Review)" if missing else "ok"

    def token_expiry(self) -> datetime | None:
        """Expiry from debug_token where the token may inspect itself (0 means never)."""
        try:
            data = self.call("debug_token", self.secret("access_token")).get("data", {})
        except ChannelError:
            return None
        stamp = data.get("expires_at") or data.get("data_access_expires_at")
        return datetime.fromtimestamp(stamp, timezone.utc) if stamp else None


def classify_graph(channel: str, exc: Any, headers: dict[str, str]) -> ChannelError:
    code = int(getattr(exc, "code", 0) or 0)
    subcode = int(getattr(exc, "error_subcode", 0) or 0)
    kind = getattr(exc, "type", "") or ""
    message = getattr(exc, "message", "") or str(exc)
    text = mask(f"{channel}: Graph error {code}{f'/{subcode}' if subcode else ''} ({kind}): {message}")
    if code == 190 or code == 102 or subcode in AUTH_SUBCODES or (kind == "OAuthException" and code in (10, 200)):
        return AuthError(text)
    if code in RATE_LIMIT_CODES:
        return RateLimited(text, usage_retry_at(headers))
    if code in DUPLICATE_CODES:
        return Rejected(text, duplicate=True)
    if code in TRANSIENT_CODES or getattr(exc, "is_transient", False):
        return Transient(text)
    return Rejected(text)


def usage_retry_at(headers: dict[str, str]) -> datetime | None:
    """estimated_time_to_regain_access (minutes) from the Business Use Case header, if any."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = lowered.get("x-business-use-case-usage")
    if raw:
        try:
            minutes = max(int(entry.get("estimated_time_to_regain_access", 0))
                          for entries in json.loads(raw).values() for entry in entries)
            if minutes:
                return datetime.now(timezone.utc) + timedelta(minutes=minutes)
        except (ValueError, AttributeError, TypeError):
            pass
    return retry_at_from_headers(lowered)


class GraphMessaging:
    """Direct messages of a Facebook Page (Messenger) and of the Instagram account linked to
    it, through the Page's conversations (#11): GET /{page-id}/conversations (``platform=
    instagram`` for Instagram), newest updated first, each with its messages; a reply is
    POST /{page-id}/messages {recipient: {id}, message: {text}, messaging_type: RESPONSE}
    (Meta's Send API; a Page may answer within 24 hours of the person's last message).
    A message's inbox id is "dm:PERSON:MESSAGE", PERSON the resident's page-scoped id, so a
    reply can only ever be a private message to that person."""

    dm_platform = "messenger"
    dm_permission = "pages_messaging"

    def _messaging_page(self) -> str:
        from .base import InboxNotSupported

        page = self.setting("page_id")
        if not page:
            raise InboxNotSupported(f"{self.name}: set page_id = \"...\" (the Facebook Page linked to this account) "
                                    "to read and answer its direct messages")
        return str(page)

    def _account_ids(self) -> set[str]:
        return {str(self.setting(key)) for key in ("page_id", "ig_user_id") if self.setting(key)}

    def inbox_direct(self, cursor: str | None):
        """Conversations updated after the cursor (Unix seconds of the newest update seen);
        the first read takes one page (25), not the whole history."""
        from ..model import InboxPage

        page, found, newest, after = self._messaging_page(), [], int(cursor or 0), None
        while True:
            listed = self.call("get_connection", page, "conversations", platform=self.dm_platform, limit=25,
                               fields="id,updated_time,participants,messages.limit(25){id,message,created_time,from}",
                               **({"after": after} if after else {}))
            reached = False
            for conversation in listed.get("data", []):
                updated = int(parse_time(_graph_time(conversation["updated_time"])).timestamp())
                # Graph times are whole seconds: the conversation updated in the cursor's own
                # second is read again (its known messages are "same"), so nothing is missed.
                if cursor and updated < int(cursor):
                    reached = True
                    break
                newest = max(newest, updated)
                found += self._dm_messages(conversation)
            paging = listed.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            if reached or not after or cursor is None:
                return InboxPage(tuple(found), str(newest) if newest else cursor)

    def _dm_messages(self, conversation: dict) -> list:
        from ..model import Incoming

        ours = self._account_ids()
        people = [p for p in (conversation.get("participants") or {}).get("data", []) if str(p.get("id")) not in ours]
        person = str(people[0]["id"]) if people else ""
        found = []
        for message in (conversation.get("messages") or {}).get("data", []):
            sender = message.get("from") or {}
            own = str(sender.get("id")) in ours
            found.append(Incoming(remote_id=f"dm:{person}:{message['id']}", kind="direct",
                                  text=message.get("message") or "",
                                  created_at=parse_time(_graph_time(message["created_time"])),
                                  author=sender.get("name") or sender.get("username") or "",
                                  author_id=str(sender.get("id", "")), conversation=f"dm:{conversation['id']}",
                                  own=own))
        return found

    def send_dm(self, part, target: str) -> Receipt:
        """The Send API, as a response to the person's message: never a comment or a post."""
        person = target.split(":")[1]
        with self.creating():
            made = self.call("post_object", self._messaging_page(), "messages", data={
                "recipient": json.dumps({"id": person}), "message": json.dumps({"text": part.text}),
                "messaging_type": "RESPONSE"})
        return Receipt(f"dm:{person}:{made['message_id']}", None)

    def dm_candidates(self, target: str, part):
        """After a crash: the Page's own recent messages to that person with this text
        (GET /{page-id}/conversations?user_id=PERSON)."""
        person, ours = target.split(":")[1], self._account_ids()
        listed = self.call("get_connection", self._messaging_page(), "conversations", platform=self.dm_platform,
                           user_id=person, fields="id,messages.limit(25){id,message,created_time,from}")
        for conversation in listed.get("data", []):
            for message in (conversation.get("messages") or {}).get("data", []):
                if str((message.get("from") or {}).get("id")) in ours and \
                        (message.get("message") or "").strip() == part.text.strip():
                    yield (Receipt(f"dm:{person}:{message['id']}", None),
                           parse_time(_graph_time(message["created_time"])))

    def direct_access(self) -> str:
        if not self.setting("page_id"):
            return "not set up: set page_id (the linked Facebook Page) to read direct messages"
        try:
            scopes = set(self.call("debug_token", self.secret("access_token")).get("data", {}).get("scopes", []))
        except ChannelError as exc:
            return f"cannot tell: {exc}"
        return "ok" if self.dm_permission in scopes else f"missing permission {self.dm_permission} (App Review)"


def _graph_time(value: str) -> str:
    """Graph writes +0000; Python 3.11's fromisoformat wants +00:00."""
    return value[:-2] + ":" + value[-2:] if len(value) > 5 and value[-5] in "+-" and value[-3] != ":" else value
