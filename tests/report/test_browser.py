"""report.html in a real headless browser (Debian chromium), with the network off: it loads
with no console error, no request leaves the file, a screenshot is not blank and it prints.

Chromium is driven through the Chrome DevTools protocol over ``--remote-debugging-pipe`` (fd 3
and 4, NUL-separated JSON), so no Python package is needed. The network is off by a proxy on
a closed local port and a host resolver that resolves nothing; background networking,
component updates and sync are off and the profile is a fresh empty folder, so Chromium does
not try to reach Google's hosts either.
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CJM_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
                "to run the browser test", allow_module_level=True)


class Browser:
    """A headless Chromium with a DevTools session on one page."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="cjm-chromium-")
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()

        def fds() -> None:  # the protocol pipe is fd 3 (commands) and fd 4 (replies)
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-default-apps",
                "--metrics-recording-only", "--mute-audio", f"--user-data-dir={self.profile}",
                "--remote-debugging-pipe", "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,900",
                "about:blank"]
        self.process = subprocess.Popen(args, preexec_fn=fds, close_fds=False,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _read(self, timeout: float) -> dict[str, Any] | None:
        end = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False,
             timeout: float = 20) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            reply = self._read(end - time.monotonic())
            if reply is None:
                break
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"{method}: no reply from chromium in {timeout} s")

    def load(self, url: str, *, timeout: float = 20) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        end = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            event = self._read(end - time.monotonic())
            if event is None:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            self.events.append(event)
        while (event := self._read(0.5)) is not None:  # late console messages
            self.events.append(event)

    def problems(self) -> list[str]:
        """Console errors and warnings, exceptions, failed loads, and any request that is
        not the file itself or an embedded data: URI."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                 "warning",
                                                                                 "assert"):
                found.append(f"console {params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error",
                                                                              "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
            elif method == "Network.loadingFailed":
                found.append(f"failed load: {params.get('errorText')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:")):
                    found.append(f"request to {url}")
        return found

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True}, session=True)
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        return base64.b64decode(data)

    def pdf(self) -> bytes:
        data = self.call("Page.printToPDF", {"printBackground": True, "paperWidth": 8.27,
                                             "paperHeight": 11.69}, session=True,
                         timeout=30)["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.report.test_builder import synthetic_run

    root = tmp_path_factory.mktemp("browser")
    return {lang: (synthetic_run(root / lang / "20261122T120000Z", language=lang),
                   root / lang / "20261122T120000Z" / "report.html")[1]
            for lang in ("en", "zh")}


def _not_blank(png: bytes) -> tuple[float, float]:
    """Share of non-white pixels and their grey-level spread."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float((grey < 240).mean()), float(grey.std())


@pytest.mark.parametrize("language", ["en", "zh"])
def test_report_loads_offline_without_errors_and_renders(browser, reports, language) -> None:
    browser.load(reports[language].as_uri())
    assert browser.problems() == []
    title = browser.evaluate("document.querySelector('h1').innerText")
    assert title == ("Customer journey improvement report" if language == "en" else "客户旅程改进报告")
    images = browser.evaluate("Array.from(document.images).map(i => i.complete && "
                              "i.naturalWidth > 0)")
    assert images and all(images), "an embedded figure did not decode"
    inked, spread = _not_blank(browser.screenshot())
    assert inked > 0.02 and spread > 10, (inked, spread)
    # no horizontal scrolling on a laptop screen (tables scroll inside their own box)
    assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_report_prints(browser, reports) -> None:
    browser.load(reports["en"].as_uri())
    pdf = browser.pdf()
    assert pdf.startswith(b"%PDF") and len(pdf) > 50_000
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 4  # one page per section
    # with the print style sheet on an A4 text width (190 mm = 718 px), no table is cut off
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=True)
    browser.call("Emulation.setDeviceMetricsOverride", {"width": 718, "height": 1000,
                                                        "deviceScaleFactor": 1,
                                                        "mobile": False}, session=True)
    try:
        overflowing = browser.evaluate(
            "Array.from(document.querySelectorAll('table')).filter(t => t.scrollWidth > "
            "t.parentElement.clientWidth + 1).map(t => t.closest('section').id)")
        hidden = browser.evaluate("getComputedStyle(document.querySelector('nav')).display")
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""}, session=True)
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    assert overflowing == [] and hidden == "none"


def test_the_harness_catches_what_it_must(browser, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><p>x</p><img src="https://example.com/a.png">'
                    '<script>console.error("planted")</script></body></html>')
    browser.load(page.as_uri())
    problems = " | ".join(browser.problems())
    assert "request to https://example.com/a.png" in problems
    assert "console error" in problems and "planted" in problems
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    browser.load(blank.as_uri())
    assert _not_blank(browser.screenshot())[0] < 0.001
