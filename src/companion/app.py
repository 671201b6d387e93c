"""``create_app(settings)``: the only place that knows every part and wires them together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from companion import __version__, dashboard, elder
from companion.api import admin, alerts, devices, errors, health, live, sessions, users
from companion.api.headers import install_headers
from companion.api.limits import install_limits
from companion.api.openapi import describe
from companion.auth import AuthService
from companion.care import ack_routes
from companion.care.alerting import AlertConfig
from companion.care.channels import channels_from_settings
from companion.care.delivery import DeliveryWorker
from companion.care.escalation import EscalationService
from companion.care.loop import CareLoop, NamedStep
from companion.care.reminders import ReminderService
from companion.cluster.bus import ClusterBus
from companion.cluster.commands import CommandBus
from companion.cluster.directory import SessionDirectory
from companion.cluster.follower import ChangeFollower
from companion.cluster.identity import instance_id, redis_client
from companion.cluster.node import ClusterNode
from companion.cluster.registry import Registry
from companion.dashboard.session_store import RedisSessions
from companion.elder.devices import DeviceService
from companion.elder.music import load_library
from companion.events import EventBus, InProcessBus, SayOutcome
from companion.profiles.alerts import AlertService
from companion.profiles.service import ProfileService
from companion.prompt import build
from companion.realtime.config import base_session_factory
from companion.realtime.manager import SessionLimits, SessionManager
from companion.realtime.metrics import Metrics
from companion.realtime.reconnect import default_max_session_s
from companion.realtime.session import SessionConfig
from companion.realtime.tools import ToolRuntime, tools_for
from companion.realtime.upstream import connector_from_settings
from companion.services import Services
from companion.settings import Settings
from companion.store import SqlStore, open_store
from companion.store._engine import utcnow

log = logging.getLogger(__name__)
ReadyHook = Callable[[Services], Awaitable[None]]


async def build_services(
    settings: Settings,
    *,
    bus: EventBus | None = None,
    live: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    """Open the store (migrating it) and build every service; ``live`` also starts the offline engine.
    ``clock`` is the reminders' and the alerts' (tests move it through a day)."""
    # Built once, before anything opens: bad upstream settings stop the start (local waits for its engine).
    upstream = None if settings.upstream == "local" else connector_from_settings(settings)
    store = open_store(settings.effective_database_url)
    await store.migrate()
    cluster_bus = ClusterBus() if settings.redis_url and bus is None else None
    bus = bus or cluster_bus or InProcessBus()
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    profiles = ProfileService(store, bus)
    http = httpx.AsyncClient()  # the alert webhook's client; closed with the services
    channels = channels_from_settings(settings, http)  # half-configured channels refuse to start here
    alert_service = AlertService(
        store, profiles.context, AlertConfig.from_settings(settings, channels), clock=clock
    )
    metrics = Metrics()
    local_engine = None
    local_url: str | None = None
    if live and settings.upstream == "local" and not settings.upstream_url:
        from companion.localmodel.server import LocalModelServer

        local_engine = LocalModelServer(
            max_session_s=settings.local_max_session_s, chat_url=settings.local_chat_url
        )
        await local_engine.start("127.0.0.1", 0)
        local_url = local_engine.url
    tool_runtime = ToolRuntime(profiles, alert_service)
    connector = upstream or connector_from_settings(settings, local_url=local_url)
    manager = SessionManager(
        connector=lambda: connector,  # one connector (and one Entra credential) for every conversation
        load_context=profiles.context,
        build=partial(build, budget_tokens=settings.token_budget),
        tools_for=tools_for,
        tool_runtime=tool_runtime,
        config=SessionConfig(
            refresh_timeout_s=settings.refresh_timeout_s,
            after_response=settings.refresh_timing == "after_response",
            base_session=base_session_factory(settings),
            max_session_s=settings.upstream_max_session_s or default_max_session_s(settings.upstream),
            reconnect_s=settings.upstream_reconnect_s,
        ),
        metrics=metrics,
        limits=SessionLimits(
            per_person=settings.max_sessions_per_person, per_device=settings.max_sessions_per_device
        ),
    )
    bus.subscribe(manager.on_profile_changed)
    node, directory = _cluster(settings, store, manager)
    if cluster_bus is not None:
        cluster_bus.directory = directory

    async def say(user_id: str, note: str, reminder_id: str) -> SayOutcome:
        return await directory.say_when_quiet(user_id, note)

    async def alert(user_id: str, body: dict[str, Any]) -> object:
        recorded, _ = await alert_service.record(user_id, body, session_id=None)
        return recorded

    reminders = ReminderService(
        store,
        profiles.context,
        say=say,
        alert=alert,
        clock=clock,
        ack_timeout_s=settings.reminder_ack_timeout_s,
        snooze_s=settings.reminder_snooze_s,
    )
    tool_runtime.reminders = reminders
    manager.greeting_notes = reminders  # a conversation opened from a reminder's card greets with it
    bus.subscribe(reminders.on_profile_changed)
    delivery = DeliveryWorker(store, channels, max_attempts=settings.delivery_max_attempts)
    escalation = EscalationService(alert_service)
    care = CareLoop(
        [
            NamedStep("delivery", lambda now: delivery.run_once()),
            NamedStep("escalation", escalation.tick),
            *([NamedStep("reminders", reminders.tick)] if settings.reminders else []),
        ]
    )
    services = Services(
        cluster=node,
        directory=directory,
        settings=settings,
        store=store,
        bus=bus,
        auth=AuthService(store, admin_token=admin_token, devices=store),
        profiles=profiles,
        alerts=alert_service,
        sessions=manager,
        metrics=metrics,
        devices=DeviceService(store, directory, redis=node.redis if node is not None else None),
        local_engine=local_engine,
        upstream=connector,
        reminders=reminders,
        care=care,
        http=http,
    )
    if node is not None:  # the dashboard sessions of every instance (the CLI's erasures too)
        services.erasure_hooks.append(RedisSessions(node.redis).forget_person)
    directory.on_person_erased = services.forget_cached  # an erasure made on another instance
    return services


def _cluster(
    settings: Settings, store: SqlStore, manager: SessionManager
) -> tuple[ClusterNode | None, SessionDirectory]:
    """With COMPANION_REDIS_URL, this instance's membership of the cluster and a directory of every
    instance's conversations; without it, a directory of this instance's alone."""
    me = instance_id(settings)
    if not settings.redis_url:
        return None, SessionDirectory(manager, instance=me, refresh_timeout_s=settings.refresh_timeout_s)
    redis = redis_client(settings.redis_url)
    registry = Registry(redis, me)
    directory = SessionDirectory(
        manager, instance=me, refresh_timeout_s=settings.refresh_timeout_s, registry=registry
    )
    commands = CommandBus(redis, me, directory.handle)
    directory.commands = commands
    follower = ChangeFollower(
        store,
        has_sessions=lambda user_id: bool(manager.of_user(user_id)),
        refresh=manager.refresh_user_counts,
        wall_clock=utcnow,
    )
    return ClusterNode(redis, manager, registry, commands, follower), directory


def create_app(settings: Settings | None = None, *, on_ready: ReadyHook | None = None) -> FastAPI:
    """Build the app; ``on_ready`` runs once the services exist (the CLI seeds the demo with it)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, live=True)
        app.state.services = services
        if services.redis is None:  # this process's dashboard sessions; in Redis they are purged there
            services.erasure_hooks.append(app.state.dashboard.forget_person)
        services.music = await load_library(settings.music_dir)
        if services.cluster is not None:
            await services.cluster.start()
        if services.care is not None:
            services.care.start()
        if on_ready is not None:
            await on_ready(services)
        log.info(
            "companion %s ready (store: %s)", __version__, (await services.store.health()).get("backend")
        )
        try:
            yield
        finally:
            await services.close()

    # The API docs are off unless asked for: they describe every route, and /docs loads scripts from a CDN.
    docs: dict[str, Any] = (
        {} if settings.api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    )
    app = FastAPI(title="Companion", version=__version__, lifespan=lifespan, **docs)
    errors.install(app)
    install_limits(app, body_timeout_s=settings.body_timeout_s)  # before any parsing or authentication
    app.include_router(health.router)
    app.include_router(alerts.router)
    app.include_router(ack_routes.router)
    app.include_router(devices.router)  # before users: its catch-all /{user_id}/{section} would match
    app.include_router(users.router)
    app.include_router(admin.router)
    app.include_router(sessions.router)
    app.include_router(live.router)
    dashboard.install(app)
    elder.install(app)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        services: Services = app.state.services
        await health.require_operator(services, request.headers.get("authorization", ""))
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_headers(app)  # outermost: every answer gets them, the limits' and a crash's too
    describe(app)  # the API document: every body and error status (api/openapi.py)
    return app
