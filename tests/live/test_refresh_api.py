"""Refresh over REST and through saves: results, error statuses, fan-out and coalescing."""

from __future__ import annotations

import asyncio

from companion.events import ProfileChanged
from companion.profiles.models import Music
from tests.live.conftest import ADMIN, USER, Live, eventually

ARIK = "אריק איינשטיין"


async def test_two_sessions_of_one_user_both_refreshed_by_one_save(live: Live) -> None:
    await live.connect()
    await live.connect()
    assert len(live.engine.sessions) == 2
    response = await live.put_music(ARIK, "שלמה ארצי")
    assert response.json()["liveSessions"] == {"refreshed": 2, "unchanged": 0, "failed": 0}
    for engine in live.engine.sessions:
        assert "שלמה ארצי" in engine.config["instructions"]
        assert "נעמי שמר" not in engine.config["instructions"]


async def test_refresh_endpoint_results(live: Live) -> None:
    await live.connect()
    session_id = live.services.sessions.of_user(USER)[0].id
    url = f"/realtime/session/{session_id}/refresh"
    r = await live.http.post(url, headers=live.auth())
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["result"] == "unchanged" and body["sessionId"] == session_id
    sent_before = sum(1 for e in live.engine_session().received if e.get("type") == "session.update")
    # change the store without publishing: only an explicit refresh can bring it in
    await live.services.store.put(
        USER,
        "music",
        "main",
        Music(preferred_artists=[ARIK]).model_dump(mode="json", by_alias=True),
        expected_version=1,
    )
    r = await live.http.post(url, headers=live.auth())
    body = r.json()
    assert r.status_code == 200 and body["result"] == "refreshed"
    assert body["instructionsVersion"] == live.services.sessions.get(session_id).instructions.version
    assert body["latencyMs"] > 0
    sent_after = sum(1 for e in live.engine_session().received if e.get("type") == "session.update")
    assert sent_after == sent_before + 1
    assert "נעמי שמר" not in live.engine_session().config["instructions"]


async def test_unknown_session_is_404_and_closed_is_409(live: Live) -> None:
    r = await live.http.post("/realtime/session/sess-nope/refresh", headers=live.auth())
    assert r.status_code == 404
    assert r.json()["message"] == "Session sess-nope not found"
    client = await live.connect()
    session_id = live.services.sessions.of_user(USER)[0].id
    await client.ws.close()
    await eventually(lambda: not live.services.sessions.of_user(USER), "the session to close")
    r = await live.http.post(f"/realtime/session/{session_id}/refresh", headers=live.auth())
    assert r.status_code == 409
    assert r.json()["message"] == f"Session {session_id} has no active WebSocket connection"


async def test_client_leaving_closes_the_upstream_at_once(live: Live) -> None:
    client = await live.connect()
    assert len(live.engine.sessions) == 1
    await client.ws.close()
    await eventually(lambda: not live.engine.sessions, "the upstream connection to close", timeout=2.0)


async def test_rejected_update_is_502_with_the_models_message(live: Live) -> None:
    await live.connect()
    live.engine.reject_session_updates = True
    save = await live.put_music(ARIK)
    assert save.status_code == 200
    assert save.json()["liveSessions"]["failed"] == 1
    session_id = live.services.sessions.of_user(USER)[0].id
    r = await live.http.post(f"/realtime/session/{session_id}/refresh", headers=live.auth())
    assert r.status_code == 502
    message = r.json()["message"]
    assert message.startswith("The realtime model rejected the update (invalid_value)")
    assert live.services.sessions.get(session_id).last_refresh.result.value == "rejected"
    # the conversation goes on, and a later refresh succeeds once the model accepts again
    live.engine.reject_session_updates = False
    r = await live.http.post(f"/realtime/session/{session_id}/refresh", headers=live.auth())
    assert r.status_code == 200 and r.json()["result"] == "refreshed"


async def test_silent_upstream_is_504(live: Live) -> None:
    await live.connect()
    live.engine.ignore_session_updates = True
    await live.put_music(ARIK)
    session_id = live.services.sessions.of_user(USER)[0].id
    r = await live.http.post(f"/realtime/session/{session_id}/refresh", headers=live.auth())
    assert r.status_code == 504
    assert "did not confirm" in r.json()["message"]
    assert live.services.sessions.get(session_id).last_refresh.result.value == "timeout"


async def test_user_refresh_reports_each_session(live: Live) -> None:
    await live.connect()
    await live.connect()
    r = await live.http.post(f"/realtime/users/{USER}/refresh", headers=live.auth())
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert [s["result"] for s in body["sessions"]] == ["unchanged", "unchanged"]


