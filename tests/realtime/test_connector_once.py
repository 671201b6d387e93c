"""The upstream connector is built once, when the service starts: bad upstream settings stop the start,
every conversation shares it, and an Entra ID credential is made once and closed with the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from companion.app import build_services
from companion.errors import UpstreamError
from companion.settings import Settings


async def test_openai_without_a_key_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(UpstreamError, match="COMPANION_UPSTREAM_API_KEY"):
        await build_services(Settings(data_dir=tmp_path, upstream="openai", upstream_api_key=None))


async def test_azure_without_a_url_fails_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, upstream="azure", upstream_api_key="k", upstream_url=None)
    with pytest.raises(UpstreamError, match="COMPANION_UPSTREAM_URL"):
        await build_services(settings)


async def test_conversations_share_one_connector(tmp_path: Path) -> None:
    services = await build_services(Settings(data_dir=tmp_path, upstream="openai", upstream_api_key="sk-x"))
    try:
        first = services.sessions._connector()
        assert services.sessions._connector() is first
    finally:
        await services.close()


class FakeCredential:
    made: ClassVar[list[FakeCredential]] = []

    def __init__(self, **_: Any) -> None:
        self.closed = False
        self.scopes: list[str] = []
        FakeCredential.made.append(self)

    async def get_token(self, scope: str) -> Any:
        self.scopes.append(scope)

        class Token:
            token = f"tok-{len(self.scopes)}"

        return Token()

    async def close(self) -> None:
        self.closed = True


async def test_entra_credential_is_made_once_and_closed_with_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity.aio

    FakeCredential.made = []
    monkeypatch.setattr(azure.identity.aio, "DefaultAzureCredential", FakeCredential)
    settings = Settings(
        data_dir=tmp_path, upstream="azure", upstream_api_key=None, upstream_url="wss://res.openai.azure.com"
    )
    services = await build_services(settings)
    try:
        connector: Any = services.sessions._connector()
        assert services.sessions._connector() is connector
        assert await connector._token_provider() == "tok-1"
        assert await connector._token_provider() == "tok-2"
        assert len(FakeCredential.made) == 1
        assert not FakeCredential.made[0].closed
    finally:
        await services.close()
    assert FakeCredential.made[0].closed
