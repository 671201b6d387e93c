"""The parts of a running service, built once by ``create_app`` and handed to routes."""

from __future__ import annotations

from dataclasses import dataclass

from companion.auth import AuthService
from companion.events import EventBus
from companion.profiles.service import ProfileService
from companion.prompt import Instructions, build
from companion.settings import Settings
from companion.store import SqlStore


@dataclass(slots=True)
class Services:
    settings: Settings
    store: SqlStore
    bus: EventBus
    auth: AuthService
    profiles: ProfileService

    async def instructions(self, user_id: str) -> Instructions:
        return build(await self.profiles.context(user_id), budget_tokens=self.settings.token_budget)
