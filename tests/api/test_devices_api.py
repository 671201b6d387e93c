"""Pairing tablets, the device cookie, client secrets and revocation, in-process over ASGI."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from companion.api.device_auth import DEVICE_COOKIE
from companion.app import create_app
from companion.auth.device_secrets import CLIENT_SECRET_TTL, DEVICE_SESSION_LIFETIME, PAIRING_CODE_TTL
from companion.auth.devices import (
    FAILURE_BUDGET_WINDOW_S,
    MAX_FAILED_PAIRINGS_PER_CLIENT,
    MAX_FAILED_PAIRINGS_PER_MINUTE,
    label_from_user_agent,
)
from companion.auth.throttle import FailureBudget
from companion.errors import Unauthorized
from tests.api.conftest import Api, make_settings

MINE = "user-mine"
THEIRS = "user-theirs"
ANDROID_UA = "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture
async def world(api: Api) -> dict[str, str]:
    for user in (MINE, THEIRS):
        assert (await api.admin("POST", "/api/users", json={"userId": user})).status_code == 201
    me = await api.caregiver("alice", [MINE])
    r = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": MINE})
    return {"me": me, "device": r.json()["token"]}


async def new_code(api: Api, token: str, user: str = MINE) -> dict[str, str]:
    r = await api.client.post(f"/api/users/{user}/pairings", headers=api.auth(token))
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def pair(api: Api, code: str, client: httpx.AsyncClient | None = None) -> httpx.Response:
    """What the link page's button does: post the code (no Origin: a non-browser client)."""
    http = client or api.client
    return await http.post("/app/pair", data={"code": code}, headers={"User-Agent": ANDROID_UA})


