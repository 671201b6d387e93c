"""Signing in and out, lock-out, CSRF, the language switch, admins, and who may see whom."""

from __future__ import annotations

from companion.dashboard.websessions import MAX_FAILURES_PER_USERNAME
from tests.dashboard.conftest import ADMIN, DEMO_USER, Dash


async def test_login_page_is_hebrew_rtl_with_labelled_fields(dash: Dash) -> None:
    page = await dash.get("/dashboard/login")
    assert page.status_code == 200
    assert '<html lang="he" dir="rtl">' in page.text
    assert '<label for="f-username">שם משתמש</label>' in page.text
    assert 'id="f-username"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["cache-control"] == "no-store"


async def test_login_sets_an_httponly_samesite_cookie_and_opens_the_people_list(dash: Dash) -> None:
    response = await dash.login()
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/people"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/dashboard" in cookie
    people = await dash.get("/dashboard/people")
    assert people.status_code == 200
    assert "משה" in people.text
    assert DEMO_USER in people.text


async def test_wrong_password_is_refused_with_one_message(dash: Dash) -> None:
    bad = await dash.login(password="wrong-password")
    assert bad.status_code == 401
    assert "שם המשתמש או הסיסמה שגויים." in bad.text
    unknown = await dash.login(username="nobody", password="wrong-password")
    assert unknown.status_code == 401
    assert "שם המשתמש או הסיסמה שגויים." in unknown.text
    assert (await dash.client.get("/dashboard/people")).status_code == 303


async def test_repeated_failures_lock_the_account_even_for_the_right_password(dash: Dash) -> None:
    for _ in range(MAX_FAILURES_PER_USERNAME - 1):
        assert (await dash.login(password="wrong-password")).status_code == 401
    locked = await dash.login(password="wrong-password")
    assert locked.status_code == 429
    assert "הכניסה נחסמה" in locked.text
    assert "15 דקות" in locked.text
    still = await dash.login()
    assert still.status_code == 429, "the right password does not open a locked account"
    other = await dash.caregiver("dana")
    assert other
    assert (await dash.login("dana", "another-password")).status_code == 303, "the lock is per username"


async def test_posts_without_the_csrf_token_are_refused(dash: Dash) -> None:
    await dash.get("/dashboard/login")
    no_token = await dash.client.post(
        "/dashboard/login", data={"username": "tiferet", "password": "demo-password"}
    )
    assert no_token.status_code == 403
    assert "CSRF" in no_token.text
    await dash.login()
    wrong = await dash.post("/dashboard/logout", {"csrf": "not-the-token"})
    assert wrong.status_code == 403
    missing = await dash.client.post("/dashboard/people", data={"user_id": "user-x"})
    assert missing.status_code == 403
    assert not await dash.services.store.user_exists("user-x")
    assert (await dash.client.get("/dashboard/people")).status_code == 200, "still signed in"


