"""The parts of a running service, built once by ``app.build_services`` and handed to routes.

Everything the build opened is on one ``AsyncExitStack`` (``resources``), in the order it was opened;
``start()`` puts the background loops it starts on the same stack, and ``close()`` (or leaving
``async with services``) unwinds it in reverse: the loops first, the store last."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from companion.auth import AuthService
from companion.care.alerts import AlertService
from companion.conversations.digests import DigestService
from companion.conversations.family import FamilyView
from companion.conversations.service import ConversationService
from companion.events import EventBus
from companion.profiles.service import ProfileService
from companion.prompt import Instructions, build
from companion.prompt.draft import forget_cached_text as forget_prompt_text
from companion.realtime.endings import Ending
from companion.realtime.manager import SessionManager, SessionMatch
from companion.realtime.metrics import Metrics
from companion.realtime.protocol import forget_cached_text as forget_encoded_instructions
from companion.settings import Settings
from companion.store import SqlStore

if TYPE_CHECKING:
    import httpx
    from redis.asyncio import Redis

    from companion.auth.devices import DeviceService
    from companion.care.loop import CareLoop
    from companion.care.reminders import ReminderService
    from companion.cluster.directory import SessionDirectory
    from companion.cluster.node import ClusterNode
    from companion.music import MusicLibrary
    from companion.photos.service import PhotoService
    from companion.realtime.upstream import WebSocketConnector


@dataclass(slots=True)
class Services:
    settings: Settings
    store: SqlStore
    bus: EventBus
    auth: AuthService
    profiles: ProfileService
    conversations: ConversationService
    family: FamilyView  # the person's today, history and export
    digests: DigestService  # contacts' digest e-mails and their unsubscribe links
    alerts: AlertService
    sessions: SessionManager
    metrics: Metrics
    devices: DeviceService  # paired tablets: pairing codes, device cookies, client secrets
    directory: SessionDirectory  # every live session, on this instance or another
    local_engine: Any = None  # the in-process offline model, when the upstream is "local"
    music: MusicLibrary | None = None  # scanned once at start; None without COMPANION_MUSIC_DIR
    photos: PhotoService | None = None  # the family's photo library (always built by app.build_services)
    reminders: ReminderService | None = None  # medication and check-in reminders
    care: CareLoop | None = None  # delivers alerts, escalates them, brings reminders due
    http: httpx.AsyncClient | None = None  # shared outgoing HTTP (the alert webhook)
    upstream: WebSocketConnector | None = None  # the one realtime model connector; closes its credential
    cluster: ClusterNode | None = None  # this instance's membership of the cluster (registry, commands, log)
    # Copies of a person's data held outside the store (the dashboard's sign-in sessions and wizard
    # drafts): each is told of an erasure by ``forget_person``. Handed over by the composition root,
    # from parts the services may not import.
    erasure_hooks: list[Callable[[str], Awaitable[object]]] = field(default_factory=list)
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)  # closes what the build opened

    @property
    def redis(self) -> Redis | None:
        """The cluster's Redis client (COMPANION_REDIS_URL), shared by every cluster part; else None."""
        return self.cluster.redis if self.cluster is not None else None

    async def end_sessions(
        self,
        ending: Ending,
        *,
        user_id: str | None = None,
        device_id: str | None = None,
        device_key: str | None = None,
    ) -> int:
        """End every live conversation of a person, a tablet, or a device key (a tablet's id, or
        ``auth.principal.token_device_key(id)`` for a device token), on every instance; how many ended.
        Erasure and revocation call this."""
        return await self.directory.close_matching(ending, SessionMatch(user_id, device_id, device_key))

    async def forget_person(self, user_id: str) -> None:
        """After an erasure: every copy of the person's data this process (or the shared Redis) holds
        outside the store goes too, so a person re-created with the same id starts from nothing. Other
        instances empty their caches when told to end the person's conversations (``forget_cached``)."""
        self.forget_cached(user_id)
        for hook in self.erasure_hooks:
            await hook(user_id)

    def forget_cached(self, user_id: str) -> None:
        """This process's caches of the person. The prompt caches are keyed by text, not by person, so
        they are emptied whole (an erasure is rare)."""
        if self.reminders is not None:
            self.reminders.forget(user_id)
        self.sessions.forget_person(user_id)
        forget_prompt_text()
        forget_encoded_instructions()

    async def instructions(self, user_id: str) -> Instructions:
        """What a conversation opened now would be told (with what it recalls of the last ones)."""
        context = await self.conversations.recall(await self.profiles.context(user_id))
        return build(context, budget_tokens=self.settings.token_budget)

    async def start(self) -> None:
        """Start the background loops (the cluster's, then the care loop); each is stopped first on close."""
        if self.cluster is not None:
            self.resources.push_async_callback(self.cluster.stop)
            await self.cluster.start()
        if self.care is not None:
            self.resources.push_async_callback(self.care.stop)
            self.care.start()

    async def close(self) -> None:
        await self.resources.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
