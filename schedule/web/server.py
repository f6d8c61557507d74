"""`bot.py serve`: the web page on waitress (a pure-Python WSGI server, no build chain)."""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from ..config import load_config
from ..errors import BotError
from .app import create_app
from .settings import web_secret, web_settings

log = logging.getLogger("civicpost.web")


def serve(config_path: str | Path, listen: str | None = None, threads: int = 4) -> None:
    """Serve until SIGTERM/SIGINT.  ``listen`` (HOST:PORT) overrides `[web] listen`."""
    from waitress import serve as waitress_serve

    config = load_config(config_path)
    settings = web_settings(config, listen)
    app = create_app(config, settings, web_secret())
    log.info("civicpost web page on http://%s:%s/ (identity from %s, trusted from %s)", settings.host,
             settings.port, settings.user_header, ", ".join(map(str, settings.trusted_proxies)) or "nobody")
    # clear_untrusted_proxy_headers: waitress drops X-Forwarded-* it was not told to trust;
    # our own header is checked against trusted_proxies in app.identify.
    # SIGTERM (systemctl stop) ends the loop the way Ctrl-C does: waitress closes its
    # sockets and serve returns, so the process exits 0 instead of dying by the signal.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        waitress_serve(app, host=settings.host, port=settings.port, threads=threads, ident="civicpost",
                       clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise BotError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}: is another "
                       "`serve` running? change [web] listen or pass --listen HOST:PORT") from None
