"""The admin page's tokens and caregiver deletion, erasing a person from their page, and the people and
admin pages costing the same number of queries however many people and caregivers there are."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from companion.demo import DEMO_SECTIONS
from companion.services import Services
from tests.dashboard.conftest import ADMIN, DEMO_USER, Dash


async def as_admin(dash: Dash) -> None:
    await dash.get("/dashboard/login")
    assert (await dash.post("/dashboard/login/admin", {"token": ADMIN})).status_code == 303
    await dash.get("/dashboard/admin")


async def test_tokens_are_listed_without_secrets_and_revoked_with_csrf(dash: Dash) -> None:
    await as_admin(dash)
    page = await dash.get("/dashboard/admin")
    tokens = await dash.services.store.list_tokens()
    assert len(tokens) == 3 and all(t.id in page.text for t in tokens)
    assert "demo device" in page.text
    for secret in (dash.creds.admin_token, dash.creds.caregiver_token, dash.creds.device_token):
        assert secret is not None and secret not in page.text
    assert all(t.token_hash not in page.text for t in tokens)
    [care] = [t for t in tokens if t.role == "caregiver"]
    api_auth = {"Authorization": f"Bearer {dash.creds.caregiver_token}"}
    assert (await dash.client.get("/api/users", headers=api_auth)).status_code == 200

    forged = await dash.client.post(f"/dashboard/admin/tokens/{care.id}/revoke", data={"csrf": "wrong"})
    assert forged.status_code == 403
    assert await dash.services.store.get_token(care.id) is not None

    revoked = await dash.post(f"/dashboard/admin/tokens/{care.id}/revoke", {})
    assert revoked.status_code == 303
    assert care.id in (await dash.get("/dashboard/admin")).text  # the flash names it...
    assert await dash.services.store.get_token(care.id) is None  # ...and it is gone
    assert (await dash.client.get("/api/users", headers=api_auth)).status_code == 401


async def test_a_token_made_on_the_page_is_shown_once(dash: Dash) -> None:
    await as_admin(dash)
    made = await dash.post(
        "/dashboard/admin/tokens",
        {"role": "device", "user_id": DEMO_USER, "label": "kitchen", "expires_days": "7"},
    )
    assert made.status_code == 201
    [record] = [t for t in await dash.services.store.list_tokens() if t.label == "kitchen"]
    assert record.expires_at is not None
    assert (record.expires_at - record.created_at).days == 7
    secret = made.text.split('class="secret">')[1].split("<")[0]
    assert secret.startswith("cmp_")
    assert secret not in (await dash.get("/dashboard/admin")).text, "shown once"
    bad = await dash.post("/dashboard/admin/tokens", {"role": "root", "expires_days": "7"})
    assert bad.status_code == 422


async def test_an_admin_deletes_a_caregiver_account_from_the_page(dash: Dash) -> None:
    await as_admin(dash)
    caregiver = await dash.services.store.find_caregiver_by_username("tiferet")
    assert caregiver is not None
    response = await dash.post(f"/dashboard/admin/caregivers/{caregiver.id}/delete", {})
    assert response.status_code == 303
    assert await dash.services.store.find_caregiver_by_username("tiferet") is None
    assert await dash.services.store.user_exists(DEMO_USER), "their person stays"
    api_auth = {"Authorization": f"Bearer {dash.creds.caregiver_token}"}
    assert (await dash.client.get("/api/users", headers=api_auth)).status_code == 401
    assert [e.action for e in await dash.services.store.audit_entries()] == ["erase_caregiver"]


async def test_a_caregiver_erases_their_person_after_typing_the_id(dash: Dash) -> None:
    await dash.login()
    page = await dash.get(f"/dashboard/people/{DEMO_USER}")
    assert 'name="confirm"' in page.text
    wrong = await dash.post(f"/dashboard/people/{DEMO_USER}/erase", {"confirm": "user-tiferet"})
    assert wrong.status_code == 422
    assert "אינו תואם" in wrong.text
    assert await dash.services.store.load_user(DEMO_USER) != [], "nothing was erased"

    erased = await dash.post(f"/dashboard/people/{DEMO_USER}/erase", {"confirm": DEMO_USER})
    assert erased.status_code == 303 and erased.headers["location"] == "/dashboard/people"
    people = await dash.get("/dashboard/people")
    assert "נמחקו" in people.text
    assert await dash.services.store.load_user(DEMO_USER) == []
    assert (await dash.client.get(f"/dashboard/people/{DEMO_USER}")).status_code == 404
    [entry] = await dash.services.store.audit_entries()
    assert entry.action == "erase_person" and entry.target == DEMO_USER


async def test_another_familys_person_cannot_be_erased(dash: Dash) -> None:
    await dash.services.store.create_user("user-other")
    await dash.login()
    response = await dash.post("/dashboard/people/user-other/erase", {"confirm": "user-other"})
    assert response.status_code == 404
    assert await dash.services.store.user_exists("user-other")


# ---- queries per page -----------------------------------------------------------------------------


@contextmanager
def counting_queries(services: Services) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = services.store._engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("PRAGMA", "BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def queries_for(dash: Dash, url: str) -> int:
    with counting_queries(dash.services) as statements:
        response: httpx.Response = await dash.client.get(url)
    assert response.status_code == 200, response.text
    return len(statements)


def profile_named(name: str) -> dict[str, Any]:
    profile = copy.deepcopy(DEMO_SECTIONS["profile"])
    profile["personalInfo"].update(fullName=name, preferredName=name)
    return profile


async def add_people(dash: Dash, caregiver_id: str, first: int, count: int) -> None:
    for n in range(first, first + count):
        user_id = f"user-{n:03d}"
        await dash.services.store.create_user_assigned(user_id, caregiver_id)
        await dash.services.profiles.save_section(
            user_id,
            "profile",
            profile_named(f"Person {n}"),
            if_match=None,
        )
        await dash.services.store.put(
            user_id, "alert", "a1", {"id": "a1", "severity": "high"}, expected_version=None
        )


async def test_the_people_page_costs_the_same_queries_for_two_people_or_ten(dash: Dash) -> None:
    caregiver = await dash.services.store.find_caregiver_by_username("tiferet")
    assert caregiver is not None
    await add_people(dash, caregiver.id, 1, 1)
    await dash.login()
    few = await queries_for(dash, "/dashboard/people")
    await add_people(dash, caregiver.id, 2, 8)
    many = await queries_for(dash, "/dashboard/people")
    assert many == few, f"{few} queries for 2 people, {many} for 10"
    page = (await dash.get("/dashboard/people")).text
    assert "Person 9" in page and "משה" in page


async def test_the_admin_page_costs_the_same_queries_for_one_caregiver_or_six(dash: Dash) -> None:
    await as_admin(dash)
    few = await queries_for(dash, "/dashboard/admin")
    for n in range(5):
        record = await dash.services.auth.create_caregiver(
            name=f"C{n}", username=f"carer{n}", password="long-enough-1", user_ids=[DEMO_USER]
        )
        assert record.id
    many = await queries_for(dash, "/dashboard/admin")
    assert many == few, f"{few} queries for 1 caregiver, {many} for 6"
    assert "carer4" in (await dash.get("/dashboard/admin")).text


async def test_a_session_signed_in_with_a_token_revoked_elsewhere_is_signed_out(dash: Dash) -> None:
    await dash.get("/dashboard/login")
    assert dash.creds.admin_token is not None
    signed = await dash.post("/dashboard/login/admin", {"token": dash.creds.admin_token})
    assert signed.status_code == 303
    assert (await dash.get("/dashboard/admin")).status_code == 200
    [admin] = [t for t in await dash.services.store.list_tokens() if t.role == "admin"]
    # revoked through the API (as another administrator would, on any instance)
    revoked = await dash.client.delete(
        f"/api/tokens/{admin.id}", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert revoked.status_code in (200, 204), revoked.text
    after = await dash.client.get("/dashboard/admin", follow_redirects=False)
    assert after.status_code in (302, 303) and "/dashboard/login" in after.headers["location"]
