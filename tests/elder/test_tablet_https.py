"""A real tablet's way in: the service serving https itself, at a public address that is not localhost.

``companion serve`` runs as families run it at home (README "On a real tablet"): a certificate from a
certificate authority made here with trustme, ``COMPANION_TLS_CERT`` / ``COMPANION_TLS_KEY``, and
``COMPANION_PUBLIC_URL=https://companion.test:<port>``. Chromium reaches that name through a host
resolver rule and trusts the certificate's key only (``--ignore-certificate-errors-spki-list``, as a
tablet trusts a CA installed on it), so the origin is a real https origin and not localhost (which
browsers treat as secure whatever its scheme, so testing on it would prove nothing).

The caregiver signs in to the dashboard (at the server's loopback address, so that a link built from the
request's address would be wrong), presses "connect a tablet" and the QR code on the screen is
read back from a screenshot; the tablet opens what the QR code says, pairs with one tap, and the
conversation starts with the microphone open: the page is a secure context and microphone audio goes
to the service over wss.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Final

import pytest
import pytest_asyncio
import trustme
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services import require_service
from tests.dashboard.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS
from tests.elder.conftest import ServiceProcess, free_port

try:  # the dev extra installs playwright
    from playwright.async_api import Browser, Page, async_playwright

    from tests.elder.page_driver import MEDIA_ARGS, ElderPage
except ImportError:  # pragma: no cover
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOST: Final = "companion.test"  # a reserved name (RFC 6761): never a real site
DEMO_USER: Final = "user-tiferet-001"

# Draws a PNG (a screenshot) on a canvas and answers its pixels as grey levels, row by row.
PIXELS_SCRIPT: Final = """async (dataUrl) => {
  const image = new Image();
  image.src = dataUrl;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const rgba = context.getImageData(0, 0, image.width, image.height).data;
  const grey = new Array(image.width * image.height);
  for (let i = 0; i < grey.length; i++) {
    grey[i] = Math.round((rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3);
  }
  return { width: image.width, height: image.height, grey };
}"""


@dataclass
class HttpsService:
    service: ServiceProcess
    public: str
    spki: str  # base64 SHA-256 of the certificate's public key, as Chromium's flag takes it


def spki_hash(cert_pem: bytes) -> str:
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def https_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsService]:
    if async_playwright is None:
        require_service("Chromium", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    work = tmp_path_factory.mktemp("https")
    ca = trustme.CA()
    leaf = ca.issue_cert(HOST, "127.0.0.1")  # 127.0.0.1 too: the fixture's own /health check uses it
    cert, key = work / "cert.pem", work / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    port = free_port()
    public = f"https://{HOST}:{port}"
    (work / "music").mkdir()
    service = ServiceProcess(
        work / "data",
        work / "music",
        work / "service.log",
        port=port,
        scheme="https",
        verify=verify,
        extra_env={
            "COMPANION_PUBLIC_URL": public,
            "COMPANION_TLS_CERT": str(cert),
            "COMPANION_TLS_KEY": str(key),
            # The demo's medication reminders come due by the clock, and their card covers the talk button.
            "COMPANION_REMINDERS": "false",
        },
        extra_args=("--demo",),
    )
    service.start()
    try:
        yield HttpsService(service, public, spki_hash(leaf.cert_chain_pems[0].bytes()))
    finally:
        service.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(https_service: HttpsService) -> AsyncIterator[Browser]:
    args = [
        *CHROMIUM_ARGS,
        *MEDIA_ARGS,  # the fake microphone (a tone), granted without a prompt
        f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
        f"--ignore-certificate-errors-spki-list={https_service.spki}",
    ]
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield launched
        finally:
            await launched.close()


async def read_qr(page: Page, shot: bytes) -> list[str]:
    """The texts of the QR codes in a PNG, read with zxing from its pixels."""
    data_url = "data:image/png;base64," + base64.b64encode(shot).decode()
    pixels = await page.evaluate(PIXELS_SCRIPT, data_url)
    grey = memoryview(bytes(pixels["grey"])).cast("B", (pixels["height"], pixels["width"]))
    return [found.text for found in zxingcpp.read_barcodes(grey)]


async def caregiver_pairing_link(browser: Browser, base: str) -> tuple[str, list[str]]:
    """Sign in as the demo caregiver at ``base``, press "connect a tablet": the link shown and what its
    QR code says."""
    context = await browser.new_context(base_url=base, locale="he-IL")
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto("/dashboard/login")
        await page.locator("#f-username").fill("tiferet")
        await page.locator("#f-password").fill("demo-password")
        async with page.expect_navigation():
            await page.locator("form button.primary").first.click()
        await page.goto(f"/dashboard/people/{DEMO_USER}")
        async with page.expect_navigation():
            await page.locator('form[action$="/pairings"] button[type=submit]').click()
        link = await page.locator("#pair-link").get_attribute("href")
        assert link is not None, "the tablet panel shows the link"
        shot = await page.locator("svg.qr").screenshot()
        blank = await context.new_page()  # no page CSP in the way of drawing the screenshot on a canvas
        return link, await read_qr(blank, shot)
    finally:
        await context.close()


async def test_a_tablet_pairs_from_the_qr_code_and_talks_over_https(
    https_service: HttpsService, browser: Browser
) -> None:
    public = https_service.public
    # The family opens the dashboard on the computer that runs the service, by its loopback address:
    # the link must still name the address the tablet can reach.
    link, qr = await caregiver_pairing_link(browser, https_service.service.base)
    assert https_service.service.base.startswith("https://127.0.0.1:")
    assert link.startswith(f"{public}/app/pair/"), f"the link names the public address: {link}"
    assert qr == [link], "the QR code on the screen says the same link"

    tablet = await ElderPage.open(browser, public)
    try:
        opened = await tablet.page.goto(qr[0])
        assert opened is not None and opened.status == 200
        async with tablet.page.expect_navigation():
            await tablet.page.locator("#pair-link button[type=submit]").click()
        assert tablet.page.url == f"{public}/app", tablet.page.url
        origin = await tablet.page.evaluate("() => [location.origin, window.isSecureContext]")
        assert origin == [public, True], "an https origin that is not localhost, and a secure context"
        cookie = await tablet.device_cookie()
        assert cookie is not None and cookie["secure"], "the device cookie is Secure on https"

        await tablet.start_talking()
        assert await tablet.state() in ("listening", "speaking", "thinking")
        await tablet.page.wait_for_function(
            "() => window.companionDebug && window.companionDebug.sentAudioBytes > 0",
            timeout=UI_TIMEOUT_MS,
        )
        assert tablet.wire.appends, "microphone audio was sent on the realtime socket"
        assert sum(append.nbytes for append in tablet.wire.appends) > 0
        urls = [socket.url for socket in tablet.wire.sockets]
        assert urls and all(url.startswith(f"wss://{HOST}:{https_service.service.port}/") for url in urls), (
            urls
        )
    finally:
        await tablet.close()
