"""Fixtures for the offline engine's tests: an engine factory and a loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from lm_helpers import Clock

from companion.localmodel import EngineSession, LocalModelServer


@pytest.fixture
def make_engine() -> Callable[..., EngineSession]:
    def make(**kwargs: Any) -> EngineSession:
        kwargs.setdefault("clock", Clock())
        engine = EngineSession(**kwargs)
        engine.start()
        return engine

    return make


@pytest.fixture
async def server() -> AsyncIterator[LocalModelServer]:
    async with LocalModelServer() as srv:
        yield srv
