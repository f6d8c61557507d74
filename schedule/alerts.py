"""Alerts to people (email, Slack, Teams, ...) through apprise, once per problem.

Every alert is also an ``alert`` event in the ledger with a de-duplication key, so a
problem that persists across restarts or rescans is announced once, not every minute.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from .secrets import mask

log = logging.getLogger("civicpost.alerts")


class Alerter:
    def __init__(self, urls: tuple[str, ...], ledger=None, sender: Callable[[str, str], bool] | None = None):
        self.urls = urls
        self.ledger = ledger
        self._sender = sender
        self._sent: set[str] = set()
        self._lock = threading.Lock()
        self._apprise = None

    def _already(self, key: str) -> bool:
        if key in self._sent:
            return True
        if self.ledger is not None:
            row = self.ledger.db.execute("SELECT kind FROM events WHERE reason = ? AND kind IN ('alert', "
                                         "'alert-cleared') ORDER BY id DESC LIMIT 1", [key]).fetchone()
            if row and row[0] == "alert":
                self._sent.add(key)
                return True
        return False

    def send(self, key: str, title: str, body: str, delivery_id: int | None = None, item: str | None = None,
             channel: str | None = None) -> bool:
        """Send once per ``key``; returns True if this call sent (or logged) it."""
        title, body = mask(title), mask(body)
        with self._lock:
            if self._already(key):
                return False
            self._sent.add(key)
        log.warning("ALERT %s: %s", title, body.replace("\n", " | "))
        delivered = self._deliver(title, body)
        if self.ledger is not None:
            self.ledger.event("alert", delivery_id, item, channel, reason=key,
                              detail={"title": title, "body": body, "delivered": delivered})
        return True

    def clear(self, key: str) -> None:
        """The problem is over: a new occurrence should alert again."""
        with self._lock:
            was_sent = key in self._sent or self._already(key)
            self._sent.discard(key)
        if was_sent and self.ledger is not None:
            self.ledger.event("alert-cleared", reason=key)

    def _deliver(self, title: str, body: str) -> bool:
        if self._sender is not None:
            return self._sender(title, body)
        if not self.urls:
            return False
        try:
            if self._apprise is None:
                import apprise

                self._apprise = apprise.Apprise()
                for url in self.urls:
                    self._apprise.add(url)
            return bool(self._apprise.notify(title=title, body=body))
        except Exception as exc:  # noqa: BLE001 - an alert failure must never stop posting
            log.error("could not send alert: %s", mask(exc))
            return False


def delivery_alert(row: dict, what: str, error: str | None, tz) -> tuple[str, str]:
    """Title and body naming the item, the channel, the planned time and the error."""
    from .timeutil import human

    planned = human(row["planned_at"], tz)
    title = f"civicpost: {row['item']} on {row['channel']} {what}"
    body = (f"Item: {row['item']}\nChannel: {row['channel']}\nPlanned: {planned}\nState: {what}\n"
            f"Error: {error or '-'}\nDelivery id: {row['id']} (python bot.py status; retry/release/cancel "
            f"{row['id']})")
    return title, body