async def test_logout_ends_the_session(dash: Dash) -> None:
    await dash.login()
    old_token = dash.csrf
    response = await dash.post("/dashboard/logout", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    after = await dash.client.get("/dashboard/people")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/dashboard/login?next=/dashboard/people")
    replay = await dash.client.post("/dashboard/people", data={"user_id": "user-x", "csrf": old_token})
    assert replay.status_code in (303, 403)
    assert not await dash.services.store.user_exists("user-x")


async def test_a_caregiver_sees_only_their_people(dash: Dash) -> None:
    await dash.caregiver("dana")
    await dash.login("dana", "another-password")
    people = await dash.get("/dashboard/people")
    assert DEMO_USER not in people.text
    for path in ("", "/wizard", "/wizard/3", "/instructions", "/alerts", "/saved"):
        page = await dash.client.get(f"/dashboard/people/{DEMO_USER}{path}")
        assert page.status_code == 404, path
        assert "לא נמצא" in page.text
    missing = await dash.client.get("/dashboard/people/user-nobody")
    assert missing.status_code == 404
    assert missing.text.replace("user-nobody", DEMO_USER) == page.text.replace("/saved", "")
    post = await dash.post(f"/dashboard/people/{DEMO_USER}/wizard/9", {"action": "next"})
    assert post.status_code == 404


async def test_a_new_person_is_assigned_to_the_caregiver_who_adds_it(dash: Dash) -> None:
    await dash.login()
    bad = await dash.post("/dashboard/people", {"user_id": "no spaces"})
    assert bad.status_code == 422
    assert "מזהה לא תקין" in bad.text
    created = await dash.post("/dashboard/people", {"user_id": "user-rivka-002"})
    assert created.status_code == 303
    assert created.headers["location"] == "/dashboard/people/user-rivka-002/wizard"
    assert "user-rivka-002" in (await dash.get("/dashboard/people")).text
    taken = await dash.post("/dashboard/people", {"user_id": "user-rivka-002"})
    assert taken.status_code == 409


async def test_the_english_switch(dash: Dash) -> None:
    switch = await dash.client.get("/dashboard/lang/en", params={"next": "/dashboard/login"})
    assert switch.status_code == 303
    assert switch.headers["location"] == "/dashboard/login"
    page = await dash.get("/dashboard/login")
    assert '<html lang="en" dir="ltr">' in page.text
    assert "Caregiver sign-in" in page.text
    assert "Wrong username or password." in (await dash.login(password="nope-nope")).text
    assert (await dash.client.get("/dashboard/lang/en", params={"next": "https://evil.example/"})).headers[
        "location"
    ] == "/dashboard/people", "no open redirect"
    await dash.client.get("/dashboard/lang/he")
    assert '<html lang="he" dir="rtl">' in (await dash.get("/dashboard/login")).text


async def test_an_admin_signs_in_with_a_token_and_manages_caregivers(dash: Dash) -> None:
    await dash.get("/dashboard/login")
    refused = await dash.post("/dashboard/login/admin", {"token": dash.creds.caregiver_token})
    assert refused.status_code == 401
    assert "אסימון מנהל תקף" in refused.text
    response = await dash.post("/dashboard/login/admin", {"token": ADMIN})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/admin"
    admin = await dash.get("/dashboard/admin")
    assert admin.status_code == 200
    assert "tiferet" in admin.text
    short = await dash.post(
        "/dashboard/admin/caregivers", {"name": "דנה", "username": "dana", "password": "x"}
    )
    assert short.status_code == 422
    assert "8 עד 256" in short.text
    created = await dash.post(
        "/dashboard/admin/caregivers",
        {"name": "דנה", "username": "dana", "password": "long-enough-1", "user_id": DEMO_USER},
    )
    assert created.status_code == 303
    dana = await dash.services.store.find_caregiver_by_username("dana")
    assert dana is not None
    assert await dash.services.store.is_assigned(dana.id, DEMO_USER)
    assert "argon2" in dana.password_hash
    await dash.post("/dashboard/admin/unassign", {"caregiver_id": dana.id, "user_id": DEMO_USER})
    assert not await dash.services.store.is_assigned(dana.id, DEMO_USER)
    await dash.post("/dashboard/admin/assign", {"caregiver_id": dana.id, "user_id": DEMO_USER})
    assert await dash.services.store.is_assigned(dana.id, DEMO_USER)
    taken = await dash.post(
        "/dashboard/admin/caregivers", {"name": "x", "username": "dana", "password": "long-enough-1"}
    )
    assert taken.status_code == 409


async def test_the_admin_page_is_for_admins_only(dash: Dash) -> None:
    await dash.login()
    page = await dash.client.get("/dashboard/admin")
    assert page.status_code == 403
    assert "למנהלים בלבד" in page.text
    post = await dash.post("/dashboard/admin/assign", {"caregiver_id": "x", "user_id": DEMO_USER})
    assert post.status_code == 403


async def test_the_session_rows_fragment_wants_a_session(dash: Dash) -> None:
    rows = await dash.client.get("/dashboard/sessions/rows", headers={"x-dashboard-fetch": "1"})
    assert rows.status_code == 401
    await dash.login()
    rows = await dash.client.get("/dashboard/sessions/rows", headers={"x-dashboard-fetch": "1"})
    assert rows.status_code == 200
    assert "אין שיחות פעילות כרגע." in rows.text


async def test_a_notice_left_by_another_page_does_not_break_the_next_one(dash: Dash) -> None:
    """A wizard step's report (no message of its own) is left for the step it redirects to; a caregiver
    who goes elsewhere instead still gets that page, not a 500."""
    await dash.login()
    for path in ("/dashboard/sessions", "/dashboard/people", f"/dashboard/people/{DEMO_USER}/alerts"):
        saved = await dash.step(1, action="submit")  # saved: its report waits for the "saved" page
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"].endswith("/saved")
        page = await dash.get(path)  # ...but the caregiver went here instead
        assert page.status_code == 200, (path, page.text[:300])
