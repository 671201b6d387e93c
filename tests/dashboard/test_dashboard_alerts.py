"""The alerts page: every alert with the messages sent about it (time, channel, masked address, result),
who acknowledged it, and the acknowledge button (a form with the CSRF token, like the others)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from companion.app import create_app
from companion.care.alerting import AlertConfig
from companion.demo import DEMO_USER, seed_demo
from companion.settings import Settings
from tests.dashboard.conftest import ADMIN, Dash

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks specification's example


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    """The demo, with a webhook and e-mail configured (nothing listens: deliveries only retry)."""
    settings = Settings(
        data_dir=tmp_path,
        admin_token=ADMIN,
        webhook_url="http://127.0.0.1:9/family",
        webhook_secret=SECRET,  # type: ignore[arg-type]
        smtp_host="127.0.0.1",
        smtp_port=9,
        smtp_from="companion@example.org",
        smtp_tls="none",
        public_url="https://care.example.org",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        creds = await seed_demo(services)
        state = await services.profiles.get_section(DEMO_USER, "safety")
        safety = state.data.model_dump(mode="json", by_alias=True)
        safety["emergencyContacts"][0]["email"] = "tiferet@example.com"
        await services.profiles.save_section(DEMO_USER, "safety", safety, if_match=state.version)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Dash(services, client, creds)


async def test_each_alert_shows_its_messages_and_their_attempts(dash: Dash) -> None:
    alerts = dash.services.alerts
    alert, jobs = await alerts.record(
        DEMO_USER, {"severity": "critical", "summary": "נפל במטבח"}, session_id=None
    )
    store = dash.services.store
    email = next(j for j in jobs if j.channel == "email")
    # What the worker records: one failed try, then the message delivered (recorded whatever the
    # job's state, so a running care loop cannot make this test flaky).
    at = email.created_at
    await store.finish_job(email.id, result="retry", detail="SMTP 451", at=at, next_attempt_at=at)
    await store.finish_job(email.id, result="sent", detail="SMTP 250", at=at)

    await dash.login()
    page = await dash.get(f"/dashboard/people/{DEMO_USER}/alerts")
    assert page.status_code == 200
    html = page.text
    card = html[html.index(f'id="alert-{alert.id}"') :]
    assert "t***@example.com" in card and "tiferet@example.com" not in html
    assert "נכשלה, ננסה שוב" in card and "SMTP 451" in card  # the retry
    assert "נמסרה" in card and "SMTP 250" in card  # then delivered
    assert "שירות המשפחה" in card and "127.0.0.1/…" in card  # the webhook, by host only
    assert "אישור קבלה" in card  # not acknowledged yet: the button is there


async def test_acknowledge_from_the_dashboard(dash: Dash) -> None:
    alerts = dash.services.alerts
    alert, _ = await alerts.record(DEMO_USER, {"severity": "critical", "summary": "נפל"}, session_id=None)
    await dash.login()
    await dash.get(f"/dashboard/people/{DEMO_USER}/alerts")
    url = f"/dashboard/people/{DEMO_USER}/alerts/{alert.id}/acknowledge"
    forged = await dash.client.post(url, data={"csrf": "wrong"})
    assert forged.status_code == 403
    assert (await alerts.get(DEMO_USER, alert.id)).open
    done = await dash.post(url, {})
    assert done.status_code == 303
    acked = await alerts.get(DEMO_USER, alert.id)
    assert acked.acknowledged_via == "dashboard" and acked.acknowledged_by
    page = await dash.get(done.headers["location"])
    assert "קבלת ההתראה אושרה" in page.text  # the flash
    assert f"אושרה על ידי {acked.acknowledged_by}" in page.text and "בלוח הבקרה" in page.text
    assert f"/alerts/{alert.id}/acknowledge" not in page.text  # no second button
    assert f"/alerts/{alert.id}/resolve" in page.text


async def test_an_alert_no_one_could_be_told_about_says_so(dash: Dash) -> None:
    state = await dash.services.profiles.get_section(DEMO_USER, "safety")
    safety = state.data.model_dump(mode="json", by_alias=True)
    safety["emergencyContacts"][0]["notifyFor"] = ["critical"]
    await dash.services.profiles.save_section(DEMO_USER, "safety", safety, if_match=state.version)
    dash.services.alerts.config = AlertConfig(email=True)  # e-mail only, no webhook
    await dash.services.alerts.record(DEMO_USER, {"severity": "medium", "summary": "עצוב"}, session_id=None)
    await dash.login()
    page = await dash.get(f"/dashboard/people/{DEMO_USER}/alerts")
    assert "לא נשלחה הודעה על ההתראה" in page.text


async def test_another_familys_alert_cannot_be_acknowledged(dash: Dash) -> None:
    alert, _ = await dash.services.alerts.record(DEMO_USER, {"summary": "x"}, session_id=None)
    await dash.caregiver("dana")
    await dash.login("dana", "another-password")
    await dash.get("/dashboard/people")
    r = await dash.post(f"/dashboard/people/{DEMO_USER}/alerts/{alert.id}/acknowledge", {})
    assert r.status_code == 404
    assert (await dash.services.alerts.get(DEMO_USER, alert.id)).open


async def test_an_alert_closed_because_its_dose_was_never_due_says_so(dash: Dash) -> None:
    alerts = dash.services.alerts
    alert, _ = await alerts.record(
        DEMO_USER,
        {"severity": "medium", "summary": "אריספט בשעה 08:00 לא אושרה", "rule": "reminder"},
        session_id=None,
    )
    store = dash.services.store
    doc = await store.get(DEMO_USER, "alert", alert.id)
    assert doc is not None
    closed = doc.body | {"resolved": True, "resolvedAt": doc.body["createdAt"], "resolvedReason": "never_due"}
    await store.put(
        DEMO_USER, "alert", alert.id, closed, expected_version=doc.version
    )  # as migration 0006 does
    await dash.login()
    html = (await dash.get(f"/dashboard/people/{DEMO_USER}/alerts")).text
    card = html[html.index(f'id="alert-{alert.id}"') :]
    card = card[: card.index("</li>")]
    assert "resolved-reason" in card and "מעולם לא הייתה אמורה להינתן" in card