def at_address(api: Api, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(host, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def session_secret(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post("/app/session", headers=headers)


def frozen(at: datetime) -> object:
    return lambda: at


# ---- who may create codes and see devices ------------------------------------------------------------


async def test_caregiver_gets_a_six_digit_code_with_an_absolute_link(api: Api, world: dict[str, str]) -> None:
    before = datetime.now(UTC)
    r = await api.client.post(f"/api/users/{MINE}/pairings", headers=api.auth(world["me"]))
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert re.fullmatch(r"[0-9]{6}", body["code"])
    assert body["url"] == f"http://test/app/pair/{body['code']}"
    expires = datetime.fromisoformat(body["expiresAt"])
    assert before + PAIRING_CODE_TTL <= expires <= datetime.now(UTC) + PAIRING_CODE_TTL
    assert (await api.admin("POST", f"/api/users/{MINE}/pairings")).status_code == 201, "admins too"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/users/{u}/pairings"),
        ("GET", "/api/users/{u}/devices"),
        ("DELETE", "/api/users/{u}/devices/dev-x"),
    ],
)
async def test_another_family_and_devices_are_kept_out(
    api: Api, world: dict[str, str], method: str, path: str
) -> None:
    mine = api.auth(world["me"])
    theirs = await api.client.request(method, path.format(u=THEIRS), headers=mine)
    nobody = await api.client.request(method, path.format(u="user-nobody"), headers=mine)
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["message"].replace(THEIRS, "X") == nobody.json()["message"].replace(
        "user-nobody", "X"
    )
    device = await api.client.request(method, path.format(u=MINE), headers=api.auth(world["device"]))
    assert device.status_code == 403, "a device token cannot create codes or manage devices"
    assert (await api.client.request(method, path.format(u=MINE))).status_code == 401


async def test_a_bad_user_id_is_refused_naming_the_field(api: Api, world: dict[str, str]) -> None:
    r = await api.client.post("/api/users/bad id!/pairings", headers=api.auth(world["me"]))
    assert r.status_code == 422
    assert r.json()["field"] == "user_id"


# ---- pairing ---------------------------------------------------------------------------------------


async def test_opening_the_link_only_shows_a_button_that_posts_the_code(
    api: Api, world: dict[str, str]
) -> None:
    made = await new_code(api, world["me"])
    for _ in range(3):  # a link preview, a prefetch, the person: none of them uses the code
        page = await api.client.get(made["url"].removeprefix("http://test"))
        assert page.status_code == 200
        assert DEVICE_COOKIE not in page.headers.get("set-cookie", "")
    assert DEVICE_COOKIE not in api.client.cookies
    assert await api.services.devices.devices_of(MINE) == []
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin", "the code in the path stays on this site"
    assert '<html lang="he" dir="rtl">' in page.text
    assert "connect this tablet" in page.text
    assert re.search(r'<form id="pair-link" method="post" action="/app/pair">', page.text)
    assert f'<input type="hidden" name="code" value="{made["code"]}">' in page.text
    assert MINE not in page.text, "whoever holds the link learns nothing about the person"

    tapped = await api.client.post(
        "/app/pair", data={"code": made["code"]}, headers={"Origin": "http://test", "User-Agent": ANDROID_UA}
    )
    assert tapped.status_code == 303 and tapped.headers["location"] == "/app", "one tap pairs"
    assert DEVICE_COOKIE in api.client.cookies


async def test_a_link_that_cannot_be_a_code_says_so_without_a_button(api: Api) -> None:
    page = await api.client.get("/app/pair/12ab")
    assert page.status_code == 422
    assert "<form" not in page.text


async def test_the_code_pairs_this_browser_once(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    r = await pair(api, code)
    assert r.status_code == 303
    assert r.headers["location"] == "/app"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(DEVICE_COOKIE + "=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute in cookie
    assert "Secure" not in cookie, "plain http on loopback"
    secret = api.client.cookies[DEVICE_COOKIE]
    assert len(secret) >= 43, "256 bits"

    listed = await api.client.get(f"/api/users/{MINE}/devices", headers=api.auth(world["me"]))
    [device] = listed.json()["devices"]
    assert device["userId"] == MINE
    assert device["label"] == "Chrome on Android"
    assert device["createdAt"] == device["lastSeenAt"]
    assert device["liveSessions"] == 0

    async with httpx.AsyncClient(transport=api.client._transport, base_url="http://test") as other:
        again = await pair(api, code, other)
        assert again.status_code == 410
        assert "הקוד כבר שומש" in again.text
        assert 'href="/app"' in again.text
        assert '<html lang="he" dir="rtl">' in again.text
        assert DEVICE_COOKIE not in other.cookies, "a used code pairs nobody"
    assert (
        len(
            (await api.client.get(f"/api/users/{MINE}/devices", headers=api.auth(world["me"]))).json()[
                "devices"
            ]
        )
        == 1
    )


async def test_unknown_expired_and_malformed_codes_pair_nobody(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    unknown = "000000" if code != "000000" else "111111"
    r = await pair(api, unknown)
    assert r.status_code == 404
    assert "הקוד לא נמצא" in r.text and 'href="/app"' in r.text

    bad = await api.client.post("/app/pair", data={"code": "12ab"})
    assert bad.status_code == 422
    assert 'data-field="code"' in bad.text

    later = datetime.now(UTC) + PAIRING_CODE_TTL + timedelta(seconds=1)
    api.services.devices.clock = frozen(later)  # type: ignore[assignment]
    expired = await pair(api, code)
    assert expired.status_code == 410
    assert "תוקף הקוד פג" in expired.text
    assert DEVICE_COOKIE not in api.client.cookies
    assert await api.services.devices.devices_of(MINE) == []


async def test_a_typed_code_may_have_spaces_and_dashes(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    typed = f" {code[:3]} - {code[3:]} "
    r = await api.client.post("/app/pair", data={"code": typed}, headers={"Origin": "http://test"})
    assert r.status_code == 303
    assert r.headers["location"] == "/app"
    assert DEVICE_COOKIE in api.client.cookies


async def test_pairing_a_browser_again_replaces_its_old_device(api: Api, world: dict[str, str]) -> None:
    await pair(api, (await new_code(api, world["me"]))["code"])
    [first] = await api.services.devices.devices_of(MINE)
    await pair(api, (await new_code(api, world["me"]))["code"])
    [second] = await api.services.devices.devices_of(MINE)
    assert second.id != first.id, "one browser, one device: the overwritten cookie's device is gone"
    assert (await session_secret(api.client)).json()["deviceId"] == second.id


async def test_a_typed_code_from_another_site_is_refused(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    r = await api.client.post("/app/pair", data={"code": code}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert DEVICE_COOKIE not in api.client.cookies
    assert (await pair(api, code)).status_code == 303, "the refused attempt did not use the code"


async def test_guessing_codes_locks_the_client_address(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_FAILED_PAIRINGS_PER_CLIENT - 1):
        assert (await pair(api, wrong)).status_code == 404
    assert (await pair(api, wrong)).status_code == 404
    locked = await pair(api, code)
    assert locked.status_code == 429, "even the right code, once locked"
    assert "יותר מדי ניסיונות" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    async with at_address(api, "10.0.0.9") as other:
        assert (await pair(api, code, other)).status_code == 303, "the lock is per client address"


async def test_a_burst_of_parallel_guesses_is_bounded_by_the_lock(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    wrong = "000000" if code != "000000" else "111111"
    answers = await asyncio.gather(*(pair(api, wrong) for _ in range(3 * MAX_FAILED_PAIRINGS_PER_CLIENT)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(404) <= MAX_FAILED_PAIRINGS_PER_CLIENT, statuses
    assert set(statuses) == {404, 429}, statuses
    assert (await pair(api, code)).status_code == 429, "the address is locked now"


async def test_an_ipv6_client_is_locked_by_its_64(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    wrong = "000000" if code != "000000" else "111111"
    for i in range(MAX_FAILED_PAIRINGS_PER_CLIENT):
        async with at_address(api, f"2001:db8:1:2::{i + 1:x}") as rotating:
            assert (await pair(api, wrong, rotating)).status_code == 404
    async with at_address(api, "2001:db8:1:2:ffff:ffff:ffff:ffff") as same_64:
        assert (await pair(api, code, same_64)).status_code == 429, "a new address in the same /64"
    async with at_address(api, "2001:db8:1:3::1") as next_64:
        assert (await pair(api, code, next_64)).status_code == 303, "another /64 is another client"


async def test_failures_from_all_addresses_share_one_budget(api: Api, world: dict[str, str]) -> None:
    code = (await new_code(api, world["me"]))["code"]
    wrong = "000000" if code != "000000" else "111111"
    now = [1000.0]
    devices = api.services.devices
    devices.budget = FailureBudget(MAX_FAILED_PAIRINGS_PER_MINUTE, FAILURE_BUDGET_WINDOW_S, lambda: now[0])
    for i in range(MAX_FAILED_PAIRINGS_PER_MINUTE):  # a botnet: each address far below its own lock
        attempt = await devices.redeem(wrong, client=f"10.1.{i // 250}.{i % 250}", user_agent=None)
        assert attempt.outcome == "unknown"
    async with at_address(api, "192.0.2.7") as fresh:
        refused = await pair(api, code, fresh)
        assert refused.status_code == 429, "every redemption waits once the budget is spent"
        assert int(refused.headers["retry-after"]) == FAILURE_BUDGET_WINDOW_S
        assert DEVICE_COOKIE not in fresh.cookies
        now[0] += FAILURE_BUDGET_WINDOW_S
        assert (await pair(api, code, fresh)).status_code == 303, "a minute later the code still works"


# ---- the cookie and client secrets -------------------------------------------------------------------


async def test_the_cookie_buys_single_use_client_secrets(api: Api, world: dict[str, str]) -> None:
    assert (await session_secret(api.client)).status_code == 401
    await pair(api, (await new_code(api, world["me"]))["code"])
    r = await session_secret(api.client, Origin="http://test")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["clientSecret"].startswith("ek_")
    assert body["realtimeUrl"] == "/v1/realtime"
    assert body["userId"] == MINE
    assert body["deviceId"].startswith("dev-")
    expires = datetime.fromisoformat(body["expiresAt"])
    assert expires - datetime.now(UTC) <= CLIENT_SECRET_TTL

    rest = await api.client.get(f"/api/users/{MINE}", headers=api.auth(body["clientSecret"]))
    assert rest.status_code == 401, "a client secret is no bearer token for the REST API"
    used_at = datetime.now(UTC)
    principal = await api.services.auth.authenticate(body["clientSecret"], allow_client_secret=True)
    assert (principal.role.value, principal.user_id, principal.device_id) == (
        "device",
        MINE,
        body["deviceId"],
    )
    # the conversation it opens ends as a token's does: it has an expiry, counted from the secret's use
    assert principal.expires_at is not None
    assert (
        used_at + DEVICE_SESSION_LIFETIME
        <= principal.expires_at
        <= datetime.now(UTC) + DEVICE_SESSION_LIFETIME
    )
    with pytest.raises(Unauthorized):
        await api.services.auth.authenticate(body["clientSecret"], allow_client_secret=True)  # used


async def test_a_client_secret_expires(api: Api, world: dict[str, str]) -> None:
    await pair(api, (await new_code(api, world["me"]))["code"])
    secret = (await session_secret(api.client)).json()["clientSecret"]
    api.services.auth.clock = frozen(datetime.now(UTC) + CLIENT_SECRET_TTL + timedelta(seconds=1))  # type: ignore[assignment]
    with pytest.raises(Unauthorized):
        await api.services.auth.authenticate(secret, allow_client_secret=True)


async def test_client_secrets_are_refused_from_another_site(api: Api, world: dict[str, str]) -> None:
    await pair(api, (await new_code(api, world["me"]))["code"])
    r = await session_secret(api.client, Origin="http://evil.example")
    assert r.status_code == 403
    assert r.json()["field"] == "origin"


async def test_last_seen_moves_at_most_once_a_minute(api: Api, world: dict[str, str]) -> None:
    await pair(api, (await new_code(api, world["me"]))["code"])
    [device] = await api.services.devices.devices_of(MINE)
    soon = device.created_at + timedelta(seconds=30)
    api.services.devices.clock = frozen(soon)  # type: ignore[assignment]
    assert (await session_secret(api.client)).status_code == 200
    assert (await api.services.devices.devices_of(MINE))[0].last_seen_at == device.created_at
    later = device.created_at + timedelta(minutes=2)
    api.services.devices.clock = frozen(later)  # type: ignore[assignment]
    assert (await session_secret(api.client)).status_code == 200
    assert (await api.services.devices.devices_of(MINE))[0].last_seen_at == later


# ---- revocation -----------------------------------------------------------------------------------


async def test_revoking_voids_the_cookie_and_unused_secrets(api: Api, world: dict[str, str]) -> None:
    await pair(api, (await new_code(api, world["me"]))["code"])
    body = (await session_secret(api.client)).json()
    mine = api.auth(world["me"])
    r = await api.client.delete(f"/api/users/{MINE}/devices/{body['deviceId']}", headers=mine)
    assert r.status_code == 204
    assert r.content == b""
    assert (await session_secret(api.client)).status_code == 401
    assert (await session_secret(api.client)).json()["error"] == "unauthorized"
    with pytest.raises(Unauthorized):
        await api.services.auth.authenticate(body["clientSecret"], allow_client_secret=True)
    again = await api.client.delete(f"/api/users/{MINE}/devices/{body['deviceId']}", headers=mine)
    assert again.status_code == 404
    assert (await api.client.get(f"/api/users/{MINE}/devices", headers=mine)).json() == {"devices": []}


async def test_another_family_cannot_revoke_my_device(api: Api, world: dict[str, str]) -> None:
    await pair(api, (await new_code(api, world["me"]))["code"])
    [device] = await api.services.devices.devices_of(MINE)
    other = await api.caregiver("bob", [THEIRS])
    r = await api.client.delete(f"/api/users/{THEIRS}/devices/{device.id}", headers=api.auth(other))
    assert r.status_code == 404
    assert (await session_secret(api.client)).status_code == 200


# ---- what is kept ---------------------------------------------------------------------------------


async def test_the_pairing_survives_a_restart(tmp_path: Path) -> None:
    async def running() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(make_settings(tmp_path))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield client

    async for client in running():
        await client.post(
            "/api/users", json={"userId": MINE}, headers={"Authorization": "Bearer test-admin-token"}
        )
        r = await client.post(
            f"/api/users/{MINE}/pairings", headers={"Authorization": "Bearer test-admin-token"}
        )
        assert (await client.post("/app/pair", data={"code": r.json()["code"]})).status_code == 303
        cookie = client.cookies[DEVICE_COOKIE]
    async for client in running():
        client.cookies.set(DEVICE_COOKIE, cookie)
        assert (await session_secret(client)).status_code == 200


async def test_codes_and_secrets_never_reach_the_logs(
    api: Api, world: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = (await new_code(api, world["me"]))["code"]
    await pair(api, code)
    secret = (await session_secret(api.client)).json()["clientSecret"]
    await api.services.auth.authenticate(secret, allow_client_secret=True)
    # the service's own records (httpx's are the test client's, which knows the code anyway)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "paired for user" in logged
    for value in (code, secret, api.client.cookies[DEVICE_COOKIE]):
        assert value not in logged


def test_access_log_lines_for_pairing_links_hide_the_code() -> None:
    from companion.elder.pair_routes import _RedactPairingPaths

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", "/app/pair/123456", "1.1", 303),
        None,
    )
    assert _RedactPairingPaths().filter(record)
    assert "123456" not in record.getMessage()
    assert "/app/pair/<code>" in record.getMessage()


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (ANDROID_UA, "Chrome on Android"),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1",
            "Safari on iPad",
        ),
        ("", "Tablet"),
        (None, "Tablet"),
    ],
)
def test_device_labels_come_from_the_user_agent(agent: str | None, label: str) -> None:
    assert label_from_user_agent(agent) == label
