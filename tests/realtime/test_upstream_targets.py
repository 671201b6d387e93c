"""Which URL, headers and dialect each upstream setting produces (no network)."""

from __future__ import annotations

import pytest

from companion.errors import UpstreamError
from companion.realtime.upstream import azure_target, connector_from_settings, openai_target
from companion.settings import Settings


def test_openai_ga_uses_bearer_and_no_beta_header() -> None:
    target = openai_target(Settings(upstream="openai", upstream_model="gpt-realtime"), "sk-x")
    assert target.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert target.headers == {"Authorization": "Bearer sk-x"}
    assert target.dialect == "ga"
    assert not any(h.lower() == "openai-beta" for h in target.headers)


def test_azure_ga_and_preview_url_forms() -> None:
    ga = azure_target(
        Settings(upstream="azure", upstream_url="wss://res.openai.azure.com/", upstream_model="dep"), "k"
    )
    assert ga.url == "wss://res.openai.azure.com/openai/v1/realtime?model=dep"
    assert ga.headers == {"api-key": "k"} and ga.dialect == "ga"
    preview = azure_target(
        Settings(
            upstream="azure",
            upstream_url="wss://res.openai.azure.com/openai/realtime",
            upstream_model="dep",
            azure_api_version="2025-04-01-preview",
        ),
        "k",
    )
    assert (
        preview.url
        == "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=dep"
    )
    assert preview.dialect == "beta"


def test_missing_credentials_are_clear_errors() -> None:
    with pytest.raises(UpstreamError, match="COMPANION_UPSTREAM_API_KEY"):
        connector_from_settings(Settings(upstream="openai"))
    with pytest.raises(UpstreamError, match="COMPANION_UPSTREAM_URL"):
        connector_from_settings(Settings(upstream="azure", upstream_api_key="k"))


def test_local_engine_url_gets_the_model() -> None:
    connector = connector_from_settings(Settings(upstream="local"), local_url="ws://127.0.0.1:9/v1/realtime")
    assert connector.target.url == "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime"


async def test_token_provider_supplies_a_fresh_bearer_token_per_connection() -> None:
    """The Entra ID path: no api-key; each connection asks the provider for a bearer token."""
    from companion.localmodel.server import LocalModelServer
    from companion.realtime.upstream import Target, WebSocketConnector

    issued: list[str] = []

    async def provider() -> str:
        issued.append("entra-token")
        return "entra-token"

    async with LocalModelServer(api_key="entra-token") as engine:
        target = Target(url=engine.azure_url("dep"), dialect="ga")
        connector = WebSocketConnector(target, token_provider=provider)
        for _ in range(2):
            conn = await connector.connect()
            first = (await conn.recv())[0]
            assert first["type"] == "session.created"
            await conn.close()
        assert issued == ["entra-token", "entra-token"]
        wrong = WebSocketConnector(target)  # no credentials at all: the handshake is refused
        with pytest.raises(UpstreamError, match="Could not connect"):
            await wrong.connect()
