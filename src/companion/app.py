"""``create_app(settings)``: the only place that knows every part and wires them together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from companion import __version__, dashboard, elder
from companion.api import admin, alerts, conversations, devices, errors, health, live, photos, sessions, users
from companion.api.headers import install_headers
from companion.api.limits import install_limits
from companion.api.openapi import describe
from companion.api.paths import PHOTOS
from companion.api.routing import add_routes
from companion.auth import AuthService
from companion.auth.devices import DeviceService
from companion.care.alerting import AlertConfig
from companion.care.alerts import AlertService
from companion.care.channels import channels_from_settings
from companion.care.delivery import DeliveryWorker
from companion.care.escalation import EscalationService
from companion.care.loop import CareLoop, NamedStep
from companion.care.reminders import ReminderService
from companion.clock import Clock, utcnow
from companion.cluster.bus import ClusterBus
from companion.cluster.commands import CommandBus
from companion.cluster.directory import SessionDirectory
from companion.cluster.follower import ChangeFollower
from companion.cluster.identity import instance_id, redis_client
from companion.cluster.node import ClusterNode
from companion.cluster.registry import Registry
from companion.conversations.digests import DigestService
from companion.conversations.family import FamilyView
from companion.conversations.service import ConversationService
from companion.dashboard import ack_routes, digest_routes
from companion.dashboard.session_store import RedisSessions
from companion.edge import public_base_url
from companion.events import EventBus, InProcessBus, RefreshCounts, SayOutcome
from companion.music import load_library
from companion.photos.service import PhotoLimits, PhotoService
from companion.profiles.models import CareContext
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
from companion.tls import client_tls

log = logging.getLogger(__name__)
ReadyHook = Callable[[Services], Awaitable[None]]
ErasureHook = Callable[[str], Awaitable[object]]


async def build_services(
    settings: Settings,
    *,
    bus: EventBus | None = None,
    live: bool = False,
    clock: Clock = utcnow,
    erasure_hooks: Sequence[ErasureHook] = (),
) -> Services:
    """Open the store (migrating it) and build every service; ``live`` also starts the offline engine
    and reads the music library. ``clock`` is the reminders' and the alerts' (tests move it through a
    day). Whatever is opened goes on one exit stack as it opens: a step that fails closes the earlier
    ones, and the stack that succeeds is the services' own (``Services.close`` unwinds it).
    ``erasure_hooks`` are told of each erasure (copies of a person's data the web side holds)."""
    # Built once, before anything opens: bad upstream settings stop the start (local waits for its engine).
    upstream = None if settings.upstream == "local" else connector_from_settings(settings)
    async with AsyncExitStack() as stack:
        if upstream is not None:
            stack.push_async_callback(upstream.aclose)  # the shared Entra ID credential, if any
        store = open_store(settings.effective_database_url)
        stack.push_async_callback(store.close)
        await store.migrate()
        redis = redis_client(settings.redis_url) if settings.redis_url else None
        if redis is not None:
            stack.push_async_callback(redis.aclose)
        http = httpx.AsyncClient(verify=client_tls())  # the alert webhook's client
        stack.push_async_callback(http.aclose)
        channels = channels_from_settings(settings, http)  # half-configured channels refuse to start here
        local_engine = None
        local_url: str | None = None
        if live and settings.upstream == "local" and not settings.upstream_url:
            from companion.localmodel.server import LocalModelServer

            local_engine = LocalModelServer(
                max_session_s=settings.local_max_session_s, chat_url=settings.local_chat_url
            )
            stack.push_async_callback(local_engine.close)
            await local_engine.start("127.0.0.1", 0)
            local_url = local_engine.url
        connector = upstream or connector_from_settings(settings, local_url=local_url)
        if upstream is None:
            stack.push_async_callback(connector.aclose)
        music = await load_library(settings.music_dir) if live else None

        # The directory is built after the parts that reach it (the cluster's event bus, the reminders'
        # spoken notes), which therefore call it through these two closures once the start is over.
        async def remote_counts(user_id: str) -> RefreshCounts:
            return await directory.remote_counts(user_id)

        async def say(user_id: str, note: str, reminder_id: str) -> SayOutcome:
            return await directory.say_when_quiet(user_id, note)

        def person_erased(user_id: str) -> None:  # an erasure made on another instance
            services.forget_cached(user_id)

        cluster_bus = ClusterBus(remote_counts) if redis is not None and bus is None else None
        bus = bus or cluster_bus or InProcessBus()
        stack.push_async_callback(bus.close)
        profiles = ProfileService(store, bus)
        alert_service = AlertService(
            store, profiles.context, AlertConfig.from_settings(settings, channels), clock=clock
        )

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
        photo_library = PhotoService(
            store, bus, photo_limits(settings), clock=clock, image_url=lambda photo_id: f"{PHOTOS}/{photo_id}"
        )
        metrics = Metrics()
        conversations = ConversationService(store, profiles.context, clock=clock)
        stack.push_async_callback(conversations.drain)  # after the conversations end: their last writes

        async def session_context(user_id: str) -> CareContext:  # a conversation recalls the last ones
            return await conversations.recall(await profiles.context(user_id))

        manager = SessionManager(
            connector=lambda: connector,  # one connector (and one Entra credential) for every conversation
            load_context=session_context,
            open_log=conversations.open_log,
            build=partial(build, budget_tokens=settings.token_budget),
            tools_for=tools_for,
            tool_runtime=ToolRuntime(profiles, alert_service, reminders, photo_library),
            greeting_notes=reminders,  # a conversation opened from a reminder's card greets with it
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
        stack.push_async_callback(manager.close_all)
        stack.push_async_callback(reminders.close)  # reminders waiting for a quiet moment in a conversation
        bus.subscribe(manager.on_profile_changed)
        bus.subscribe(reminders.on_profile_changed)
        bus.subscribe(conversations.on_profile_changed)  # a narrower choice removes at once
        node, directory = _cluster(settings, store, manager, redis, person_erased)
        delivery = DeliveryWorker(store, channels, max_attempts=settings.delivery_max_attempts)
        escalation = EscalationService(alert_service)

        async def open_alerts(user_id: str) -> int:
            return sum(1 for a in await alert_service.list(user_id) if a.open)

        digests = DigestService(  # only with an e-mail channel to send them through
            store,
            profiles,
            open_alerts,
            public_url=public_base_url(settings),
            clock=clock,
            enabled="email" in channels,
        )
        care = CareLoop(
            [
                NamedStep("delivery", lambda now: delivery.run_once()),
                NamedStep("escalation", escalation.tick),
                *([NamedStep("reminders", reminders.tick)] if settings.reminders else []),
                NamedStep("conversations", conversations.flush),  # live records, every second
                NamedStep("retention", conversations.prune),  # once a day
                NamedStep("digests", digests.tick),  # contacts' digest e-mails, looked at once a minute
            ]
        )
        admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
        services = Services(
            cluster=node,
            directory=directory,
            settings=settings,
            store=store,
            bus=bus,
            auth=AuthService(store, admin_token=admin_token, devices=store),
            profiles=profiles,
            conversations=conversations,
            family=FamilyView(
                store, profiles, alert_service, conversations, clock=clock, photos=photo_library.export
            ),
            digests=digests,
            alerts=alert_service,
            sessions=manager,
            metrics=metrics,
            devices=DeviceService(store, directory, redis=redis),
            local_engine=local_engine,
            music=music,
            photos=photo_library,
            upstream=connector,
            reminders=reminders,
            care=care,
            http=http,
            # the dashboard sessions of every instance, in Redis (the CLI's erasures too)
            erasure_hooks=[
                *erasure_hooks,
                *([RedisSessions(redis).forget_person] if redis is not None else []),
            ],
            resources=stack.pop_all(),
        )
        return services
    raise AssertionError("unreachable: the exit stack does not swallow exceptions")


def photo_limits(settings: Settings) -> PhotoLimits:
    return PhotoLimits(
        max_file_bytes=settings.photo_max_file_bytes,
        max_pixels=settings.photo_max_pixels,
        max_count=settings.photo_max_count,
        quota_bytes=settings.photo_quota_bytes,
        keep_originals=settings.photo_keep_originals,
        per_conversation=settings.photos_per_conversation,
    )


def _cluster(
    settings: Settings,
    store: SqlStore,
    manager: SessionManager,
    redis: Redis | None,
    person_erased: Callable[[str], None],
) -> tuple[ClusterNode | None, SessionDirectory]:
    """With COMPANION_REDIS_URL, this instance's membership of the cluster and a directory of every
    instance's conversations; without it, a directory of this instance's alone."""
    me = instance_id(settings)
    if redis is None:
        return None, SessionDirectory(manager, instance=me, refresh_timeout_s=settings.refresh_timeout_s)
    registry = Registry(redis, me, ttl_s=settings.instance_ttl_s)

    async def handle(op: str, args: dict[str, Any]) -> Any:  # the directory answers the other instances
        return await directory.handle(op, args)

    commands = CommandBus(redis, me, handle)
    directory = SessionDirectory(
        manager,
        instance=me,
        refresh_timeout_s=settings.refresh_timeout_s,
        registry=registry,
        commands=commands,
        on_person_erased=person_erased,
    )
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
        # One exit stack from the first thing opened to the last loop started: whichever step fails,
        # what was opened before it is closed (the services' stack), and so is everything on shutdown.
        # This process's dashboard sessions are told of erasures; in Redis they are purged there.
        dashboard_sessions = () if settings.redis_url else (app.state.dashboard.forget_person,)
        async with await build_services(settings, live=True, erasure_hooks=dashboard_sessions) as services:
            app.state.services = services
            await services.start()
            if on_ready is not None:
                await on_ready(services)
            log.info(
                "companion %s ready (store: %s)", __version__, (await services.store.health()).get("backend")
            )
            yield

    # The API docs are off unless asked for: they describe every route, and /docs loads scripts from a CDN.
    docs: dict[str, Any] = (
        {} if settings.api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    )
    app = FastAPI(title="Companion", version=__version__, lifespan=lifespan, **docs)
    errors.install(app)
    # before any parsing or authentication; photo uploads may be larger than any other body
    install_limits(app, body_timeout_s=settings.body_timeout_s, upload_limit=settings.photo_upload_max_bytes)
    add_routes(
        app,
        health.router,
        alerts.router,
        ack_routes.router,
        digest_routes.router,
        devices.router,  # before users: its catch-all /{user_id}/{section} would match
        conversations.router,
        photos.router,
        users.router,
        admin.router,
        sessions.router,
        live.router,
    )
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
