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
