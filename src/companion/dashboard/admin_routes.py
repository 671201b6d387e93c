"""The admin page: caregiver accounts and their assignments to people, and the service's tokens.

Only an admin session reaches these routes (``AdminDep``/``AdminPostDep``); every change is a POST
with the dashboard's CSRF token and goes through ``AccountService``, as the API and the CLI do. The page
costs the same few queries however many caregivers and tokens there are.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Response
from pydantic import ValidationError

from companion.accounts import AccountService
from companion.api.admin import NewCaregiver
from companion.auth import Role
from companion.dashboard.web import PREFIX, AdminDep, AdminPostDep, DashboardRoute, Page
from companion.errors import AlreadyExists, CompanionError, NotFound

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

DAY_S = 24 * 3600  # the token form asks for days: nobody plans a token's life in seconds


async def _admin_page(page: Page, status: int = 200, **context: Any) -> Response:
    accounts = AccountService.of(page.services)
    values: dict[str, Any] = {
        "caregivers": await accounts.list_caregivers(page.principal),
        "users": await page.services.store.list_user_ids(),
        "tokens": await accounts.list_tokens(page.principal),
        "current_token": page.principal.token_id,
        "new_token": None,
        "errors": {},
        "values": {},
        "flash": page.session.pop_flash() if page.session else None,
    }
    values.update(context)
    return page.render("admin.html", status=status, **values)


@router.get("/admin")
async def admin_page(page: AdminDep) -> Response:
    return await _admin_page(page)


@router.post("/admin/caregivers")
async def admin_create_caregiver(page: AdminPostDep) -> Response:
    raw_password = page.form.get("password")
    body = {
        "name": page.field("name"),
        "username": page.field("username"),
        "password": raw_password if isinstance(raw_password, str) else "",
    }
    shown = {"name": body["name"], "username": body["username"]}
    try:
        data = NewCaregiver.model_validate(body)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): page.t(f"admin.invalid.{e['loc'][0]}") for e in exc.errors()}
        return await _admin_page(page, 422, errors=errors, values=shown)
    user_id = page.field("user_id")
    try:
        record = await AccountService.of(page.services).create_caregiver(
            page.principal,
            name=data.name,
            username=data.username,
            password=data.password,
            user_ids=[user_id] if user_id else [],
        )
    except AlreadyExists:
        return await _admin_page(page, 409, errors={"username": page.t("admin.username_taken")}, values=shown)
    except NotFound:  # the person was erased while the form was open
        return await _admin_page(page, 422, errors={"assign": page.t("admin.assign_invalid")}, values=shown)
    page.set_flash(message=page.t("admin.created", username=record.username))
    return page.redirect(PREFIX + "/admin")


@router.post("/admin/assign")
async def admin_assign(page: AdminPostDep) -> Response:
    try:
        await AccountService.of(page.services).assign(
            page.principal, page.field("caregiver_id"), page.field("user_id")
        )
    except NotFound:
        return await _admin_page(page, 422, errors={"assign": page.t("admin.assign_invalid")})
    page.set_flash(message=page.t("admin.assigned"))
    return page.redirect(PREFIX + "/admin")


@router.post("/admin/unassign")
async def admin_unassign(page: AdminPostDep) -> Response:
    # Already unassigned (another admin, or a second click): the page then shows how it is now.
    with contextlib.suppress(NotFound):
        await AccountService.of(page.services).unassign(
            page.principal, page.field("caregiver_id"), page.field("user_id")
        )
    page.set_flash(message=page.t("admin.unassigned"))
    return page.redirect(PREFIX + "/admin")


@router.post("/admin/caregivers/{caregiver_id}/delete")
async def admin_delete_caregiver(page: AdminPostDep, caregiver_id: str) -> Response:
    """The account, its tokens and assignments; the caregiver's dashboard sign-ins end with it."""
    await AccountService.of(page.services).erase_caregiver(page.principal, caregiver_id)
    page.set_flash(message=page.t("admin.caregiver_deleted"))
    return page.redirect(PREFIX + "/admin")


@router.post("/admin/tokens")
async def admin_create_token(page: AdminPostDep) -> Response:
    """A new token, shown on the page this once (it is stored only as a hash)."""
    days = page.field("expires_days")
    try:
        role = Role(page.field("role"))
        expires_in = int(days) * DAY_S if days else None
    except ValueError:
        return await _admin_page(page, 422, errors={"token": page.t("admin.token_invalid")})
    try:
        token, record = await AccountService.of(page.services).create_token(
            page.principal,
            role,
            user_id=page.field("user_id") or None,
            caregiver_id=page.field("caregiver_id") or None,
            label=page.field("label")[:80] or None,
            expires_in=expires_in,
        )
    except CompanionError as exc:
        return await _admin_page(page, exc.status, errors={"token": exc.message})
    return await _admin_page(page, 201, new_token={"token": token, "id": record.id})


@router.post("/admin/tokens/{token_id}/revoke")
async def admin_revoke_token(page: AdminPostDep, token_id: str) -> Response:
    """It stops working at once; a device token's live conversations end. Revoking the token this
    session signed in with signs it out."""
    await AccountService.of(page.services).revoke_token(page.principal, token_id)
    if page.principal.token_id == token_id:
        page.sign_out()
        return page.redirect(PREFIX + "/login")
    page.set_flash(message=page.t("admin.token_revoked", id=token_id))
    return page.redirect(PREFIX + "/admin")
