"""Several real service processes on one PostgreSQL and one Redis: every save reaches every live
conversation, whichever instance holds it; any instance lists, refreshes and closes any conversation;
a dead instance's conversations leave the list."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.cluster.instances import (
    ADMIN_HEADERS,
    Conversation,
    Instance,
    cluster_env,
    eventually,
    put_music,
    seed_person,
    start_all,
)

NAOMI = "נעמי שמר"
ARIK = "אריק איינשטיין"
SHLOMO = "שלמה ארצי"
KILLED_TTL_S = 3


def _running(tmp_path: Path, databases: object, redis_url: str, **settings: str) -> Iterator[list[Instance]]:
    database = databases.create()  # type: ignore[attr-defined]
    started = [
        Instance(name, cluster_env(tmp_path, name, database, redis_url, **settings), tmp_path / f"{name}.log")
        for name in ("a", "b")
    ]
    try:
        start_all(started)
        yield started
    finally:
        for instance in started:
            instance.stop()


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: object, module_redis_url: str
) -> Iterator[list[Instance]]:
    """One pair for the tests that leave both instances running (each with a person of its own)."""
    yield from _running(tmp_path_factory.mktemp("shared"), postgres_databases, module_redis_url)


@pytest.fixture
def instances(tmp_path: Path, postgres_databases: object, redis_url: str) -> Iterator[list[Instance]]:
    """A pair of the test's own, for a test that kills one: a silent instance is gone after
    ``KILLED_TTL_S`` (``COMPANION_INSTANCE_TTL_S``) rather than the default 15 s."""
    yield from _running(tmp_path, postgres_databases, redis_url, COMPANION_INSTANCE_TTL_S=str(KILLED_TTL_S))


async def test_a_save_on_one_instance_is_confirmed_by_the_conversation_on_another(
    shared: list[Instance],
) -> None:
    user = "user-cluster-save"
    a, b = shared
    async with a.http() as http_a, b.http() as http_b:
        token = await seed_person(http_a, user, NAOMI, ARIK)
        conversation = await Conversation.open(b, token)
        assert NAOMI in await conversation.ask_for_music()  # the first artist it was told about

        async def b_is_listed() -> bool:
            listed = (await http_a.get("/realtime/sessions", headers=ADMIN_HEADERS)).json()["sessions"]
            return any(s["instance"] == "b" and s["userId"] == user for s in listed)

        await eventually(b_is_listed, "A to list B's conversation")
        saved = await put_music(http_a, user, ARIK)  # on A: Naomi Shemer removed
        assert saved.status_code == 200, saved.text
        assert saved.json()["liveSessions"] == {"refreshed": 1, "unchanged": 0, "failed": 0}
        # B's model took the new instructions: asked again, it names only the remaining artist
        answer = await conversation.ask_for_music()
        assert ARIK in answer and NAOMI not in answer
        health = (await http_b.get("/health", headers=ADMIN_HEADERS)).json()
        assert health["instance"] == "b" and health["cluster"]["redis"] == "ok"
        await conversation.ws.close()


async def test_any_instance_lists_refreshes_and_closes_anothers_conversation(
    shared: list[Instance],
) -> None:
    user = "user-cluster-list"
    a, b = shared
    async with a.http() as http_a:
        token = await seed_person(http_a, user, NAOMI)
        conversation = await Conversation.open(b, token)

        async def listed_on_a() -> list[dict[str, object]]:
            sessions = (await http_a.get("/realtime/sessions", headers=ADMIN_HEADERS)).json()["sessions"]
            return [s for s in sessions if s["instance"] == "b" and s["userId"] == user]

        [summary] = await eventually(listed_on_a, "A to list B's conversation")
        session_id = summary["id"]
        got = await http_a.get(f"/realtime/session/{session_id}", headers=ADMIN_HEADERS)
        assert got.status_code == 200 and got.json()["instance"] == "b" and got.json()["status"] == "active"

        refreshed = await http_a.post(f"/realtime/session/{session_id}/refresh", headers=ADMIN_HEADERS)
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["sessionId"] == session_id
        assert refreshed.json()["result"] in ("refreshed", "unchanged")

        person = await http_a.post(f"/realtime/users/{user}/refresh", headers=ADMIN_HEADERS)
        assert person.status_code == 200 and [s["sessionId"] for s in person.json()["sessions"]] == [
            session_id
        ]

        closed = await http_a.delete(f"/realtime/session/{session_id}", headers=ADMIN_HEADERS)
        assert closed.status_code == 200, closed.text
        await eventually(
            lambda: conversation.ws.close_code is not None or _closed(conversation), "B to end it"
        )

        # once it ended: a refresh routed from A is a 409, as it is on B itself
        async def refresh_is_409() -> bool:
            again = await http_a.post(f"/realtime/session/{session_id}/refresh", headers=ADMIN_HEADERS)
            return again.status_code == 409

        await eventually(refresh_is_409, "a refresh of the ended conversation to be refused with 409")
        unknown = await http_a.post("/realtime/session/nope/refresh", headers=ADMIN_HEADERS)
        assert unknown.status_code == 404


def _closed(conversation: Conversation) -> bool:
    return conversation.ws.state.name == "CLOSED"


async def test_a_killed_instances_conversations_leave_the_list(instances: list[Instance]) -> None:
    user = "user-cluster-killed"
    a, b = instances
    async with a.http() as http_a:
        token = await seed_person(http_a, user, NAOMI)
        await Conversation.open(b, token)

        async def on_b() -> int:
            sessions = (await http_a.get("/realtime/sessions", headers=ADMIN_HEADERS)).json()["sessions"]
            return sum(1 for s in sessions if s["instance"] == "b" and s["userId"] == user)

        await eventually(on_b, "A to list B's conversation")
        b.stop(kill=True)  # no goodbye: its registry entry must expire by itself
        await eventually(lambda: _none(on_b), "B's conversation to leave A's list", timeout=KILLED_TTL_S + 10)
        # and a save still answers at once: nobody is left to wait for
        saved = await put_music(http_a, user, ARIK)
        assert saved.status_code == 200 and saved.json()["liveSessions"]["refreshed"] == 0


async def _none(count: object) -> bool:
    return await count() == 0  # type: ignore[operator,no-any-return]


@pytest.fixture
def limited(tmp_path: Path, postgres_databases: object, redis_url: str) -> Iterator[list[Instance]]:
    yield from _running(tmp_path, postgres_databases, redis_url, COMPANION_MAX_SESSIONS_PER_PERSON="1")


async def test_a_persons_limit_counts_the_conversations_of_every_instance(limited: list[Instance]) -> None:
    user = "user-cluster-limit"
    a, b = limited
    async with a.http() as http_a:
        token = await seed_person(http_a, user, NAOMI)
    first = await Conversation.open(b, token)

    async def refused_on_a() -> bool:
        async with connect(
            f"ws://127.0.0.1:{a.port}/v1/realtime", additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event["type"] != "error":
                return False  # not yet known on A: this one opened (and closes as it leaves)
            assert event["error"]["code"] == "too_many_sessions"
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code == 1013

    # A learns of B's conversation with B's next heartbeat (a few seconds at most)
    await eventually(refused_on_a, "A to refuse a second conversation of the person", timeout=20)
    await first.ws.close()


async def test_an_owner_that_does_not_answer_is_counted_and_named_not_waited_for(
    shared: list[Instance],
) -> None:
    user = "user-cluster-stopped"
    a, b = shared
    async with a.http() as http_a:
        token = await seed_person(http_a, user, NAOMI, ARIK)
        conversation = await Conversation.open(b, token)

        async def b_is_listed() -> bool:
            listed = (await http_a.get("/realtime/sessions", headers=ADMIN_HEADERS)).json()["sessions"]
            return any(s["instance"] == "b" and s["userId"] == user for s in listed)

        await eventually(b_is_listed, "A to list B's conversation")
        assert b.proc is not None
        b.proc.send_signal(signal.SIGSTOP)  # B hangs: still registered, still subscribed, never answers
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            saved = await put_music(http_a, user, ARIK)
            waited = loop.time() - started
        finally:
            b.proc.send_signal(signal.SIGCONT)
        assert saved.status_code == 200, saved.text  # the save itself is kept
        assert saved.json()["liveSessions"] == {
            "refreshed": 0,
            "unchanged": 0,
            "failed": 1,
            "unanswered": ["b"],
        }
        assert waited < 3 + 1 + 3  # the refresh timeout, the hop's margin, and a loaded machine's slack
        # B wakes up and follows the change from the change log all the same
        answer = await eventually(conversation.ask_for_music, "B to answer again")
        assert isinstance(answer, str)

        async def follows() -> bool:
            text = await conversation.ask_for_music()
            return ARIK in text and NAOMI not in text

        await eventually(follows, "B's conversation to follow the save it missed")
        await conversation.ws.close()


async def _closed_with(conversation: Conversation) -> int | None:
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        while True:
            await asyncio.wait_for(conversation.ws.recv(), 10)
    return conversation.ws.close_code


async def test_revoking_a_token_or_erasing_a_person_on_one_instance_ends_conversations_on_another(
    shared: list[Instance],
) -> None:
    user = "user-cluster-erased"
    a, b = shared
    async with a.http() as http_a:
        await seed_person(http_a, user, NAOMI)
        made = await http_a.post(
            "/api/tokens", json={"role": "device", "userId": user}, headers=ADMIN_HEADERS
        )
        token, token_id = made.json()["token"], made.json()["id"]
        by_token = await Conversation.open(b, token)
        revoked = await http_a.delete(f"/api/tokens/{token_id}", headers=ADMIN_HEADERS)
        assert revoked.status_code in (200, 204), revoked.text
        assert await _closed_with(by_token) == 1008  # ended on B, by a revocation made on A

        other = await http_a.post(
            "/api/tokens", json={"role": "device", "userId": user}, headers=ADMIN_HEADERS
        )
        conversation = await Conversation.open(b, other.json()["token"])

        async def b_is_listed() -> bool:
            listed = (await http_a.get("/realtime/sessions", headers=ADMIN_HEADERS)).json()["sessions"]
            return any(s["instance"] == "b" and s["userId"] == user for s in listed)

        await eventually(b_is_listed, "A to list B's conversation")
        erased = await http_a.delete(f"/api/users/{user}", headers=ADMIN_HEADERS)
        assert erased.status_code in (200, 204), erased.text
        assert await _closed_with(conversation) == 1008  # the person's data is gone: so is the conversation
