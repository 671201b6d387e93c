"""The admin page: caregiver accounts and their assignments to people.

Only an admin session reaches these routes (``AdminDep``/``AdminPostDep``); every change is a POST
with the dashboard's CSRF token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import ValidationError

from companion.api.admin import NewCaregiver
from companion.dashboard.web import PREFIX, AdminDep, AdminPostDep, DashboardRoute, Page
from companion.errors import AlreadyExists

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)


async def _admin_page(page: Page, status: int = 200, **context: Any) -> Response:
    store = page.services.store
    caregivers = [(c, await store.users_of(c.id)) for c in await store.list_caregivers()]
    values: dict[str, Any] = {
        "caregivers": caregivers,
        "users": await store.list_user_ids(),
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
    try:
        record = await page.services.auth.create_caregiver(
            name=data.name, username=data.username, password=data.password
        )
    except AlreadyExists:
        return await _admin_page(page, 409, errors={"username": page.t("admin.username_taken")}, values=shown)
    user_id = page.field("user_id")
    if user_id and await page.services.store.user_exists(user_id):
        await page.services.store.assign(record.id, user_id)
    page.set_flash(message=page.t("admin.created", username=record.username))
    return page.redirect(PREFIX + "/admin")


@router.post("/admin/assign")
async def admin_assign(page: AdminPostDep) -> Response:
    caregiver_id, user_id = page.field("caregiver_id"), page.field("user_id")
    store = page.services.store
    if await store.get_caregiver(caregiver_id) is None or not await store.user_exists(user_id):
        return await _admin_page(page, 422, errors={"assign": page.t("admin.assign_invalid")})
    await store.assign(caregiver_id, user_id)
    page.set_flash(message=page.t("admin.assigned"))
    return page.redirect(PREFIX + "/admin")


@router.post("/admin/unassign")
async def admin_unassign(page: AdminPostDep) -> Response:
    await page.services.store.unassign(page.field("caregiver_id"), page.field("user_id"))
    page.set_flash(message=page.t("admin.unassigned"))
    return page.redirect(PREFIX + "/admin")
