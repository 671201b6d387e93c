"""A closed conversation is remembered as a summary: "closed" answers and the list, no sockets kept."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from companion.realtime.records import ClosedSession
from tests.live.conftest import USER, eventually, run_live


async def test_a_closed_session_is_kept_as_a_summary_and_the_conversation_itself_is_let_go(
    tmp_path: Path,
) -> None:
    async for live in run_live(tmp_path):
        client = await live.connect()
        await client.say("שלום")
        (session,) = live.services.sessions.of_user(USER)
        session_id = session.id
        alive = weakref.ref(session)
        del session
        await client.ws.close()
        sessions = live.services.sessions
        await eventually(lambda s=sessions: not s.of_user(USER), "the session to end")

        kept = live.services.sessions.get(session_id)
        assert isinstance(kept, ClosedSession)
        assert kept.as_json()["turnCount"] == 1 and kept.as_json()["status"] == "closed"
        gc.collect()
        assert alive() is None  # the LiveSession, its sockets and queues are gone

        shown = await live.http.get(f"/realtime/session/{session_id}", headers=live.auth())
        assert shown.status_code == 200 and shown.json()["status"] == "closed"
        listed = await live.http.get("/realtime/sessions?includeClosed=true", headers=live.auth())
        assert [s["id"] for s in listed.json()["sessions"]] == [session_id]
        refresh = await live.http.post(f"/realtime/session/{session_id}/refresh", headers=live.auth())
        assert refresh.status_code == 409
        closed = await live.http.delete(f"/realtime/session/{session_id}", headers=live.auth())
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
