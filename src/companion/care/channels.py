"""Where alert notices go: a signed webhook and e-mail over SMTP.

A channel sends one job and says what happened as data (``Delivery``): ``sent``, ``retry`` (the
receiver or the network may recover) or ``failed`` (it will not: a refusal, a misconfiguration). It
never raises for a delivery problem, and its ``detail`` is a status code or an error class, never
content, because it is stored and shown as the proof of delivery.

Both channels send a job under an identity derived from the job's id (the ``webhook-id`` header, the
``Message-ID``), so a copy resent after a worker died mid-send can be recognised by the receiver.
"""

from __future__ import annotations

import binascii
import json
import logging
import math
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol

import aiosmtplib
import httpx
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from companion.care.messages import build_email
from companion.clock import Clock, utcnow
from companion.errors import InvalidInput
from companion.settings import Settings, SmtpTls
from companion.store.base import JobRecord

log = logging.getLogger("companion.care")

Result = Literal["sent", "retry", "failed"]

WEBHOOK_TIMEOUT_S = 10.0  # a receiver slower than this is tried again later; well inside a lease
SMTP_TIMEOUT_S = 20.0  # per SMTP command; relays can be slow to greet, still inside a lease
RETRY_AFTER_MAX_S = 3600.0  # a receiver's Retry-After is honoured up to an hour, no further
USER_AGENT = "companion-alerts/1"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one try; ``retry_after_s`` is the receiver's own wish (HTTP ``Retry-After``)."""

    result: Result
    detail: str
    retry_after_s: float | None = None


class Channel(Protocol):
    async def send(self, job: JobRecord) -> Delivery: ...


# ---- pure decisions ---------------------------------------------------------------------------------


def classify_http(status: int) -> Result:
    """2xx sent; 408, 429 and 5xx may pass later; any other answer (4xx, and 3xx: redirects of health
    data are not followed) will not."""
    if 200 <= status < 300:
        return "sent"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "failed"


def classify_smtp(code: int) -> Result:
    """SMTP 4xx replies are transient by definition (RFC 5321 4.2.1); 5xx are permanent."""
    if 200 <= code < 400:
        return "sent"
    return "retry" if 400 <= code < 500 else "failed"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from an HTTP ``Retry-After`` (delta-seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), RETRY_AFTER_MAX_S)


# ---- webhook ----------------------------------------------------------------------------------------


def webhook_signer(secret: str) -> Webhook:
    """A Standard Webhooks signer; ``InvalidInput`` naming the setting when the secret is unusable."""
    try:
        return Webhook(secret)
    except (binascii.Error, ValueError, EmptyWebhookSecretError, RuntimeError) as exc:
        raise InvalidInput(
            "COMPANION_WEBHOOK_SECRET must be a base64 secret, usually written whsec_...",
            field="webhook_secret",
        ) from exc


