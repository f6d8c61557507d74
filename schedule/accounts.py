"""`bot.py channels check`: do the credentials work, whose account is it, and when does
the token expire?  Warns ``[channels_check] token_warn_days`` (default 14) ahead."""
from __future__ import annotations

from datetime import datetime, timezone

from .channels import make_channel
from .config import Config
from .errors import BotError
from .secrets import mask


def check_channels(config: Config, only: str | None = None, now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    results = []
    for name, channel_config in config.channels.items():
        if only and name != only:
            continue
        result = {"channel": name, "network": channel_config.network, "ok": False, "account": None,
                  "expires_at": None, "days_left": None, "warning": None, "error": None}
        try:
            channel = make_channel(channel_config, timeout=20)
            problems = channel.config_problems()
            if problems:
                raise BotError("; ".join(problems))
            info = channel.check()
            expires = info.get("expires_at")
            result.update(ok=True, account=info.get("account"))
            if expires:
                days = (expires - now).total_seconds() / 86400
                result.update(expires_at=expires.isoformat(), days_left=round(days, 1))
                if days < 0:
                    result.update(ok=False, error=f"token expired on {expires:%Y-%m-%d}: renew it")
                elif days <= config.token_warn_days:
                    result["warning"] = f"token expires on {expires:%Y-%m-%d} ({days:.0f} days): renew it soon"
            if "missing_rights" in info:               # YouTube: what the token's scopes do not allow
                result["missing_rights"] = info["missing_rights"]
            if info.get("warning"):                  # the channel's own, e.g. an API version about to retire
                result["warning"] = "; ".join(w for w in (result["warning"], info["warning"]) if w)
            if channel_config.network != "log":     # the inbox (#11): reported, never a failure
                result["inbox"] = channel.inbox_access()
                result["inbox_direct"] = channel.direct_access()     # direct messages, where the network has them
        except BotError as exc:
            result["error"] = mask(exc)
        except Exception as exc:  # noqa: BLE001 - a check must report every channel, whatever breaks
            result["error"] = mask(f"{type(exc).__name__}: {exc}")
        results.append(result)
    from .tokens import remember
    remember(config, results, now)          # for the web page's "expiring tokens"
    return results
