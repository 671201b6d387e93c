"""The page's reminder routes and the dashboard's reminders page, in process over ASGI: who may ask,
what a card carries, each button, bad input named, and what the family sees.

The clock of the reminder service under test starts at the real time and jumps ahead; the doses are a
few minutes after it in a zone where it is mid-morning, so an app's own reminder loop (on the real
clock) finds them still ahead and leaves them alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from companion.app import create_app
from companion.demo import seed_demo
from companion.settings import Settings
from tests.care.reminder_fixtures import (
    Rig,
    install_reminders,
    local_hhmm,
    medications,
    mid_morning_zone,
    person,
)
from tests.dashboard.conftest import Dash

ADMIN = "reminder-admin-token"
U = "user-reminders"
ORIGIN = "http://tablet.test"


@dataclass
class Env:
    rig: Rig
    client: httpx.AsyncClient
    dash: Dash
    zone: str
    dose: datetime  # the first dose, 30 s after the start

    def at(self, moment: datetime) -> str:
        return local_hhmm(moment, self.zone)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN))
    async with app.router.lifespan_context(app):
        creds = await seed_demo(app.state.services)
        start = datetime.now(UTC).replace(microsecond=0)
        dose = start.replace(second=0) + timedelta(minutes=2)
        start = dose - timedelta(seconds=30)
        zone = mid_morning_zone(dose)
        rig = install_reminders(app, start)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client,
            httpx.AsyncClient(transport=transport, base_url="http://test") as dash_client,
        ):
            assert (await client.post("/api/users", json={"userId": U}, headers=admin)).status_code == 201
            for section, body in (
                ("profile", person(timezone=zone, checkins=[local_hhmm(dose + timedelta(hours=2), zone)])),
                ("safety", medications(("אקמול", '500 מ"ג', [local_hhmm(dose, zone), "23:59"]))),
            ):
                saved = await client.put(f"/api/users/{U}/{section}", json=body, headers=admin)
                assert saved.status_code == 200, saved.text
            made = await client.post(f"/api/users/{U}/pairings", headers=admin)
            paired = await client.post(
                "/app/pair", data={"code": made.json()["code"]}, headers={"Origin": ORIGIN}
            )
            assert paired.status_code == 303, paired.text
            dash = Dash(app.state.services, dash_client, creds)
            yield Env(rig, client, dash, zone, dose)
        await rig.service.close()
        await rig.store.close()


async def test_the_page_gets_a_card_when_the_reminder_is_due(env: Env) -> None:
    first = await env.client.get("/app/reminders")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert body["reminders"] == [] and body["pollSeconds"] == 20.0 and body["lang"] == "he"
    assert body["words"]["taken.medication"] == "לקחתי עכשיו"
    assert body["words"]["snooze"] == "הזכר לי בעוד 10 דקות"
    assert body["words"]["talk"] == "דבר איתי"

    env.rig.clock.advance(seconds=30)
    [card] = (await env.client.get("/app/reminders")).json()["reminders"]
    assert card["text"] == 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?'
    assert (card["kind"], card["label"], card["time"]) == ("medication", 'אקמול 500 מ"ג', env.at(env.dose))
    record = await env.rig.store.get_reminder(U, card["id"])
    assert record is not None and (record.state, record.delivered_via) == ("delivered", "page")


async def test_each_button(env: Env) -> None:
    env.rig.clock.advance(seconds=30)
    [card] = (await env.client.get("/app/reminders")).json()["reminders"]
    url = f"/app/reminders/{card['id']}"
    snoozed = await env.client.post(url, json={"action": "snooze"}, headers={"Origin": ORIGIN})
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json() == {
        "id": card["id"],
        "state": "snoozed",
        "snoozedUntil": (env.dose + timedelta(minutes=10)).isoformat(),
    }
    assert (await env.client.get("/app/reminders")).json()["reminders"] == []

    env.rig.clock.advance(minutes=10)
    assert [c["id"] for c in (await env.client.get("/app/reminders")).json()["reminders"]] == [card["id"]]
    talk = await env.client.post(url, json={"action": "talk"}, headers={"Origin": ORIGIN})
    assert talk.json()["state"] == "delivered", "left to the greeting of the conversation the page opens"
    taken = await env.client.post(url, json={"action": "taken"}, headers={"Origin": ORIGIN})
    assert taken.json()["state"] == "acknowledged"
    record = await env.rig.store.get_reminder(U, card["id"])
    assert record is not None and record.acked_via == "page"
    again = await env.client.post(url, json={"action": "taken"}, headers={"Origin": ORIGIN})
    assert again.status_code == 200 and again.json()["state"] == "acknowledged"
    late = await env.client.post(url, json={"action": "snooze"}, headers={"Origin": ORIGIN})
    assert late.status_code == 409 and late.json()["field"] == "reminder_id"


async def test_refusals_name_the_problem(env: Env) -> None:
    env.rig.clock.advance(seconds=30)
    [card] = (await env.client.get("/app/reminders")).json()["reminders"]
    url = f"/app/reminders/{card['id']}"
    bad = await env.client.post(url, json={"action": "eat"}, headers={"Origin": ORIGIN})
    assert bad.status_code == 422 and bad.json()["field"] == "action", bad.text
    extra = await env.client.post(url, json={"action": "taken", "by": "x"}, headers={"Origin": ORIGIN})
    assert extra.status_code == 422
    foreign = await env.client.post(url, json={"action": "taken"}, headers={"Origin": "http://evil.test"})
    assert foreign.status_code == 403 and foreign.json()["field"] == "origin"
    missing = await env.client.post(
        "/app/reminders/rem-nope", json={"action": "taken"}, headers={"Origin": ORIGIN}
    )
    assert missing.status_code == 404 and missing.json()["field"] == "reminder_id"
    async with httpx.AsyncClient(transport=env.client._transport, base_url=ORIGIN) as stranger:
        assert (await stranger.get("/app/reminders")).status_code == 401
        refused = await stranger.post(url, json={"action": "taken"}, headers={"Origin": ORIGIN})
        assert refused.status_code == 401
    record = await env.rig.store.get_reminder(U, card["id"])
    assert record is not None and record.state == "delivered", "nothing changed"


async def test_the_dashboard_shows_today_and_adherence_and_marks_taken(env: Env) -> None:
    dash = env.dash
    await dash.login()
    assert (await dash.get(f"/dashboard/people/{U}/reminders")).status_code == 404, "not this caregiver's"
    caregiver = await env.rig.store.find_caregiver_by_username(dash.creds.caregiver_username)
    assert caregiver is not None
    await env.rig.store.assign(caregiver.id, U)
    env.rig.clock.advance(seconds=30)
    await env.client.get("/app/reminders")  # the dose is shown on the tablet
    page = await dash.get(f"/dashboard/people/{U}/reminders")
    assert page.status_code == 200, page.text
    html = page.text
    today = env.dose.astimezone(ZoneInfo(env.zone)).date().isoformat()
    assert f"היום, {today}" in html and env.zone in html
    assert html.count("<tr data-state=") == 3, "the dose, the check-in two hours later, 23:59"
    assert 'data-state="delivered"' in html and f"נמסרה ב־{env.at(env.dose)} במסך הטאבלט" in html
    assert "שאלת שלום" in html and "אקמול 500 מ&#34;ג" in html
    assert "1 מתוך 1" not in html

    [row_id] = [r.id for r in await env.rig.store.list_due(env.rig.clock(), states=("delivered",))]
    done = await dash.post(f"/dashboard/people/{U}/reminders/{row_id}/taken", {})
    assert done.status_code == 303
    page = await dash.get(f"/dashboard/people/{U}/reminders")
    assert "התזכורת סומנה כאושרה." in page.text
    assert f"אושרה ב־{env.at(env.dose)} בלוח המשפחה" in page.text
    assert "1 מתוך 1" in page.text and "100%" in page.text
    forged = await dash.post(f"/dashboard/people/{U}/reminders/{row_id}/taken", {"csrf": "forged"})
    assert forged.status_code == 403
