"""A Cosmos DB SQL API server of one's own (``@vercel/cosmosdb-server`` from ``tools/cosmosdb``, run by
node) on a free loopback port, in memory, and seeding it through the official ``azure-cosmos`` SDK: for
the import's tests and its bench. It serves HTTPS with its own certificate (the SDK does not verify
``127.0.0.1``) and accepts any key, though the SDK wants one in base64 (``KEY``)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

from bench.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVER: Final = (
    ROOT / "tools" / "cosmosdb" / "node_modules" / "@vercel" / "cosmosdb-server" / "lib" / "cli.js"
)
KEY: Final = "dGVzdC1rZXk="  # base64 of "test-key"
SEED_PARALLEL: Final = 64  # upserts in flight while seeding (the server has no batches)


class CosmosServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @staticmethod
    def missing() -> str | None:
        """Why the server cannot run here, or None."""
        if shutil.which("node") is None:
            return "node is not installed"
        if not SERVER.is_file():
            return "tools/cosmosdb is not installed (scripts/setup, or npm ci there)"
        return None

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        self.process = subprocess.Popen(
            [node, str(SERVER), "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "Ready to accept HTTPS connections at 127.0.0.1:PORT"
        if "Ready" not in line:
            self.stop()
            raise RuntimeError(f"the Cosmos DB server did not start: {line.strip()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


async def seed(endpoint: str, database: str, containers: dict[str, list[dict[str, Any]]]) -> None:
    """Create the database and its containers (partition key ``/userId``, as the seed system's) and
    upsert every document, a bounded number at a time."""
    from azure.cosmos import PartitionKey
    from azure.cosmos.aio import CosmosClient

    gate = asyncio.Semaphore(SEED_PARALLEL)
    async with CosmosClient(endpoint, credential=KEY) as client:
        db = await client.create_database_if_not_exists(database)
        for name, docs in containers.items():
            container = await db.create_container_if_not_exists(name, partition_key=PartitionKey("/userId"))

            async def put(doc: dict[str, Any], target: Any = container) -> None:
                async with gate:
                    await target.upsert_item(doc)

            await asyncio.gather(*(put(doc) for doc in docs))
