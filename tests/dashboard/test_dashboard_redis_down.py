"""When the instances' Redis goes away: dashboard pages and sign-in answer a clear 503 page, pairing a
503 JSON error, and nothing is let through that a lock-out or a session would have decided. The test
runs its own ``redis-server`` (no persistence) so that it can stop it, and starts it again after.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.redis_server import RedisServer
from companion.demo import DEMO_USER
from tests.dashboard.test_dashboard_cluster import instance


def unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "60"
    assert "נסו שוב בעוד דקה" in response.text


async def test_a_stopped_redis_answers_503_and_lets_nobody_through(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    async with instance(data, own_redis.url, "a") as dash:
        assert (await dash.login()).status_code == 303
        code = (await dash.services.devices.create_pairing(DEMO_USER, created_by=None)).code
        own_redis.stop()

        unavailable(await dash.client.get("/dashboard/people"))  # not a redirect to the login page
        unavailable(await dash.client.get("/dashboard/login"))
        signed_in = await dash.client.post(
            "/dashboard/login", data={"username": "tiferet", "password": "demo-password", "csrf": dash.csrf}
        )
        unavailable(signed_in)
        assert "set-cookie" not in signed_in.headers, "no session is handed out"
        paired = await dash.client.post("/app/pair", data={"code": code})
        assert paired.status_code == 503
        assert paired.headers["retry-after"] == "60"
        assert paired.json()["error"] == "cluster_unavailable"
        assert "companion_device" not in paired.cookies, "a code is never tried without its count"
        assert not await dash.services.devices.devices_of(DEMO_USER)

        own_redis.start()  # back, empty (no persistence): the old sign-in is gone, a new one works
        again = await dash.client.get("/dashboard/people")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/dashboard/login")
        dash.csrf = ""
        assert (await dash.login()).status_code == 303
        assert (await dash.client.get("/dashboard/people")).status_code == 200
