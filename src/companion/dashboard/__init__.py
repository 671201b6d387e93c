"""The caregiver dashboard: server-rendered pages under ``/dashboard``, Hebrew (RTL) by default.

``install(app)`` adds the routes, the static files and the per-app sign-in state (in memory, or in
Redis in cluster mode: chosen at the first request, once the services exist); the pages only use
the services (profiles, auth, sessions, alerts), never the store's documents directly.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from companion.api.routing import add_routes
from companion.dashboard import (
    account,
    admin_routes,
    alerts_routes,
    conversations_routes,
    devices,
    live,
    pages,
    photos_routes,
    reminders_routes,
    wizard_routes,
)
from companion.dashboard.web import PREFIX
from companion.dashboard.websessions import DashboardState

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.state.dashboard = DashboardState()
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    modules = (
        account,
        admin_routes,
        alerts_routes,
        reminders_routes,
        conversations_routes,
        pages,
        devices,
        wizard_routes,
        photos_routes,
        live,
    )
    add_routes(app, *(module.router for module in modules))


__all__ = ["install"]
