"""Fixtures of the import's tests: the seed system's example people as an export folder and in a real
Cosmos DB SQL API server, and the service (on SQLite and PostgreSQL) they are imported into.

The Cosmos DB server is ``@vercel/cosmosdb-server`` from npm (``tools/cosmosdb``, installed by
``scripts/setup``), one per test session on a free loopback port, in memory; each test seeds a database
of its own through the same ``azure-cosmos`` SDK the import reads with. What differs from Azure, and how
the tests live with it (the product itself needs no workaround: it only queries, always with
``c.userId = @userId`` in the query when it reads one person):

- HTTPS with the package's own self-signed certificate: the SDK does not verify certificates of
  ``127.0.0.1``, so nothing is configured;
- any key is accepted, but the SDK needs one that is base64: ``KEY`` below;
- a missing document's read answers 500 instead of 404, and transactional batches answer 500: the
  fixture never reads single documents and seeds one ``upsert_item`` at a time;
- it ignores ``partition_key`` when filtering a query (the import names the person in the query);
- it starts empty and keeps everything in memory: each test creates its own database (a random name,
  handed to the import with ``--database``), so tests never see each other's documents.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("importers.checks")

from api.conftest import Api, any_api  # noqa: E402,F401 (the app on SQLite and on PostgreSQL)
from bench.cosmos_server import CosmosServer, seed  # noqa: E402
from companion.events import RefreshCounts  # noqa: E402
from importers import seed_data  # noqa: E402
from services import require_service  # noqa: E402


class Published:
    """The change events the import publishes, passed on to the service's bus."""

    def __init__(self, api: Api) -> None:
        self.events: list[Any] = []
        self._api = api

    async def __call__(self, event: Any) -> RefreshCounts:
        self.events.append(event)
        return await self._api.services.bus.publish(event)


def write_export(
    folder: Path, containers: dict[str, list[dict[str, Any]]], *, lines: tuple[str, ...] = ()
) -> Path:
    """One file per container: a JSON array, or JSON Lines for the containers named in ``lines``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, docs in containers.items():
        if name in lines:
            (folder / f"{name}.jsonl").write_text(
                "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
            )
        else:
            (folder / f"{name}.json").write_text(json.dumps(docs, ensure_ascii=False, indent=1))
    return folder


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return write_export(tmp_path / "export", seed_data.containers(), lines=("memories", "reminders"))


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[str]:
    """A Cosmos DB SQL API server on loopback for the whole session."""
    missing = CosmosServer.missing()
    if missing is not None:
        require_service("Cosmos DB server", missing)
    server = CosmosServer()
    try:
        server.start()
    except RuntimeError as exc:
        require_service("Cosmos DB server", str(exc))
    try:
        yield server.endpoint
    finally:
        server.stop()


async def seed_cosmos(endpoint: str, database: str, containers: dict[str, list[dict[str, Any]]]) -> None:
    """Create the database and its containers and upsert every document, one call each (the server
    has no batches)."""
    await seed(endpoint, database, containers)


@pytest.fixture
async def cosmos_db(cosmos_endpoint: str) -> str:
    """A database of this test's own, seeded with the example people; its name."""
    name = f"never-alone-{secrets.token_hex(4)}"
    await seed_cosmos(cosmos_endpoint, name, seed_data.containers())
    return name


@pytest.fixture
def service(any_api: Api) -> Api:  # noqa: F811 (the fixture imported above, by name)
    """The service the import writes into: the API's app on SQLite and on PostgreSQL."""
    return any_api