async def test_burst_of_saves_ends_on_the_latest_version_and_never_goes_back(live: Live) -> None:
    await live.connect()
    engine = live.engine_session()
    live.engine.session_update_delay_s = 0.05  # so that saves pile up behind a refresh in flight
    bus = live.services.bus
    publishes = []
    version = 1
    for n in range(12):
        body = Music(preferred_artists=[f"artist-{n:02d}"]).model_dump(mode="json", by_alias=True)
        doc = await live.services.store.put(USER, "music", "main", body, expected_version=version)
        version = doc.version
        publishes.append(asyncio.create_task(bus.publish(ProfileChanged(USER, ("music",), version))))
        await asyncio.sleep(0.005)
    results = await asyncio.gather(*publishes)
    assert sum(r.failed for r in results) == 0
    assert "artist-11" in engine.config["instructions"]
    applied = [
        next(int(a[7:9]) for a in (f"artist-{i:02d}" for i in range(12)) if a in text)
        for text in engine.instructions_history
        if "artist-" in text
    ]
    assert applied == sorted(applied), f"an older version was applied after a newer one: {applied}"
    assert applied[-1] == 11
    assert len(applied) < 12, "the burst should have been coalesced into fewer updates"


async def test_client_cannot_set_instructions_or_tools(live: Live) -> None:
    client = await live.connect()
    await client.send(
        {
            "type": "session.update",
            "event_id": "evt_x",
            "session": {"type": "realtime", "instructions": "hacked"},
        }
    )
    err = await client.until("error")
    assert err["error"]["code"] == "instructions_managed_by_server"
    assert err["error"]["event_id"] == "evt_x"
    await client.send({"type": "response.create", "response": {"tools": []}})
    err = await client.until("error")
    assert err["error"]["code"] == "instructions_managed_by_server"
    assert not any("hacked" in str(e) for e in live.engine_session().received)
    # other fields pass through to the model
    await client.send(
        {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "marin"}}}}
    )
    updated = await client.until("session.updated")
    assert updated["session"]["audio"]["output"]["voice"] == "marin"
    assert updated["session"]["instructions"] != live.engine_session().config["instructions"]


async def test_caregiver_sees_only_their_sessions(live: Live) -> None:
    await live.connect()
    r = await live.http.post(
        "/api/caregivers",
        json={"name": "o", "username": "other", "password": "long-enough-1"},
        headers=live.auth(live.creds.admin_token),
    )
    other_id = r.json()["id"]
    r = await live.http.post(
        "/api/tokens",
        json={"role": "caregiver", "caregiverId": other_id},
        headers=live.auth(live.creds.admin_token),
    )
    other = r.json()["token"]
    assert (await live.http.get("/realtime/sessions", headers=live.auth(other))).json() == {"sessions": []}
    session_id = live.services.sessions.of_user(USER)[0].id
    r = await live.http.post(f"/realtime/session/{session_id}/refresh", headers=live.auth(other))
    assert r.status_code == 404
    mine = (await live.http.get("/realtime/sessions", headers=live.auth())).json()["sessions"]
    assert [s["id"] for s in mine] == [session_id]
    assert mine[0]["status"] == "active" and mine[0]["userId"] == USER


async def test_session_stats_and_metrics(live: Live) -> None:
    client = await live.connect()
    await client.say("שלום")
    await live.put_music(ARIK)
    session = (await live.http.get("/realtime/sessions", headers=live.auth())).json()["sessions"][0]
    assert session["turnCount"] == 1
    assert session["tokenUsage"] > 0
    assert session["lastRefresh"]["result"] == "refreshed"
    metrics = (await live.http.get("/metrics", headers=live.auth(ADMIN))).text
    assert "companion_live_sessions 1.0" in metrics
    assert 'companion_refreshes_total{result="refreshed"} 1.0' in metrics
    assert f"companion_tokens_total {float(session['tokenUsage'])}" in metrics


async def test_save_while_a_session_is_starting_is_not_lost(live: Live) -> None:
    live.engine.session_update_delay_s = 0.3  # the start's first update is slow to confirm
    connecting = asyncio.create_task(live.connect())
    await eventually(lambda: bool(live.services.sessions.of_user(USER)), "the session to register")
    assert live.services.sessions.of_user(USER)[0].status.value == "starting"
    live.engine.session_update_delay_s = 0.0
    save = await live.put_music(ARIK)
    assert save.json()["liveSessions"] == {"refreshed": 1, "unchanged": 0, "failed": 0}
    await connecting
    assert "נעמי שמר" not in live.engine_session().config["instructions"]
    assert ARIK in live.engine_session().config["instructions"]
