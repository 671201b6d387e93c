"""``add_routes(app, router)``: a module's routes go into the app as the objects declared at import.

FastAPI's ``include_router`` keeps the router aside and, on an app's first requests, builds every route
of it again for that app (its dependencies, its body and response models): about 150 ms of CPU per app
for this service's routes. The routes are the same for every app a process makes: they hold no app
(``request.app`` is the app that serves the request) and no settings. So they are built once, when
their module is imported, and every app routes to those objects.

One thing an included router has that these do not: ``app.dependency_overrides`` does not reach them.
Nothing here uses it; a test puts its own part into the services instead.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Append each router's routes to ``app``, in order (earlier routes match first)."""
    for router in routers:
        if router.on_startup or router.on_shutdown:
            raise ValueError("a router with start-up or shut-down handlers needs include_router")
        app.router.routes.extend(router.routes)


__all__ = ["add_routes"]
