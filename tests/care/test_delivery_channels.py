"""The webhook and e-mail channels against real receivers on loopback: what arrives, how it is signed,
and how each kind of answer is classified."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from receivers import (
    PERSON_NAME,
    SECRET,
    SUMMARY,
    SmtpReceiver,
    WebhookReceiver,
    alert_payload,
    free_port,
    make_job,
    self_signed,
)

from companion.care.channels import (
    EmailChannel,
    WebhookChannel,
    channels_from_settings,
    classify_http,
    classify_smtp,
    parse_retry_after,
)
from companion.errors import InvalidInput
from companion.settings import Settings

T0 = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
SENDER = "alerts@care.example.org"
SLOW_RECEIVER_TIMEOUT_S = 1.0  # connect and read: a busy machine connects within it, the answer never comes


def webhook(receiver: WebhookReceiver, http: httpx.AsyncClient, **kwargs: float) -> WebhookChannel:
    return WebhookChannel(receiver.url, SECRET, http, **kwargs)


def mail(receiver: SmtpReceiver, **kwargs: object) -> EmailChannel:
    options: dict[str, object] = {"username": None, "password": None, "tls": "none"} | kwargs
    return EmailChannel("127.0.0.1", receiver.port, sender=SENDER, **options)  # type: ignore[arg-type]


# ---- webhook ----------------------------------------------------------------------------------------


async def test_a_webhook_arrives_signed_and_verifiable(
    webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    payload = alert_payload(language="he", summary="נפלתי במטבח, תעזרו לי")
    delivery = await webhook(webhook_receiver, http).send(make_job("job-1", at=T0, payload=payload))
    assert (delivery.result, delivery.detail) == ("sent", "HTTP 200")
    (received,) = webhook_receiver.deliveries
    assert received.webhook_id == "job-1"
    assert received.payload == payload
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert received.headers["webhook-signature"].startswith("v1,")
    assert webhook_receiver.rejected == []


async def test_a_resent_job_is_recognised_by_its_webhook_id(
    webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    channel = webhook(webhook_receiver, http)
    job = make_job("job-1", at=T0)
    first, again = await channel.send(job), await channel.send(job)
    assert first.result == again.result == "sent"
    assert len(webhook_receiver.deliveries) == 1
    assert webhook_receiver.duplicates == ["job-1"]


async def test_a_receiver_with_another_secret_refuses_and_that_is_final(http: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver(secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
    await receiver.start()
    try:
        delivery = await webhook(receiver, http).send(make_job("job-1", at=T0))
    finally:
        await receiver.stop()
    assert (delivery.result, delivery.detail) == ("failed", "HTTP 401")
    assert receiver.rejected == ["No matching signature found"]
    assert receiver.deliveries == []


@pytest.mark.parametrize(
    ("status", "headers", "result", "retry_after_s"),
    [
        (500, {}, "retry", None),
        (503, {"retry-after": "120"}, "retry", 120.0),
        (429, {"retry-after": "999999"}, "retry", 3600.0),
        (408, {}, "retry", None),
        (400, {}, "failed", None),
        (410, {"retry-after": "5"}, "failed", None),
        (301, {"location": "http://elsewhere.example/"}, "failed", None),
    ],
)
async def test_answers_are_classified(
    http: httpx.AsyncClient, status: int, headers: dict[str, str], result: str, retry_after_s: float | None
) -> None:
    receiver = WebhookReceiver(statuses=[status], headers_to_send=headers)
    await receiver.start()
    try:
        delivery = await webhook(receiver, http).send(make_job("job-1", at=T0))
    finally:
        await receiver.stop()
    assert (delivery.result, delivery.detail, delivery.retry_after_s) == (
        result,
        f"HTTP {status}",
        retry_after_s,
    )
    assert receiver.answered == [status]


async def test_an_unreachable_or_slow_receiver_is_tried_again(http: httpx.AsyncClient) -> None:
    closed = WebhookChannel(f"http://127.0.0.1:{free_port()}/hook", SECRET, http)
    refused = await closed.send(make_job("job-1", at=T0))
    assert (refused.result, refused.detail) == ("retry", "ConnectError")
    slow = WebhookReceiver(hold=asyncio.Event())
    await slow.start()
    try:
        delivery = await webhook(slow, http, timeout_s=SLOW_RECEIVER_TIMEOUT_S).send(make_job("job-2", at=T0))
    finally:
        await slow.stop()
    assert (delivery.result, delivery.detail) == ("retry", "ReadTimeout")


async def test_the_webhook_goes_to_the_url_configured_now(
    webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    job = make_job("job-1", at=T0, address="http://old-receiver.invalid/hook")
    assert (await webhook(webhook_receiver, http).send(job)).result == "sent"
    assert [d.webhook_id for d in webhook_receiver.deliveries] == ["job-1"]


def test_a_webhook_needs_an_http_url_and_a_usable_secret(http: httpx.AsyncClient) -> None:
    for url in ("ftp://x.example/", "https://", "http://[::1"):
        with pytest.raises(InvalidInput) as bad_url:
            WebhookChannel(url, SECRET, http)
        assert bad_url.value.field == "webhook_url"
    for secret in ("whsec_", "whsec_not*base64!"):
        with pytest.raises(InvalidInput) as bad_secret:
            WebhookChannel("https://x.example/", secret, http)
        assert bad_secret.value.field == "webhook_secret"


# ---- e-mail -----------------------------------------------------------------------------------------


async def test_an_email_arrives_with_what_the_family_needs_and_no_more(smtp_receiver: SmtpReceiver) -> None:
    payload = alert_payload(medications=["Warfarin 5 mg"], memories=["Moshe, her late husband"])
    job = make_job("job-7", at=T0, channel="email", address="dana@example.com", payload=payload)
    delivery = await mail(smtp_receiver).send(job)
    assert (delivery.result, delivery.detail) == ("sent", "SMTP 250")
    (message,) = smtp_receiver.messages
    assert smtp_receiver.envelopes == [(SENDER, ["dana@example.com"])]
    assert message["From"] == SENDER
    assert message["To"] == "dana@example.com"
    assert message["Subject"] == f"Critical alert: {PERSON_NAME}"
    assert message["Message-ID"] == "<job-7.alert@care.example.org>"
    body = message.get_content()
    assert SUMMARY in body
    assert "15 January 2026, 10:30 (Asia/Jerusalem)" in body
    assert "https://care.example.org/ack/tok-123" in body
    whole = message.as_string()
    assert "Warfarin" not in whole and "Moshe" not in whole


async def test_a_hebrew_email_arrives_intact(smtp_receiver: SmtpReceiver) -> None:
    payload = alert_payload(language="he", person={"id": "u1", "name": "שרה כהן"}, summary="נפלתי במטבח")
    job = make_job("job-8", at=T0, channel="email", address="dana@example.com", payload=payload)
    assert (await mail(smtp_receiver).send(job)).result == "sent"
    (message,) = smtp_receiver.messages
    assert message["Subject"] == "התראה דחופה: שרה כהן"
    assert "מה נאמר: נפלתי במטבח" in message.get_content()


@pytest.mark.parametrize(
    ("reply", "result", "detail"),
    [
        ("451 4.3.0 Try again later", "retry", "SMTP 451 SMTPDataError"),
        ("552 5.3.4 Message too big", "failed", "SMTP 552 SMTPDataError"),
    ],
)
async def test_smtp_refusals_are_classified(reply: str, result: str, detail: str) -> None:
    receiver = SmtpReceiver(replies=[reply])
    receiver.start()
    try:
        job = make_job("job-1", at=T0, channel="email", address="dana@example.com")
        delivery = await mail(receiver).send(job)
    finally:
        receiver.stop()
    assert (delivery.result, delivery.detail) == (result, detail)
    assert receiver.messages == []


async def test_an_unreachable_smtp_server_is_tried_again() -> None:
    channel = EmailChannel("127.0.0.1", free_port(), None, None, SENDER, "none", timeout_s=2)
    delivery = await channel.send(make_job("job-1", at=T0, channel="email", address="d@example.com"))
    assert delivery.result == "retry"
    assert delivery.detail in ("SMTPConnectError", "ConnectionRefusedError")


async def test_login_over_starttls(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    receiver = SmtpReceiver(login=("alerts", "s3cret"), tls=server_tls)
    receiver.start()
    try:
        channel = mail(receiver, username="alerts", password="s3cret", tls="starttls", tls_context=client_tls)
        sent = await channel.send(make_job("job-1", at=T0, channel="email", address="d@example.com"))
        wrong = mail(receiver, username="alerts", password="nope", tls="starttls", tls_context=client_tls)
        refused = await wrong.send(make_job("job-2", at=T0, channel="email", address="d@example.com"))
        plain = mail(receiver, username="alerts", password="s3cret", tls="none")
        cleartext = await plain.send(make_job("job-3", at=T0, channel="email", address="d@example.com"))
    finally:
        receiver.stop()
    assert (sent.result, receiver.logins) == ("sent", ["alerts"])
    assert (refused.result, refused.detail) == ("failed", "SMTP 535 SMTPAuthenticationError")
    assert cleartext.result == "failed"  # the server insists on STARTTLS before the message
    assert len(receiver.messages) == 1


async def test_implicit_tls_and_a_server_without_starttls(
    tmp_path: Path, smtp_receiver: SmtpReceiver
) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    receiver = SmtpReceiver(tls=server_tls, implicit_tls=True)
    receiver.start()
    try:
        channel = mail(receiver, tls="tls", tls_context=client_tls)
        sent = await channel.send(make_job("job-1", at=T0, channel="email", address="d@example.com"))
        untrusted = mail(receiver, tls="tls", tls_context=ssl.create_default_context())
        unverified = await untrusted.send(make_job("job-2", at=T0, channel="email", address="d@example.com"))
    finally:
        receiver.stop()
    assert sent.result == "sent" and len(receiver.messages) == 1
    assert unverified.result == "retry"  # a certificate we cannot verify: nothing is sent in its trust
    no_starttls = await mail(smtp_receiver, tls="starttls").send(
        make_job("job-3", at=T0, channel="email", address="d@example.com")
    )
    assert (no_starttls.result, no_starttls.detail) == ("failed", "SMTP server lacks STARTTLS or AUTH")


# ---- pure decisions and settings --------------------------------------------------------------------


def test_classification_tables() -> None:
    assert [classify_http(s) for s in (200, 204, 299, 408, 429, 500, 599)] == ["sent"] * 3 + ["retry"] * 4
    assert [classify_http(s) for s in (301, 400, 401, 404, 410, 422)] == ["failed"] * 6
    assert [classify_smtp(c) for c in (250, 421, 451, 500, 550, 554)] == ["sent"] + ["retry"] * 2 + [
        "failed"
    ] * 3


def test_retry_after_is_seconds_or_a_date_and_capped() -> None:
    assert parse_retry_after(None, T0) is None
    assert parse_retry_after("30", T0) == 30.0
    assert parse_retry_after("Thu, 15 Jan 2026 08:32:00 GMT", T0) == 120.0
    assert parse_retry_after("Thu, 15 Jan 2026 08:00:00 GMT", T0) == 0.0
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(str(10**9), T0) == timedelta(hours=1).total_seconds()


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_channels_from_settings(http: httpx.AsyncClient) -> None:
    assert channels_from_settings(settings(), http) == {}
    both = channels_from_settings(
        settings(
            webhook_url="https://family.example.org/hooks",
            webhook_secret=SecretStr(SECRET),
            smtp_host="smtp.example.org",
            smtp_username="alerts@example.org",
            smtp_password=SecretStr("pw"),
            smtp_tls="tls",
            smtp_port=465,
        ),
        http,
    )
    assert sorted(both) == ["email", "webhook"]
    email = both["email"]
    assert isinstance(email, EmailChannel)
    assert (email.host, email.port, email.sender) == ("smtp.example.org", 465, "alerts@example.org")
    assert isinstance(both["webhook"], WebhookChannel)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"webhook_url": "https://family.example.org/hooks"}, "webhook_secret"),
        ({"webhook_url": "https://x.example/", "webhook_secret": SecretStr("whsec_!!")}, "webhook_secret"),
        ({"smtp_host": "smtp.example.org"}, "smtp_from"),
        ({"smtp_host": "smtp.example.org", "smtp_from": "Companion"}, "smtp_from"),
    ],
)
def test_half_configured_channels_are_refused_naming_the_setting(
    http: httpx.AsyncClient, values: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        channels_from_settings(settings(**values), http)
    assert caught.value.field == field
