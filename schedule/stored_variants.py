"""The leader's rendered variant (#12), for nodes whose checkout differs from the leader's.

The leader stores each open delivery's rendering in ``deliveries.variant`` (``stored_record``):
the exact parts, media (relative to content/, with alt text), title, link, reply target, the
gate's verdict, the item fields a due decision needs and the templates' digest, bound to the
item's digest.  A node whose checkout lags a commit publishes exactly that
(``stored_variant``, ``stored_decision``); one that lacks the version, a media file or the
templates waits (``await_version``).  The rules of the nodes themselves are in cluster.py.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

from .errors import Problem

log = logging.getLogger("civicpost.cluster")


# ----- the leader's rendered variant, for nodes whose checkout differs -----------------
def stored_record(variant, item, errors: list[Problem], config, templates: str | None = None) -> str:
    """What the leader stores in ``deliveries.variant``: the exact parts, media (relative to
    content/, with alt text), title, link, reply target, the gate's verdict and the item
    fields a due decision needs, bound to the item's digest (and, given ``templates``, the
    digest of the templates that rendered it)."""
    from .plan import grace_for
    from .publisher import _media_json

    media = [_media_json(m, config.content_dir) for m in variant.media]
    window = None
    when = variant.extra.get("planned_at")
    if when is not None:
        from .plan import blackout_for
        found = blackout_for(item, when, config)
        window = found.reason if found else None
    return json.dumps({
        "digest": item.digest, "parts": [p.text for p in variant.parts], "title": variant.title, "media": media,
        "link": variant.link, "in_reply_to": variant.extra.get("in_reply_to"), "tags": list(variant.tags),
        "errors": [p.as_dict() for p in errors], "grace_seconds": grace_for(item, config).total_seconds(),
        "not_after": item.not_after.isoformat() if item.not_after else None, "blackout": window,
        **({"templates": templates} if templates is not None else {}),
    }, ensure_ascii=False, default=str)


def stored(row: dict) -> dict | None:
    """The leader's record for this row, if it was rendered from the row's current version."""
    if not row.get("variant"):
        return None
    record = json.loads(row["variant"])
    return record if record.get("digest") == row.get("item_digest") else None


def stored_variant(row: dict, record: dict, channel, config):
    """The variant exactly as the leader rendered it; media found in this node's content/."""
    from .model import Part, Variant
    from .publisher import _media_from_json

    media = tuple(_media_from_json(resolve_media(m, config)) for m in record["media"])
    problems = [Problem(**p) for p in record["errors"]]
    return Variant(item_id=row["item"], channel=row["channel"], network=channel.network,
                   parts=tuple(Part(t, channel.count(t)) for t in record["parts"]), limit=channel.max_length,
                   media=media, title=record["title"] or "", link=record["link"], tags=tuple(record["tags"]),
                   problems=problems, source=row["source"] or "",
                   extra={"planned_at": datetime.fromisoformat(row["planned_at"]), "in_reply_to": record["in_reply_to"]})


def resolve_media(entry: dict, config) -> dict:
    """A media path recorded by another node (another checkout): the same file in ours."""
    if entry.get("content_rel") and not Path(entry["path"]).exists():
        return {**entry, "path": str(config.content_dir / entry["content_rel"])}
    return entry


def stored_decision(record: dict, when: datetime, now: datetime, config, paused: bool) -> tuple[str, str | None]:
    """plan.due_decision from the leader's record, for a node without this item version."""
    from .timeutil import human
    not_after = datetime.fromisoformat(record["not_after"]) if record.get("not_after") else None
    if not_after and now > not_after:
        return "missed", f"not_after {human(not_after, config.timezone)} has passed"
    if now - when > timedelta(seconds=record["grace_seconds"]):
        return "missed", f"more than {int(record['grace_seconds'] // 60)} minutes late"
    if paused:
        return "held", "posting is paused"
    if record.get("blackout"):
        return "held", f"blackout: {record['blackout']}"
    return "publish", None


def missing_media(variant) -> list[str]:
    """Media the leader's variant names that this node's checkout does not have (yet): the
    commit that brought them is not pulled here."""
    return [m.rel for m in variant.media if not Path(m.path).exists()]


def await_version(publisher, row: dict, now: datetime, reason: str | None = None) -> str:
    """The leader recorded another version of the item than this node's checkout has, and
    stored no rendering of it (yet), or its rendering names a media file this checkout lacks:
    this node never sends its own version, nor the post without its image.  The claim ends
    and this node alone waits a little, for the leader's record or its own next git pull; the
    row stays due for the other nodes (a node whose checkout has it, the leader's above all,
    posts it as the backup), so one lagging checkout never holds a post back."""
    from .publisher import DUE_STATES
    reason = reason or "this node's checkout has another version of the item than the ledger: waiting for the leader's"
    publisher.ledger.transition(row["id"], row["state"], expect=DUE_STATES, **publisher._fence(), kind="waiting",
                                reason=reason)
    publisher.waiting[row["id"]] = now + timedelta(seconds=30)
    log.warning("NOT YET %s on %s: %s", row["item"], row["channel"], reason)
    return row["state"]


def taken_over(publisher, delivery_id: int, receipt) -> bool:
    """A post this node sent but could not record (the ledger was away past its lease) whose
    row another node took over and has not settled yet: that node finds the post on the
    network by today's rules, so this is no post "sent after it was changed".  Said once;
    the publisher keeps the outcome meanwhile."""
    from .publisher import DUE_STATES
    row = publisher.ledger.get(delivery_id) or {}
    if publisher.cluster is None or row.get("state") not in ("publishing", *DUE_STATES):
        return False
    if delivery_id not in publisher.taken_over:
        publisher.taken_over.add(delivery_id)
        log.warning("delivery %s (%s on %s): sent as %s, but node %s took it over while this node was cut off from "
                    "the ledger: it checks the network and records it", delivery_id, row["item"], row["channel"],
                    receipt.remote_id, row["claimed_by"])
    return True
