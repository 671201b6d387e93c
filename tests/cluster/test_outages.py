"""What a blink costs: a change saved while Redis is down still reaches the conversation on another
instance (from the change log) and the cluster recovers when Redis is back; a rolling restart of
every instance loses no save and signs nobody out."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from bench.redis_server import RedisServer
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

USER = "user-cluster-002"
NAOMI = "נעמי שמר"
ARIK = "אריק איינשטיין"
STALE_AT_MOST_S = 10.0  # the promise: no conversation stays stale longer than this after a save


def start(tmp_path: Path, database: str, redis_url: str, *names: str) -> list[Instance]:
    instances = [
        Instance(n, cluster_env(tmp_path, n, database, redis_url), tmp_path / f"{n}.log") for n in names
    ]
    start_all(instances)
    return instances


async def test_a_change_saved_while_redis_is_down_reaches_the_conversation(
    tmp_path: Path, postgres_databases: object, own_redis: RedisServer
) -> None:
    database = postgres_databases.create()  # type: ignore[attr-defined]
    a, b = start(tmp_path, database, own_redis.url, "a", "b")
    try:
        async with a.http() as http_a, b.http() as http_b:
            token = await seed_person(http_a, USER, NAOMI, ARIK)
            conversation = await Conversation.open(b, token)
            assert NAOMI in await conversation.ask_for_music()

            own_redis.stop()
            saved = await put_music(http_a, USER, ARIK)
            assert saved.status_code == 200, saved.text  # the save itself never depends on Redis
            loop = asyncio.get_running_loop()
            saved_at = loop.time()

            async def follows() -> bool:
                answer = await conversation.ask_for_music()
                return ARIK in answer and NAOMI not in answer

            await eventually(
                follows, "B's conversation to follow the save from the change log", STALE_AT_MOST_S
            )
            assert loop.time() - saved_at < STALE_AT_MOST_S
            listed = (await http_b.get("/realtime/sessions", headers=ADMIN_HEADERS)).json()
            assert listed["complete"] is False  # the others could not be asked...
            assert [s["instance"] for s in listed["sessions"]] == ["b"]  # ...but its own are listed
            degraded = (await http_b.get("/health", headers=ADMIN_HEADERS)).json()
            assert degraded["cluster"]["redis"] == "unreachable"
            assert degraded["cluster"]["changeLog"]["lastReadAgoS"] < 5  # still following the log

            own_redis.start()  # Redis is back (empty: it keeps nothing on disk)

            async def registered_again() -> bool:
                sessions = await http_a.get("/realtime/sessions", headers=ADMIN_HEADERS)
                return "complete" not in sessions.json() and any(
                    s["instance"] == "b" for s in sessions.json()["sessions"]
                )

            await eventually(registered_again, "B to register its conversation again", 20)
            again = await put_music(http_a, USER, NAOMI)
            assert again.json()["liveSessions"] == {"refreshed": 1, "unchanged": 0, "failed": 0}
            await conversation.ws.close()
    finally:
        for instance in (a, b):
            instance.stop()


async def test_a_rolling_restart_loses_no_save_and_signs_nobody_out(
    tmp_path: Path, postgres_databases: object, redis_url: str
) -> None:
    database = postgres_databases.create()  # type: ignore[attr-defined]
    a, b = start(tmp_path, database, redis_url, "a", "b")
    try:
        async with a.http() as http_a:
            await seed_person(http_a, USER, NAOMI)
            caregiver = await http_a.post(
                "/api/caregivers",
                json={"name": "דנה", "username": "dana", "password": "a-long-password"},
                headers=ADMIN_HEADERS,
            )
            assert caregiver.status_code == 201, caregiver.text
            assigned = await http_a.post(
                f"/api/caregivers/{caregiver.json()['id']}/users/{USER}", headers=ADMIN_HEADERS
            )
            assert assigned.status_code == 200, assigned.text
            cookies = await sign_in(a.url, "dana", "a-long-password")
            first = await http_a.get(f"/api/users/{USER}/music", headers=ADMIN_HEADERS)
            first_version = int(first.headers["etag"].strip('"'))

        acknowledged: list[list[str]] = []
        stop = asyncio.Event()

        async def caregiver_saves() -> None:
            """Saves one after another through a balancer that sends each to whichever instance is up."""
            n = 0
            while not stop.is_set():
                n += 1
                artists = [f"artist-{n}"]
                for instance in (a, b) if n % 2 else (b, a):
                    try:
                        async with instance.http() as http:
                            response = await put_music(http, USER, *artists)
                    except (httpx.HTTPError, AssertionError):
                        continue  # that instance is restarting: the balancer tries the other
                    if response.status_code == 200:
                        acknowledged.append(artists)
                    break
                await asyncio.sleep(0.05)

        saver = asyncio.create_task(caregiver_saves())
        for instance in (b, a):  # one at a time, as an operator upgrades them
            await asyncio.sleep(0.5)
            await asyncio.to_thread(instance.stop)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(instance.start)
        await asyncio.sleep(0.5)
        stop.set()
        await saver
        assert len(acknowledged) >= 5, "the saves should have gone on during the restarts"
        async with a.http() as http_a, b.http() as http_b:
            for http in (http_a, http_b):
                stored = await http.get(f"/api/users/{USER}/music", headers=ADMIN_HEADERS)
                assert stored.json()["data"]["preferredArtists"] == acknowledged[-1]  # the last acknowledged
                # each save was based on the one before (If-Match): every acknowledged one is counted
                assert int(stored.headers["etag"].strip('"')) >= first_version + len(acknowledged)
        for instance in (a, b):
            async with httpx.AsyncClient(base_url=instance.url, cookies=cookies, timeout=15) as http:
                page = await http.get("/dashboard/people", follow_redirects=False)
                assert page.status_code == 200, "a restart must not sign the caregiver out"
    finally:
        for instance in (a, b):
            instance.stop()


async def sign_in(base_url: str, username: str, password: str) -> httpx.Cookies:
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        form = await http.get("/dashboard/login")
        match = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert match, form.text[:500]
        done = await http.post(
            "/dashboard/login",
            data={"username": username, "password": password, "csrf": match.group(1)},
            follow_redirects=False,
        )
        assert done.status_code in (302, 303), done.text[:500]
        return http.cookies
