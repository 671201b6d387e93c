"""Real receivers on loopback for the alert channels: an HTTP server that verifies Standard Webhooks
signatures and refuses replays as a careful receiver would, and an SMTP server (aiosmtpd).

Both can be told to fail first (HTTP 500, SMTP 451) and count everything they saw, so tests assert on
what arrived over real sockets, not on what the sender believes it sent.
"""

from __future__ import annotations

import asyncio
import email
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Literal

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from companion.store import SqlStore
from companion.store._outbox import SqlOutbox
from companion.store.base import JobRecord

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

START_TIMEOUT_S = 10.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the specification's own example secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    webhook_id: str
    payload: dict[str, Any]
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    """``statuses``: what to answer to the first verified requests (then 200). A request whose
    ``webhook-id`` was already processed is a replay: counted in ``duplicates``, answered 200, not
    processed again. ``hold``: when set, a request is recorded, then waits for it before answering."""

    secret: str = SECRET
    statuses: list[int] = field(default_factory=list)
    headers_to_send: dict[str, str] = field(default_factory=dict)
    hold: asyncio.Event | None = None
    deliveries: list[Received] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = self._process(body, headers)
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        self.answered.append(status)
        extra = [(k.encode(), v.encode()) for k, v in self.headers_to_send.items()] if status != 200 else []
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b""})

    def _process(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return 401
        webhook_id = headers["webhook-id"]
        if any(d.webhook_id == webhook_id for d in self.deliveries):
            self.duplicates.append(webhook_id)
            return 200
        if self.statuses:
            return self.statuses.pop(0)
        self.deliveries.append(Received(webhook_id, payload, headers))
        return 200

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(START_TIMEOUT_S):
            while not self._server.started:
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


@dataclass
class _Handler:
    replies: list[str]
    messages: list[EmailMessage]
    envelopes: list[tuple[str, list[str]]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos]))
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on loopback. ``replies``: what to answer to the first messages' DATA (then 250).
    With ``login`` the server requires AUTH with those credentials; with ``tls`` (a context made by
    ``self_signed``) it speaks TLS: ``implicit`` from the first byte, or STARTTLS required."""

    def __init__(
        self,
        *,
        replies: list[str] | None = None,
        login: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.handler = _Handler(list(replies or []), [], [])
        self.port = free_port()
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        if login is not None:
            kwargs.update(
                authenticator=self._authenticator(login), auth_required=True, auth_require_tls=tls is not None
            )
        if tls is not None and implicit_tls:
            kwargs["ssl_context"] = tls
        elif tls is not None:
            kwargs.update(tls_context=tls, require_starttls=True)
        self.controller = Controller(self.handler, **kwargs)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        return self.handler.envelopes

    def _authenticator(self, login: tuple[str, str]) -> Callable[..., AuthResult]:
        def check(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)  # False: the server answers 535 itself

        return check

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1: the server's context, and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


# ---- what an alert's jobs look like (the shape the alert planner queues), and where they wait ---------

USER = "u1"  # registered in every ``care_store_url`` database


class CareStore(SqlStore, SqlOutbox):
    """``SqlStore`` with the outbox as one of its halves (as the service composes it)."""


PERSON_NAME = "Sara Cohen"
SUMMARY = "I fell in the kitchen and cannot get up"


def alert_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "alert.created",
        "alertId": "alert-1",
        "person": {"id": "u1", "name": PERSON_NAME},
        "severity": "critical",
        "summary": SUMMARY,
        "createdAt": "2026-01-15T08:30:00+00:00",
        "timezone": "Asia/Jerusalem",
        "language": "en",
        "stage": 0,
        "ackUrl": "https://care.example.org/ack/tok-123",
    }
    payload.update(changes)
    return payload


def make_job(
    job_id: str,
    *,
    at: datetime,
    channel: Literal["webhook", "email"] = "webhook",
    address: str = "http://127.0.0.1:9/hooks/alerts",
    payload: dict[str, Any] | None = None,
    alert_id: str = "alert-1",
    user_id: str = "u1",
) -> JobRecord:
    return JobRecord(
        id=job_id,
        user_id=user_id,
        alert_id=alert_id,
        stage=0,
        channel=channel,
        address=address,
        contact=None if channel == "webhook" else "Dana",
        payload=payload or alert_payload(alertId=alert_id),
        status="pending",
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )
