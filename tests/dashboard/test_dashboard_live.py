"""Save outcomes and the live-sessions page against the real service and a live conversation."""

from __future__ import annotations

from tests.dashboard.conftest import Dash, signed_in_with_a_live_session
from tests.live.conftest import ADMIN, USER, Live, eventually

WIZARD = f"/dashboard/people/{USER}/wizard"
SLOWER_THAN_THE_REFRESH_TIMEOUT_S = 1.5  # run_live waits 1 s for the model's confirmation


async def test_a_failed_refresh_keeps_the_data_says_so_and_can_be_retried(live: Live) -> None:
    dash = await signed_in_with_a_live_session(live)
    await dash.get(WIZARD)
    await dash.step(9, action="remove:preferredArtists:0")
    live.engine.behaviour.session_update_delay_s = SLOWER_THAN_THE_REFRESH_TIMEOUT_S
    done = await dash.step(10, action="submit")
    saved = await dash.get(done.headers["location"])
    assert "הפרופיל נשמר, אבל לא ניתן היה לעדכן את השיחה הפעילה." in saved.text
    assert "נסו לעדכן את השיחה שוב" in saved.text
    music = await live.services.profiles.get_section(USER, "music")
    assert music.data is not None
    assert "נעמי שמר" not in music.data.model_dump()["preferred_artists"], "the data is saved"

    live.engine.behaviour.session_update_delay_s = 0
    retried = await dash.post(f"/dashboard/people/{USER}/refresh", {})
    page = await dash.get(retried.headers["location"])
    assert "פרופיל נשמר בהצלחה! השינויים עודכנו באפליקציה הפעילה." in page.text
    assert "נעמי שמר" not in live.engine_session().config["instructions"]


async def test_the_live_sessions_page_lists_and_refreshes(live: Live) -> None:
    dash = await signed_in_with_a_live_session(live)
    session = live.services.sessions.of_user(USER)[0]
    page = await dash.get("/dashboard/sessions")
    assert session.id in page.text
    assert 'data-poll="/dashboard/sessions/rows"' in page.text
    rows = await dash.client.get("/dashboard/sessions/rows", headers={"x-dashboard-fetch": "1"})
    assert session.id in rows.text
    assert "פעילה" in rows.text
    refreshed = await dash.post("/dashboard/sessions/refresh-all", {})
    assert refreshed.status_code == 303
    page = await dash.get("/dashboard/sessions")
    assert "רענון הסתיים: עודכנו 0, כבר מעודכנות 1, נכשלו 0." in page.text
    one = await dash.post(f"/dashboard/sessions/{session.id}/refresh", {})
    assert one.status_code == 303
    assert "ההנחיות כבר עדכניות; לא נשלח דבר." in (await dash.get("/dashboard/sessions")).text
    other = await dash.post("/dashboard/sessions/sess-unknown/refresh", {})
    assert other.status_code == 404


async def test_another_caregiver_cannot_refresh_or_see_the_session(live: Live) -> None:
    await signed_in_with_a_live_session(live)
    session = live.services.sessions.of_user(USER)[0]
    await live.services.auth.create_caregiver(name="dana", username="dana", password="dana-password-1")
    dana = Dash(live.services, live.http, live.creds)
    live.http.cookies.clear()
    await dana.login("dana", "dana-password-1")
    assert session.id not in (await dana.get("/dashboard/sessions")).text
    refused = await dana.post(f"/dashboard/sessions/{session.id}/refresh", {})
    assert refused.status_code == 404


async def test_the_sessions_page_tells_an_admin_when_a_conversation_changed_model_sessions(
    live: Live,
) -> None:
    dash = await signed_in_with_a_live_session(live)
    session = live.services.sessions.of_user(USER)[0]
    live.http.cookies.clear()
    await dash.get("/dashboard/login")
    assert (await dash.post("/dashboard/login/admin", {"token": ADMIN})).status_code == 303
    rows = await dash.client.get("/dashboard/sessions/rows", headers={"x-dashboard-fetch": "1"})
    assert session.id in rows.text
    assert "חיבורים למודל" not in rows.text  # one model session: nothing to say
    await live.engine.drop()
    await eventually(lambda: len(session.connections) == 2, "the conversation on a second model session")
    rows = await dash.client.get("/dashboard/sessions/rows", headers={"x-dashboard-fetch": "1"})
    assert "2 חיבורים למודל" in rows.text
    assert "(start, dropped)" in rows.text


async def test_one_wizard_save_of_many_sections_and_memories_is_one_refresh(live: Live) -> None:
    dash = await signed_in_with_a_live_session(live)
    engine = live.engine_session()
    before = sum(1 for e in engine.received if e.get("type") == "session.update")
    await dash.get(f"{WIZARD}/1")
    await dash.step(6, {"routine.wake": "06:45"})
    await dash.step(9, {"new.preferredGenres": "חזנות"}, action="add:preferredGenres")
    await dash.step(5, {"medications.0.times": "08:30"})
    await dash.step(8, {"memory.text": "אוהב תה עם נענע", "memory.type": "preference"}, action="add:memories")
    await dash.step(8, {"memory.text": "נולד בחיפה", "memory.type": "life-story"}, action="add:memories")
    done = await dash.step(10, action="submit")
    assert done.status_code == 303
    after = sum(1 for e in engine.received if e.get("type") == "session.update")
    assert after - before == 1  # three sections and two memories: one confirmed update
    instructions = engine.config["instructions"]
    assert "06:45" in instructions and "חזנות" in instructions and "אוהב תה עם נענע" in instructions
