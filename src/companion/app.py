"""``create_app(settings)``: the only place that knows every part and wires them together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from companion import __version__
from companion.api import admin, errors, health, users
from companion.auth import AuthService
from companion.events import EventBus, InProcessBus
from companion.profiles.service import ProfileService
from companion.services import Services
from companion.settings import Settings
from companion.store import open_store

log = logging.getLogger(__name__)


async def build_services(settings: Settings, *, bus: EventBus | None = None) -> Services:
    store = await open_store(settings.effective_database_url)
    await store.migrate()
    bus = bus or InProcessBus()
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return Services(
        settings=settings,
        store=store,
        bus=bus,
        auth=AuthService(store, admin_token=admin_token),
        profiles=ProfileService(store, bus),
    )


ReadyHook = Callable[[Services], Awaitable[None]]


def create_app(settings: Settings | None = None, *, on_ready: ReadyHook | None = None) -> FastAPI:
    """Build the app; ``on_ready`` runs once the services exist (the CLI seeds the demo with it)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        if on_ready is not None:
            await on_ready(services)
        log.info("companion %s ready (store: %s)", __version__, (await services.store.health()).get("backend"))
        try:
            yield
        finally:
            await services.bus.close()
            await services.store.close()

    app = FastAPI(title="Companion", version=__version__, lifespan=lifespan)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(users.router)
    app.include_router(admin.router)
    return app
