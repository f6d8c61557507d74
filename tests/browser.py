"""Headless Chromium (Debian's /usr/bin/chromium) driven over the DevTools protocol, and
axe-core (npm, installed by .ci/web-install.sh) run inside each page.

The protocol is spoken with `websockets` (a well-kept client) rather than a browser
automation framework: Playwright and Selenium would each download a browser build of
their own, which this project cannot fetch; Debian's Chromium is the one we test with.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE_DIR = Path(os.environ.get("CIVICPOST_AXE_DIR", Path.home() / ".cache" / "civicpost" / "axe"))
AXE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA: the rules axe-core tags for those criteria.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def missing() -> str | None:
    if not CHROMIUM:
        return "chromium not installed (.ci/browser-install.sh)"
    if not AXE.is_file():
        return f"axe-core not installed in {AXE_DIR} (.ci/web-install.sh)"
    return None


class Browser:
    """One headless Chromium with a fresh profile, one page, commands in order."""

    def __init__(self, width: int = 1280, height: int = 900):
        self.profile = tempfile.mkdtemp(prefix="civicpost-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", f"--window-size={width},{height}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        from websockets.sync.client import connect
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=30).__enter__()
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method: str, timeout: float = 60, **params) -> dict:
        number = next(self.ids)
        self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.events):
                if message.get("method") == event:
                    return self.events.pop(index)
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def open(self, url: str, headers: dict[str, str]) -> None:
        self.send("Network.enable")
        self.send("Network.setExtraHTTPHeaders", headers=headers)
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def submit_first_form(self) -> None:
        self.events.clear()
        self.evaluate("document.forms[document.forms.length - 1].submit()")
        self.wait_for("Page.loadEventFired")

    def axe(self) -> list[dict]:
        """Violations of WCAG 2.2 A/AA by axe-core's rules, one dict per rule broken."""
        self.evaluate(AXE.read_text(encoding="utf-8"))
        report = self.evaluate("axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']})"
                               % json.dumps(WCAG_AA))
        return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                 "nodes": [n["html"][:200] for n in v["nodes"][:5]]} for v in report["violations"]]

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)
