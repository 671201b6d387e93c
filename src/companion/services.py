"""The parts of a running service, built once by ``build_services`` and handed to routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from companion.auth import AuthService
from companion.events import EventBus
from companion.profiles.alerts import AlertService
from companion.profiles.service import ProfileService
from companion.prompt import Instructions, build
from companion.realtime.manager import SessionManager
from companion.realtime.metrics import Metrics
from companion.settings import Settings
from companion.store import SqlStore

if TYPE_CHECKING:  # the elder package imports this module
    from companion.elder.devices import DeviceService
    from companion.elder.music import MusicLibrary


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
    local_engine: Any = None  # the in-process offline model, when the upstream is "local"
    music: MusicLibrary | None = None  # scanned once at start; None without COMPANION_MUSIC_DIR

    async def instructions(self, user_id: str) -> Instructions:
        return build(await self.profiles.context(user_id), budget_tokens=self.settings.token_budget)

    async def close(self) -> None:
        await self.sessions.close_all()
        await self.bus.close()
        if self.local_engine is not None:
            await self.local_engine.close()
        await self.store.close()
