"""`[web]` in config.toml: where the page listens, whom it trusts, who may do what.

    [web]
    listen = "127.0.0.1:8080"             # default; the SSO proxy in front forwards to it
    user_header = "X-Remote-User"         # set by the proxy after single sign-on
    trusted_proxies = ["127.0.0.1", "::1"] # addresses/CIDRs the header is believed from
    [web.roles]
    viewer = ["*"]                        # "*": anyone the proxy let in
    officer = ["bob"]
    approver = ["carol"]
    admin = ["alice"]

The form-signing secret is not here (config.toml never holds secrets): it is the
credential ``web_secret`` (``CIVICPOST_WEB_SECRET`` or ``$CREDENTIALS_DIRECTORY/web_secret``).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..config import Config, _line_of
from ..errors import BotError, ConfigError
from ..secrets import env_name, get_secret

ROLES = ("viewer", "officer", "approver", "admin")
# What each role may do; everyone with any role may look.  Roles are not ranked: a lawyer
# who signs off (approver) need not be able to pause the bot (admin).
RIGHTS = {
    "viewer": {"view"},
    "officer": {"view", "triage"},
    "approver": {"view", "signoff"},
    "admin": {"view", "triage", "signoff", "operate"},
}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    user_header: str = "X-Remote-User"
    trusted_proxies: tuple[Network, ...] = ()
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def trusts(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.trusted_proxies)

    def roles_of(self, user: str) -> tuple[str, ...]:
        return tuple(role for role in ROLES if user in self.roles.get(role, ()) or "*" in self.roles.get(role, ()))

    def rights_of(self, user: str) -> set[str]:
        return set().union(*(RIGHTS[role] for role in self.roles_of(user)))


def web_settings(config: Config, listen: str | None = None) -> WebSettings:
    """Read and check `[web]`; every mistake is one line naming the key and the fix."""
    section = config.section("web")
    text = config.path.read_text(encoding="utf-8") if config.path.exists() else ""
    path = str(config.path)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"[web] {key}: {message}", path, _line_of(text, rf"^\s*{key}\s*=") if text else 1)

    listen = str(listen or section.get("listen", "127.0.0.1:8080"))
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail("listen", f"{listen!r} is not HOST:PORT; write it like listen = \"127.0.0.1:8080\"")
    header = section.get("user_header", "X-Remote-User")
    if not isinstance(header, str) or not header.replace("-", "").isalnum():
        raise fail("user_header", f"{header!r} is not an HTTP header name; write it like \"X-Remote-User\"")
    proxies = []
    for value in section.get("trusted_proxies", ["127.0.0.1", "::1"]):
        try:
            proxies.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            raise fail("trusted_proxies", f"{value!r} is not an address or CIDR; write it like \"10.0.0.5\" "
                       "or \"10.0.0.0/24\"") from None
    roles_table = section.get("roles", {})
    if not isinstance(roles_table, dict):
        raise fail("roles", "must be a table [web.roles] with lists of user names")
    roles: dict[str, tuple[str, ...]] = {}
    for role, users in roles_table.items():
        if role not in ROLES:
            raise ConfigError(f"[web.roles] {role}: unknown role; use one of {', '.join(ROLES)}", path,
                              _line_of(text, rf"^\s*{role}\s*=") if text else 1)
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise ConfigError(f"[web.roles] {role}: must be a list of user names, like {role} = [\"alice\"]", path,
                              _line_of(text, rf"^\s*{role}\s*=") if text else 1)
        roles[role] = tuple(users)
    return WebSettings(host=host, port=int(port), user_header=header, trusted_proxies=tuple(proxies), roles=roles)


def web_secret() -> str:
    """The key that signs forms; refuse to serve without one rather than invent one."""
    secret = get_secret("web", "secret")
    if not secret or len(secret) < 32:
        raise BotError(f"the web page needs a form-signing secret of at least 32 characters: set "
                          f"{env_name('web', 'secret')} or the systemd credential web_secret "
                          "(e.g. `openssl rand -hex 32`)")
    return secret