class WebhookChannel:
    """POSTs the job's payload as JSON, signed as the Standard Webhooks specification says.

    Sent to the URL configured now (``url``), not the one recorded when the job was queued: an
    address an administrator has replaced is never sent health data again, and a corrected one gets
    the alerts still waiting."""

    def __init__(
        self,
        url: str,
        secret: str,
        http: httpx.AsyncClient,
        *,
        clock: Clock = utcnow,
        timeout_s: float = WEBHOOK_TIMEOUT_S,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("https", "http") or not parsed.host:
            raise InvalidInput("COMPANION_WEBHOOK_URL must be an http(s) URL", field="webhook_url")
        if parsed.scheme == "http" and parsed.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("COMPANION_WEBHOOK_URL is not https: alerts would cross the network unencrypted")
        self.url = url
        self._signer = webhook_signer(secret)
        self._http = http
        self._clock = clock  # the wall clock: receivers refuse timestamps more than 5 minutes off
        self._timeout_s = timeout_s

    def signed_request(self, job: JobRecord) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of the POST; the webhook id is the job id, on every retry."""
        body = json.dumps(job.payload, ensure_ascii=False, separators=(",", ":"))
        seconds = math.floor(self._clock().timestamp())
        signature = self._signer.sign(job.id, datetime.fromtimestamp(seconds, UTC), body)
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": USER_AGENT,
            "webhook-id": job.id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": signature,
        }
        return body.encode("utf-8"), headers

    async def send(self, job: JobRecord) -> Delivery:
        content, headers = self.signed_request(job)
        try:
            # Streamed and never read: only the status matters, and a receiver's body can be large.
            async with self._http.stream(
                "POST",
                self.url,
                content=content,
                headers=headers,
                timeout=self._timeout_s,
                follow_redirects=False,
            ) as response:
                status = response.status_code
                retry_after = response.headers.get("retry-after")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return Delivery("failed", type(exc).__name__)
        except httpx.TransportError as exc:  # refused, reset, timed out, TLS: the network may recover
            return Delivery("retry", type(exc).__name__)
        result = classify_http(status)
        wait = parse_retry_after(retry_after, self._clock()) if result == "retry" else None
        return Delivery(result, f"HTTP {status}", wait)


# ---- e-mail -----------------------------------------------------------------------------------------


class EmailChannel:
    """Sends one plain-text e-mail per job (to ``job.address``) through the configured SMTP server.

    ``tls``: ``tls`` connects over TLS (usually port 465), ``starttls`` upgrades and refuses a server
    that cannot (usually 587), ``none`` sends in the clear (a relay on the same host or network)."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        sender: str,
        tls: SmtpTls,
        *,
        clock: Clock = utcnow,
        timeout_s: float = SMTP_TIMEOUT_S,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "tls"):
            raise InvalidInput("COMPANION_SMTP_TLS must be none, starttls or tls", field="smtp_tls")
        if "@" not in sender:
            raise InvalidInput("COMPANION_SMTP_FROM must be an e-mail address", field="smtp_from")
        self.host = host
        self.port = port
        self.sender = sender
        self._username = username
        self._password = password
        self._tls = tls
        self._clock = clock
        self._timeout_s = timeout_s
        self._tls_context = tls_context  # tests trust their own certificate; None: the system's CAs

    async def send(self, job: JobRecord) -> Delivery:
        message = build_email(
            job.payload, job_id=job.id, sender=self.sender, to=job.address, at=self._clock()
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self._username,
                password=self._password,
                use_tls=self._tls == "tls",
                start_tls=self._tls == "starttls",
                timeout=self._timeout_s,
                tls_context=self._tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [550]
            code = max(codes)
            return Delivery(classify_smtp(code), f"SMTP {code} recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            return Delivery(classify_smtp(exc.code), f"SMTP {exc.code} {type(exc).__name__}")
        except aiosmtplib.SMTPNotSupported:  # SMTPUTF8 needed for this address, and the server has none
            return Delivery("failed", "SMTPNotSupported")
        except (aiosmtplib.SMTPException, OSError) as exc:
            if type(exc) is aiosmtplib.SMTPException:
                # aiosmtplib raises the bare class when the server lacks what the settings ask for
                # (STARTTLS, AUTH): configuration, which trying again will not fix.
                return Delivery("failed", "SMTP server lacks STARTTLS or AUTH")
            return Delivery("retry", type(exc).__name__)  # connect, timeout, disconnect, TLS
        return Delivery("sent", "SMTP 250")


# ---- from settings ----------------------------------------------------------------------------------


def channels_from_settings(settings: Settings, http: httpx.AsyncClient) -> dict[str, Channel]:
    """The channels the service is configured for, by name (``webhook``, ``email``); none when none.

    Raises ``InvalidInput`` naming the setting when a channel is half configured, so the service
    refuses to start rather than record alerts it cannot send."""
    channels: dict[str, Channel] = {}
    if settings.webhook_url:
        if settings.webhook_secret is None:
            raise InvalidInput(
                "COMPANION_WEBHOOK_SECRET is needed to sign what is sent to COMPANION_WEBHOOK_URL",
                field="webhook_secret",
            )
        channels["webhook"] = WebhookChannel(
            settings.webhook_url, settings.webhook_secret.get_secret_value(), http
        )
    if settings.smtp_host:
        sender = settings.smtp_from or (
            settings.smtp_username if settings.smtp_username and "@" in settings.smtp_username else None
        )
        if not sender:
            raise InvalidInput("COMPANION_SMTP_FROM is needed to send e-mail", field="smtp_from")
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        channels["email"] = EmailChannel(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            password,
            sender,
            settings.smtp_tls,
        )
    log.info("alert channels: %s", ", ".join(sorted(channels)) or "none")
    return channels
