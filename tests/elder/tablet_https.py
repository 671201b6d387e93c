"""A tablet and a caregiver in Chromium against the service at a public https address that is not
localhost, shared by the direct-TLS and the behind-nginx tests.

Chromium reaches the public name through a host resolver rule and trusts exactly one certificate key
(``--ignore-certificate-errors-spki-list``), as a tablet trusts an authority installed on it: any other
certificate is refused (``ERR_CERT_AUTHORITY_INVALID``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import trustme
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import Browser, Page, Playwright

from tests.dashboard.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS
from tests.elder.conftest import Api, ServiceProcess, english_music, english_profile
from tests.elder.conftest import _create_person as create_person
from tests.elder.page_driver import MEDIA_ARGS, ElderPage

HOST: Final = "companion.test"  # a reserved name (RFC 6761): never a real site
# A person with no medications or routine: no reminder card comes due (by the clock) over the talk button.
PERSON: Final = "user-tablet-en"
CAREGIVER: Final = "dana"
PASSWORD: Final = "a-family-password"

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


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    spki: str  # base64 SHA-256 of the certificate's public key, as Chromium's flag takes it


def spki_hash(cert_pem: bytes) -> str:
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def issue(ca: trustme.CA, folder: Path) -> Certificate:
    """A certificate for ``HOST`` and 127.0.0.1 (fixtures check /health by address), as PEM files."""
    leaf = ca.issue_cert(HOST, "127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return Certificate(cert, key, spki_hash(leaf.cert_chain_pems[0].bytes()))


def seed_family(service: ServiceProcess) -> None:
    """The person (English, so the offline engine's words are English) and their caregiver's account."""
    api = Api(service)
    create_person(api, PERSON, english_profile(), english_music())
    made = api.request(
        "POST",
        "/api/caregivers",
        json={"name": "Dana", "username": CAREGIVER, "password": PASSWORD, "users": [PERSON]},
    )
    assert made.status_code == 201, made.text


@asynccontextmanager
async def tablet_browser(pw: Playwright, trusted: Certificate) -> AsyncIterator[Browser]:
    """Chromium with a fake microphone (a tone, granted without a prompt), ``HOST`` at 127.0.0.1 and
    only ``trusted``'s key accepted beyond the system's authorities."""
    args = [
        *CHROMIUM_ARGS,
        *MEDIA_ARGS,
        f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
        f"--ignore-certificate-errors-spki-list={trusted.spki}",
    ]
    browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield browser
    finally:
        await browser.close()


async def read_qr(page: Page, shot: bytes) -> list[str]:
    """The texts of the QR codes in a PNG, read with zxing from its pixels."""
    data_url = "data:image/png;base64," + base64.b64encode(shot).decode()
    pixels = await page.evaluate(PIXELS_SCRIPT, data_url)
    grey = memoryview(bytes(pixels["grey"])).cast("B", (pixels["height"], pixels["width"]))
    return [found.text for found in zxingcpp.read_barcodes(grey)]


async def caregiver_pairing_link(browser: Browser, base: str) -> tuple[str, list[str]]:
    """Sign in as the person's caregiver at ``base``, press "connect a tablet": the link shown and what its
    QR code says."""
    context = await browser.new_context(base_url=base, locale="he-IL")
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto("/dashboard/login")
        await page.locator("#f-username").fill(CAREGIVER)
        await page.locator("#f-password").fill(PASSWORD)
        async with page.expect_navigation():
            await page.locator("form button.primary").first.click()
        await page.goto(f"/dashboard/people/{PERSON}")
        async with page.expect_navigation():
            await page.locator('form[action$="/pairings"] button[type=submit]').click()
        link = await page.locator("#pair-link").get_attribute("href")
        assert link is not None, "the tablet panel shows the link"
        shot = await page.locator("svg.qr").screenshot()
        blank = await context.new_page()  # no page CSP in the way of drawing the screenshot on a canvas
        return link, await read_qr(blank, shot)
    finally:
        await context.close()


async def pair_and_talk(browser: Browser, qr_link: str, public: str) -> ElderPage:
    """A new tablet opens the QR code's link, taps connect and starts talking; checks the page is a
    secure context at ``public``, its cookie Secure, and microphone audio going out on ``wss://``."""
    tablet = await ElderPage.open(browser, public)
    opened = await tablet.page.goto(qr_link)
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
        "() => window.companionDebug && window.companionDebug.sentAudioBytes > 0", timeout=UI_TIMEOUT_MS
    )
    assert sum(append.nbytes for append in tablet.wire.appends) > 0, "microphone audio on the socket"
    urls = [socket.url for socket in tablet.wire.sockets]
    assert urls and all(url.startswith(f"wss://{public.removeprefix('https://')}/") for url in urls), urls
    return tablet
