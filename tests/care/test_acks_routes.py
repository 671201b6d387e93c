"""The page an acknowledgement link opens: GET shows one button and changes nothing, POST acknowledges
once (then 410), an unknown link is 404, an expired one 410; the token stays out of logs and referrers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from companion.app import create_app
from companion.care.acks import ack_hash, new_ack_token
from companion.dashboard.ack_routes import _RedactAckPaths
from companion.services import Services
from companion.settings import Settings
from companion.store.base import AckRecord

PERSON = "user-rivka"
PUBLIC = "https://care.example.org"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=9,  # nothing listens: deliveries only retry
        smtp_from="companion@example.org",
        smtp_tls="none",
        public_url=PUBLIC,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        services: Services = application.state.services
        await services.store.create_user(PERSON)
        safety = {
            "emergencyContacts": [
                {
                    "name": "Dana",
                    "relationship": "daughter",
                    "phone": "050-123-4567",
                    "email": "dana@example.com",
                },
                {
                    "name": "Yossi",
                    "relationship": "son",
                    "phone": "050-765-4321",
                    "email": "yossi@example.com",
                },
            ]
        }
        await services.profiles.save_section(PERSON, "safety", safety, if_match=None)
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as c:
        yield c


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def test_the_link_shows_a_button_and_only_the_button_acknowledges(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alerts = services_of(app).alerts
    alert, [job] = await alerts.record(PERSON, {"severity": "critical", "summary": "נפלתי"}, session_id=None)
    path = job.payload["ackUrl"].removeprefix(PUBLIC)
    assert path.startswith("/ack/")

    shown = await client.get(path)
    assert shown.status_code == 200
    assert 'data-state="valid"' in shown.text and 'method="post"' in shown.text
    assert "נפלתי" not in shown.text and "Dana" not in shown.text  # the page names nothing
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert shown.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert (await client.get(path)).status_code == 200  # opening it again: still nothing done
    assert (await alerts.get(PERSON, alert.id)).open

    pressed = await client.post(path)
    assert pressed.status_code == 200 and 'data-state="acknowledged"' in pressed.text
    acked = await alerts.get(PERSON, alert.id)
    assert (acked.acknowledged_by, acked.acknowledged_via) == ("Dana", "link")

    again = await client.post(path)
    assert again.status_code == 410 and 'data-state="used"' in again.text
    assert (await client.get(path)).status_code == 410


async def test_unknown_and_expired_links(app: FastAPI, client: httpx.AsyncClient) -> None:
    services = services_of(app)
    alert, _ = await services.alerts.record(PERSON, {"severity": "high", "summary": "x"}, session_id=None)
    unknown = await client.post(f"/ack/{new_ack_token()}")
    assert unknown.status_code == 404 and 'data-state="unknown"' in unknown.text
    assert (await client.get("/ack/short")).status_code == 404

    token = new_ack_token()
    past = datetime.now(UTC) - timedelta(days=10)
    await services.store.add_ack(
        AckRecord(ack_hash(token), PERSON, alert.id, "Dana", past, past + timedelta(days=3))
    )
    assert (await client.get(f"/ack/{token}")).status_code == 410
    expired = await client.post(f"/ack/{token}")
    assert expired.status_code == 410 and 'data-state="expired"' in expired.text
    assert (await services.alerts.get(PERSON, alert.id)).open


def test_the_access_log_never_keeps_a_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/ack/secret-token-value", "1.1", 200),
        None,
    )
    assert _RedactAckPaths().filter(record)
    assert "secret-token-value" not in record.getMessage() and "/ack/<token>" in record.getMessage()
