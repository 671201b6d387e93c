"""README "On a real tablet", on a server: Debian's nginx with the README's own site block in front of
``companion serve``, which listens on loopback over plain http with ``COMPANION_TRUSTED_PROXIES=127.0.0.1``
and ``COMPANION_PUBLIC_URL`` naming the proxy's https address.

The block is read from the README and only its name, ports and certificate paths are swapped (the
certificate comes from an authority made here with trustme). Chromium, trusting that certificate only,
signs the caregiver in through nginx, reads the pairing QR code, and a tablet pairs and talks: the
conversation's WebSocket passes nginx (the Upgrade headers), and the device cookie is Secure, which the
service can only know from the proxy's ``X-Forwarded-Proto`` (it serves plain http itself).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest
import pytest_asyncio
import trustme

from services import require_service
from tests.elder.conftest import ServiceProcess, free_port
from tests.elder.test_tablet_https import require_chromium
from tests.test_tablet_recipes import readme_block

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

NGINX_PATHS: Final = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
START_TIMEOUT_S: Final = 15.0
STOP_TIMEOUT_S: Final = 10.0
README_NAME: Final = "care.example.org"


@dataclass
class Proxied:
    service: ServiceProcess
    public: str
    certificate: Certificate


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in NGINX_PATHS if Path(p).exists()), None)
    if found is None:
        require_service("nginx", "not installed (apt-get install nginx-light)")
    return found


def swapped(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the README's nginx block should have {old!r} once"
    return text.replace(old, new)


def nginx_conf(work: Path, certificate: Certificate, listen_port: int, service_port: int) -> str:
    """The README's block with the test's name, ports and files, inside a minimal main configuration."""
    site = readme_block("proxy_pass http://127.0.0.1:8000")
    site = swapped(site, f"/etc/letsencrypt/live/{README_NAME}/fullchain.pem", str(certificate.cert))
    site = swapped(site, f"/etc/letsencrypt/live/{README_NAME}/privkey.pem", str(certificate.key))
    site = swapped(site, f"server_name {README_NAME};", f"server_name {HOST};")
    site = swapped(site, "listen 443 ssl;", f"listen 127.0.0.1:{listen_port} ssl;")
    site = swapped(site, "proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{service_port};")
    temp = work / "nginx-temp"
    temp.mkdir()
    temp_paths = "\n".join(
        f"    {kind}_temp_path {temp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "daemon off;\nmaster_process off;\n"  # one process in the foreground: no user switch, easy to stop
        f"pid {work / 'nginx.pid'};\nerror_log {work / 'nginx-error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log off;\n{temp_paths}\n{site}}}\n"
    )


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    require_chromium()
    nginx = nginx_binary()
    work = tmp_path_factory.mktemp("nginx")
    ca = trustme.CA()
    certificate = issue(ca, work)
    listen_port = free_port()
    public = f"https://{HOST}:{listen_port}"
    (work / "music").mkdir()
    service = ServiceProcess(
        work / "data",
        work / "music",
        work / "service.log",
        extra_env={
            "COMPANION_PUBLIC_URL": public,
            "COMPANION_TRUSTED_PROXIES": "127.0.0.1",
        },
    )
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, certificate, listen_port, service.port))
    service.start()
    proxy = subprocess.Popen(
        [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "nginx-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        seed_family(service)
        verify = ssl.create_default_context()
        ca.configure_trust(verify)
        wait_for_proxy(proxy, f"https://127.0.0.1:{listen_port}/health", verify, work)
        yield Proxied(service, public, certificate)
    finally:
        proxy.terminate()
        proxy.wait(STOP_TIMEOUT_S)
        service.stop()


def wait_for_proxy(proxy: subprocess.Popen[bytes], url: str, verify: ssl.SSLContext, work: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proxy.poll() is not None:
            log = (work / "nginx-error.log").read_text(errors="replace")
            raise AssertionError(f"nginx exited with {proxy.returncode}: {log}")
        try:
            if httpx.get(url, timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"nginx did not pass /health through in {START_TIMEOUT_S} s")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(proxied: Proxied) -> AsyncIterator[Browser]:
    async with async_playwright() as p, launch_tablet_browser(p, proxied.certificate) as launched:
        yield launched


async def test_a_tablet_pairs_and_talks_through_nginx(proxied: Proxied, browser: Browser) -> None:
    public = proxied.public
    link, qr = await caregiver_pairing_link(browser, public)
    assert link.startswith(f"{public}/app/pair/"), f"the link names the proxy's address: {link}"
    assert qr == [link], "the QR code on the screen says the same link"
    tablet = await pair_and_talk(browser, qr[0], public)
    await tablet.close()
