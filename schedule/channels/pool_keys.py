"""requests' transport adapter with its per-request pool-key work done once per origin (#12)."""
from __future__ import annotations

from typing import Any

_STEADY_ADAPTER: Any = None
_POOL_KEYS_KEPT = 1024                   # origins x CA settings: a few dozen in practice


def steady_adapter_class() -> Any:
    """requests' ``HTTPAdapter`` (with ``wire_fence``'s fenced connections), keeping its
    connection-pool key per origin and TLS settings.

    For every request requests works out which pool it goes to
    (``build_connection_pool_key_attributes``, its documented hook for subclasses): it parses
    the URL and, when ``verify`` names a CA bundle (REQUESTS_CA_BUNDLE is set on Debian's
    Python images, so it always does there), asks the file system whether that is a folder:
    a stat per request (#12's burst).  The answer depends only on the URL's scheme, host and
    port, ``verify`` and ``cert``, and the CA bundle does not turn into a folder while the
    daemon runs, so requests' own answer is kept and reused (a copy each time)."""
    global _STEADY_ADAPTER
    if _STEADY_ADAPTER is None:
        from .wire_fence import fenced_adapter_class

        class SteadyPoolKeys(fenced_adapter_class()):       # requests' HTTPAdapter, fenced at the wire
            def __init__(self, *args: Any, **kwargs: Any):
                super().__init__(*args, **kwargs)
                self._pool_keys: dict[tuple, tuple[dict, dict]] = {}

            def build_connection_pool_key_attributes(self, request, verify, cert=None):
                url = request.url
                end = url.find("/", url.find("//") + 2)
                key = (url if end < 0 else url[:end], verify, cert)     # everything up to the path
                try:
                    host, pool = self._pool_keys[key]
                except (KeyError, TypeError):                          # TypeError: an unhashable cert
                    host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
                    try:
                        if len(self._pool_keys) >= _POOL_KEYS_KEPT:
                            self._pool_keys.clear()
                        self._pool_keys[key] = (host, pool)
                    except TypeError:
                        return host, pool
                return dict(host), dict(pool)

        _STEADY_ADAPTER = SteadyPoolKeys
    return _STEADY_ADAPTER
