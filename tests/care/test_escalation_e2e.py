"""A critical alert end to end, on SQLite and PostgreSQL, over real sockets: the family's webhook (which
checks the signature) and the first contact's inbox (an SMTP server) hear of it; nobody answers, so the
next contact is e-mailed; that contact presses the link in the e-mail, and escalation stops there."""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
from fastapi import FastAPI
from receivers import SECRET, USER, CareStore, SmtpReceiver, WebhookReceiver

from companion.care.alerting import AlertConfig
from companion.care.alerts import AlertService
from companion.care.channels import EmailChannel, WebhookChannel
from companion.care.delivery import DeliveryWorker
from companion.care.escalation import EscalationService
from companion.dashboard import ack_routes
from tests.care.test_alerting_support import PUBLIC, Clock, Contexts

LINK = re.compile(re.escape(PUBLIC) + r"/ack/[A-Za-z0-9_-]+")


def ack_app(alerts: AlertService) -> FastAPI:
    """Only the acknowledgement page, over the same service (what ``create_app`` serves at /ack)."""
    app = FastAPI()
    app.state.services = SimpleNamespace(alerts=alerts)
    app.include_router(ack_routes.router)
    return app


def body_of(receiver: SmtpReceiver, to: str) -> str:
    [message] = [m for m in receiver.messages if m["To"] == to]
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_nobody_answers_the_next_contact_is_told_and_their_link_stops_it(
    care_store: CareStore,
    webhook_receiver: WebhookReceiver,
    smtp_receiver: SmtpReceiver,
    http: httpx.AsyncClient,
) -> None:
    clock = Clock()
    config = AlertConfig(
        webhook_url=webhook_receiver.url, email=True, public_url=PUBLIC, escalation_after_s=300
    )
    alerts = AlertService(care_store, Contexts(), config, clock=clock)
    channels = {
        "webhook": WebhookChannel(webhook_receiver.url, SECRET, http),
        "email": EmailChannel("127.0.0.1", smtp_receiver.port, None, None, "alerts@care.example.org", "none"),
    }
    worker = DeliveryWorker(care_store, channels, clock=clock, max_attempts=3, lease_s=60)
    escalation = EscalationService(alerts, scan_interval_s=0)

    alert, _ = await alerts.record(USER, {"severity": "critical", "summary": "I fell"}, session_id="s1")
    assert await worker.run_once() == 2
    [hooked] = webhook_receiver.deliveries  # signature verified by the receiver
    assert hooked.payload["alertId"] == alert.id and hooked.payload["ackUrl"].startswith(PUBLIC + "/ack/")
    assert [to for _, [to] in smtp_receiver.envelopes] == ["dana@example.com"]

    clock.advance(minutes=4)
    assert await escalation.tick(clock.now) == 0
    clock.advance(minutes=1)
    assert await escalation.tick(clock.now) == 1
    assert await worker.run_once() == 1
    assert [to for _, [to] in smtp_receiver.envelopes] == ["dana@example.com", "yossi@example.com"]

    # Yossi presses the link from his own e-mail (not Dana's, not the webhook's).
    links = LINK.findall(body_of(smtp_receiver, "yossi@example.com"))
    assert len(set(links)) == 1
    path = links[0].removeprefix(PUBLIC)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ack_app(alerts)), base_url=PUBLIC) as page:
        assert (await page.get(path)).status_code == 200
        assert (await alerts.get(USER, alert.id)).open  # opening the link did nothing
        assert (await page.post(path)).status_code == 200
    acked = await alerts.get(USER, alert.id)
    assert (acked.acknowledged_by, acked.acknowledged_via) == ("Yossi", "link")

    clock.advance(hours=1)
    assert await escalation.tick(clock.now) == 0
    assert await worker.run_once() == 0
    assert "miri@example.com" not in [to for _, [to] in smtp_receiver.envelopes]
    assert webhook_receiver.duplicates == [] and len(webhook_receiver.deliveries) == 1
    attempts = await care_store.attempts_of_alert(USER, alert.id)
    assert sorted(a.result for a in attempts) == ["sent", "sent", "sent"]
