"""A start that fails halfway closes what it had opened: ``build_services`` and the app's lifespan put
everything on one exit stack as it opens (the store, the HTTP client, the offline engine, the
background loops), so a failing step unwinds the earlier ones instead of leaking them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

import companion.app as app_module
from companion.app import build_services, create_app
from companion.services import Services
from companion.settings import Settings
from companion.store import SqlStore


class Opened:
    """What the start opened, watched from outside: the store (its close is recorded) and the HTTP client."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.closed: list[str] = []
        self.store: SqlStore | None = None
        self.http: httpx.AsyncClient | None = None
        open_store, channels_from_settings = app_module.open_store, app_module.channels_from_settings

        def watched_store(url: str) -> SqlStore:
            store = open_store(url)
            close = store.close

            async def record_close() -> None:
                self.closed.append("store")
                await close()

            store.close = record_close  # type: ignore[method-assign]
            self.store = store
            return store

        def watched_channels(settings: Settings, http: httpx.AsyncClient) -> Any:
            self.http = http
            return channels_from_settings(settings, http)

        monkeypatch.setattr(app_module, "open_store", watched_store)
        monkeypatch.setattr(app_module, "channels_from_settings", watched_channels)


async def test_a_build_step_that_fails_closes_the_store_and_the_http_client_opened_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = Opened(monkeypatch)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the reminders could not be built")

    monkeypatch.setattr(app_module, "ReminderService", broken)
    with pytest.raises(RuntimeError, match="reminders could not be built"):
        await build_services(Settings(data_dir=tmp_path))
    assert opened.closed == ["store"]
    assert opened.http is not None and opened.http.is_closed


async def test_a_lifespan_that_fails_after_the_loops_started_stops_them_and_closes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = Opened(monkeypatch)
    seen: list[Services] = []
    loops: list[asyncio.Task[None]] = []

    async def failing_hook(services: Services) -> None:
        seen.append(services)
        assert services.care is not None
        loops.extend(services.care._tasks.values())  # the running steps
        raise RuntimeError("the demo could not be seeded")

    app = create_app(Settings(data_dir=tmp_path), on_ready=failing_hook)
    with pytest.raises(RuntimeError, match="demo could not be seeded"):
        async with app.router.lifespan_context(app):
            pytest.fail("the app must not start")
    [services] = seen
    assert loops and all(task.done() for task in loops)  # stopped, not left running
    assert services.care is not None and not services.care._tasks
    assert services.local_engine is not None  # the offline engine was started, and is stopped again:
    with pytest.raises(RuntimeError, match="before"):
        _ = services.local_engine.url
    assert opened.closed == ["store"]
    assert opened.http is not None and opened.http.is_closed


async def test_services_close_what_they_opened_in_reverse_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = Opened(monkeypatch)
    async with await build_services(Settings(data_dir=tmp_path)) as services:
        await services.start()
        assert services.care is not None and services.care._tasks
        assert opened.http is not None and not opened.http.is_closed
    assert not services.care._tasks
    assert opened.closed == ["store"] and opened.http.is_closed
