"""Signing in and out and the language switch (the admin page lives in ``admin_routes``).

Caregivers sign in with their username and password (argon2, checked by ``AuthService``). An admin
signs in by pasting a valid admin bearer token into the login page's second form; the dashboard
session then acts with the admin's rights until logout. Both forms share the lock-out, which
is global when the instances share Redis.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Response

from companion.auth import Principal, Role
from companion.auth.throttle import client_address
from companion.dashboard.i18n import LANGUAGES
from companion.dashboard.web import (
    LANG_COOKIE,
    LANG_COOKIE_AGE_S,
    PREFIX,
    AnonPostDep,
    DashboardRoute,
    Page,
    PageDep,
    PostDep,
    safe_next,
)
from companion.dashboard.websessions import MAX_FAILURES_PER_CLIENT, MAX_FAILURES_PER_USERNAME
from companion.errors import CompanionError

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)


def _client(page: Page) -> str:
    return "ip:" + client_address(page.request)


def _login(page: Page, status: int = 200, **context: Any) -> Response:
    values: dict[str, Any] = {"error": None, "admin_error": None, "username": "", "next": PREFIX + "/people"}
    values.update(context)
    return page.render("login.html", status=status, **values)


def _locked(page: Page, seconds: float, **context: Any) -> Response:
    message = page.t("login.locked", minutes=max(1, math.ceil(seconds / 60)))
    return _login(page, 429, **{"error": message, **context})


@router.get("")
async def home(page: PageDep) -> Response:
    if page.session is not None and page.session.signed_in:
        return page.redirect(PREFIX + "/people")
    return page.redirect(PREFIX + "/login")


@router.get("/login")
async def login_form(page: PageDep, next: str | None = None) -> Response:
    if page.session is not None and page.session.signed_in:
        return page.redirect(safe_next(next))
    return _login(page, next=safe_next(next))


@router.post("/login")
async def login(page: AnonPostDep) -> Response:
    """The attempt is counted before the password is checked (and forgiven if it is right), so
    parallel guesses, on this instance or any other, cannot all pass the lock."""
    username = page.field("username")
    raw_password = page.form.get("password")
    password = raw_password if isinstance(raw_password, str) else ""
    target = safe_next(page.field("next"))
    throttle = page.state.throttle
    user_key, client_key = "user:" + username.lower(), _client(page)
    if not username or not password:
        locked = await throttle.locked_for(user_key, client_key)
        if locked:
            return _locked(page, locked, username=username, next=target)
        return _login(page, 422, error=page.t("login.missing"), username=username, next=target)
    limits = {user_key: MAX_FAILURES_PER_USERNAME, client_key: MAX_FAILURES_PER_CLIENT}
    attempt = await throttle.reserve(limits)
    if attempt.locked_for:
        return _locked(page, attempt.locked_for, username=username, next=target)
    record = await page.services.auth.verify_caregiver(username, password)
    if record is None:
        if attempt.locked_now:
            return _locked(page, await throttle.locked_for(user_key, client_key), username=username)
        return _login(page, 401, error=page.t("login.bad"), username=username, next=target)
    await throttle.forgive(attempt)
    await throttle.succeed(user_key)
    principal = Principal(role=Role.CAREGIVER, token_id="dashboard-" + record.id, caregiver_id=record.id)
    page.sign_in(principal, record.name)
    return page.redirect(target)


@router.post("/login/admin")
async def login_admin(page: AnonPostDep) -> Response:
    token = page.field("token")
    throttle = page.state.throttle
    client_key = _client(page)
    attempt = await throttle.reserve({client_key: MAX_FAILURES_PER_CLIENT})
    if attempt.locked_for:
        minutes = max(1, math.ceil(attempt.locked_for / 60))
        return _login(page, 429, admin_error=page.t("login.locked", minutes=minutes))
    try:
        principal = await page.services.auth.authenticate(token)
    except CompanionError:
        principal = None
    if principal is None or principal.role is not Role.ADMIN:
        if attempt.locked_now:
            return _locked(page, await throttle.locked_for(client_key))
        return _login(page, 401, admin_error=page.t("login.bad_token"))
    await throttle.forgive(attempt)
    await throttle.succeed(client_key)
    page.sign_in(principal, page.t("admin.name"))
    return page.redirect(PREFIX + "/admin")


@router.post("/logout")
async def logout(page: PostDep) -> Response:
    page.sign_out()
    return page.redirect(PREFIX + "/login")


@router.get("/lang/{code}")
async def switch_language(page: PageDep, code: str, next: str | None = None) -> Response:
    """A preference cookie only: following a link here changes nothing stored, so no CSRF token."""
    response = page.redirect(safe_next(next))
    if code in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, code, max_age=LANG_COOKIE_AGE_S, path=PREFIX, samesite="lax", httponly=True
        )
    return response
