"""How families reach the service: the address its links name, TLS, and the proxies it trusts.

A tablet opens the microphone only on an https page (or on localhost, which no tablet is), and it can
follow a pairing link or a QR code only if the link names an address the tablet can reach. So:

- ``public_base_url`` is the one place that decides the absolute address in every link the service
  hands out (pairing links and their QR codes, acknowledgement links in alert messages):
  ``COMPANION_PUBLIC_URL`` when it is set, else, for trying the service on one computer, the address the
  request came to (or, for a message sent by a background worker, the address the service listens on).
- ``check_serving`` refuses to start a service that listens beyond loopback without that setting (its
  links would name ``127.0.0.1``, or whatever Host header a visitor sent), or whose certificate and key
  cannot be loaded.
- ``uvicorn_options`` turns the TLS and trusted-proxy settings into uvicorn's. Forwarded headers
  (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from ``COMPANION_TRUSTED_PROXIES``; from
  anyone else they are ignored, so a client cannot choose the address its failed sign-ins and pairing
  codes are counted under, nor make a plain-http request look like https.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from companion.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.requests import HTTPConnection

    from companion.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
PUBLIC_URL_HINT = (
    "set COMPANION_PUBLIC_URL to the address families open it at, "
    "e.g. https://companion.home.arpa:8443 or https://care.example.org"
)


def normalise_public_url(value: str) -> str:
    """``scheme://host[:port]`` with no trailing slash, or ValueError saying what is wrong.

    The service's pages and their scripts use absolute paths (``/app``, ``/dashboard``), so it must be
    served at the root of its address: a path prefix would give links that lead nowhere.
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"must be an http or https address, e.g. https://care.example.org: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with https:// (or http:// for trying on one computer)")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. https://care.example.org")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not have a query (?...) or a fragment (#...)")
    if parts.path.strip("/"):
        raise ValueError(
            "must be the service's root address, without a path: serve it at its own host name or port"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 443 if parts.scheme == "https" else 80
    netloc = host if port is None or port == default_port else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def normalise_proxy(value: str) -> str:
    """One trusted proxy: an IP address or a network (``10.0.0.0/8``), as uvicorn compares them."""
    entry = value.strip()
    try:
        if "/" in entry:
            return str(ipaddress.ip_network(entry, strict=False))
        return str(ipaddress.ip_address(entry))
    except ValueError:
        raise ValueError(
            f"{entry!r} is not an IP address or network; name the reverse proxy's address, "
            "e.g. 127.0.0.1 when it runs on the same machine"
        ) from None


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the service on this computer (nobody else can connect)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to any interface


def public_base_url(settings: Settings, request: HTTPConnection | None = None) -> str:
    """The absolute address links start with (no trailing slash).

    ``COMPANION_PUBLIC_URL`` when set. Otherwise (trying the service on one computer, where
    ``check_serving`` allows it) the address the request was made to, or, without a request (a
    message sent by a background worker), the address the service listens on.
    """
    if settings.public_url:
        return settings.public_url
    if request is not None:
        return str(request.base_url).rstrip("/")
    scheme = "https" if settings.tls_cert else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{scheme}://{host}:{settings.port}"


def page_origins(settings: Settings) -> list[str]:
    """Browser origins the service's own pages may come from besides the request's Host: the
    configured allow-list and the public address (a proxy may pass on a Host without its port)."""
    return [*settings.allowed_origins, *([settings.public_url] if settings.public_url else [])]


def check_serving(settings: Settings) -> list[str]:
    """Refuse (InvalidInput naming the setting) what cannot serve a family; return warnings to show.

    ``settings.host`` is the address the service will listen on (the CLI's ``--host`` included).
    """
    if not settings.public_url:
        if not is_loopback(settings.host):
            raise InvalidInput(
                f"the service would listen on {settings.host}, beyond this computer, but its pairing "
                f"links and QR codes would name an address a tablet cannot open: {PUBLIC_URL_HINT}",
                field="public_url",
            )
        if settings.trusted_proxies:
            raise InvalidInput(
                "COMPANION_TRUSTED_PROXIES says a reverse proxy is in front of the service, but its "
                f"links would name the address the proxy connects to: {PUBLIC_URL_HINT}",
                field="public_url",
            )
    if settings.tls_cert and settings.tls_key:
        _check_tls(settings.tls_cert, settings.tls_key)
    warnings = []
    if settings.public_url and settings.public_url.startswith("http://"):
        host = urlsplit(settings.public_url).hostname or ""
        if not is_loopback(host):
            warnings.append(
                "COMPANION_PUBLIC_URL is http://: a tablet's browser opens the microphone only on an "
                "https page (see README, On a real tablet)"
            )
    return warnings


def _check_tls(cert: Path, key: Path) -> None:
    """Load the pair as uvicorn will, so that a wrong file is named at start, not in a traceback."""
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        variable = "COMPANION_" + name.upper()
        try:
            with path.open("rb"):
                pass
        except FileNotFoundError:
            raise InvalidInput(f"{variable}: no such file: {path}", field=name) from None
        except OSError as exc:
            raise InvalidInput(f"{variable}: {path} cannot be read: {exc.strerror}", field=name) from None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise InvalidInput(
            "COMPANION_TLS_CERT and COMPANION_TLS_KEY cannot be used together: they must be PEM files "
            f"of one key pair (the certificate first, then any intermediates), the key unencrypted ({exc})",
            field="tls_cert",
        ) from None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """TLS and forwarded headers, as uvicorn takes them. With no trusted proxy, forwarded headers are
    ignored from everyone (uvicorn's own default would believe any process on this machine)."""
    options: dict[str, Any] = {
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }
    if settings.tls_cert and settings.tls_key:
        options |= {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    return options
