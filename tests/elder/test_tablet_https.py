"""A real tablet's way in: the service serving https itself, at a public address that is not localhost.

``companion serve`` runs as families run it at home (README "On a real tablet"): a certificate from a
certificate authority made here with trustme, ``COMPANION_TLS_CERT`` / ``COMPANION_TLS_KEY``, and
``COMPANION_PUBLIC_URL=https://companion.test:<port>``. Chromium reaches that name through a host
resolver rule and trusts the certificate's key only (see ``tablet_https``), so the origin is a real https
origin and not localhost (which browsers treat as secure whatever its scheme, so testing on it would
prove nothing).

The caregiver signs in to the dashboard (at the server's loopback address, so that a link built from the
request's address would be wrong), presses "connect a tablet" and the QR code on the screen is read back
from a screenshot; the tablet opens what the QR code says, pairs with one tap, and the conversation
starts with the microphone open: the page is a secure context and microphone audio goes to the service
over wss.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
import trustme

from services import require_service
from tests.dashboard.test_dashboard_browser import CHROMIUM
from tests.elder.conftest import ServiceProcess, free_port

try:  # the dev extra installs playwright
    from playwright.async_api import Browser, async_playwright

    from tests.elder.tablet_https import (
        HOST,
        Certificate,
        caregiver_pairing_link,
        issue,
        pair_and_talk,
        seed_family,
    )
    from tests.elder.tablet_https import tablet_browser as launch_tablet_browser
except ImportError:  # pragma: no cover
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class HttpsService:
    service: ServiceProcess
    public: str
    certificate: Certificate


def require_chromium() -> None:
    if async_playwright is None:
        require_service("Chromium", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def https_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsService]:
    require_chromium()
    work = tmp_path_factory.mktemp("https")
    ca = trustme.CA()
    certificate = issue(ca, work)
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
            "COMPANION_TLS_CERT": str(certificate.cert),
            "COMPANION_TLS_KEY": str(certificate.key),
        },
    )
    service.start()
    try:
        seed_family(service)
        yield HttpsService(service, public, certificate)
    finally:
        service.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(https_service: HttpsService) -> AsyncIterator[Browser]:
    async with async_playwright() as p, launch_tablet_browser(p, https_service.certificate) as launched:
        yield launched


async def test_a_tablet_pairs_from_the_qr_code_and_talks_over_https(
    https_service: HttpsService, browser: Browser
) -> None:
    public = https_service.public
    # The family opens the dashboard on the computer that runs the service, by its loopback address:
    # the link must still name the address the tablet can reach.
    assert https_service.service.base.startswith("https://127.0.0.1:")
    link, qr = await caregiver_pairing_link(browser, https_service.service.base)
    assert link.startswith(f"{public}/app/pair/"), f"the link names the public address: {link}"
    assert qr == [link], "the QR code on the screen says the same link"
    tablet = await pair_and_talk(browser, qr[0], public)
    await tablet.close()
