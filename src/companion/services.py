"""The parts of a running service, built once by ``build_services`` and handed to routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from companion.auth import AuthService
from companion.care.alerts import AlertService
from companion.events import EventBus
from companion.profiles.service import ProfileService
from companion.prompt import Instructions, build
from companion.realtime.endings import Ending
from companion.realtime.manager import SessionManager, SessionMatch
from companion.realtime.metrics import Metrics
from companion.settings import Settings
from companion.store import SqlStore

if TYPE_CHECKING:  # the elder and care packages import this module
    import httpx
    from redis.asyncio import Redis

    from companion.auth.devices import DeviceService
    from companion.care.loop import CareLoop
    from companion.care.reminders import ReminderService
    from companion.cluster.directory import SessionDirectory
    from companion.cluster.node import ClusterNode
    from companion.music import MusicLibrary
    from companion.realtime.upstream import WebSocketConnector


@dataclass(slots=True)
class Services:
    settings: Settings
    store: SqlStore
    bus: EventBus
    auth: AuthService
    profiles: ProfileService
    alerts: AlertService
    sessions: SessionManager
    metrics: Metrics
    devices: DeviceService  # paired tablets: pairing codes, device cookies, client secrets
    directory: SessionDirectory  # every live session, on this instance or another
    local_engine: Any = None  # the in-process offline model, when the upstream is "local"
    music: MusicLibrary | None = None  # scanned once at start; None without COMPANION_MUSIC_DIR
    reminders: ReminderService | None = None  # medication and check-in reminders
    care: CareLoop | None = None  # delivers alerts, escalates them, brings reminders due
    http: httpx.AsyncClient | None = None  # shared outgoing HTTP (the alert webhook)
    upstream: WebSocketConnector | None = None  # the one realtime model connector; closes its credential
    cluster: ClusterNode | None = None  # this instance's membership of the cluster (registry, commands, log)

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

    async def instructions(self, user_id: str) -> Instructions:
        return build(await self.profiles.context(user_id), budget_tokens=self.settings.token_budget)

    async def close(self) -> None:
        if self.care is not None:
            await self.care.stop()
        if self.reminders is not None:
            await self.reminders.close()  # reminders waiting for a quiet moment in a conversation
        if self.cluster is not None:
            await self.cluster.stop()  # leaves the registry: its conversations leave every list at once
        await self.sessions.close_all()
        if self.upstream is not None:
            await self.upstream.aclose()  # the shared Entra ID credential, if any
        await self.bus.close()
        if self.local_engine is not None:
            await self.local_engine.close()
        if self.http is not None:
            await self.http.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.store.close()
