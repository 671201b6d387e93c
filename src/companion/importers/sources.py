"""Where the seed system's documents come from: its Azure Cosmos DB account (the official async SDK,
a page at a time by continuation token) or an export folder (one file per container, a JSON array or
JSON Lines, as Azure's data tools write them). Both hand out plain documents, container by container.
Its photos' bytes come from a copy of its Blob container (``PhotoFolder``).

The SDK's and the files' errors become ``SourceUnavailable`` here, naming the container and never a
document's content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Final, Protocol

from companion.errors import InvalidInput, SourceUnavailable
from companion.photos.service import Incoming

DATABASE: Final = "never-alone"
# Documents per page of a query: -1 lets the server fill each page (Azure: up to 4 MB a response, a few
# thousand documents), the fewest round trips. A fixed 1,000 cost the test server 20 runs of its query
# over a 20,000-document container, each from the start (63 s against 5 s for one page).
PAGE_SIZE: Final = -1
EXTENSIONS: Final = (".json", ".jsonl", ".ndjson")


class Source(Protocol):
    name: str

    async def containers(self) -> list[str]: ...

    def documents(self, container: str, user_ids: Sequence[str] = ()) -> AsyncIterator[dict[str, Any]]:
        """Every document of ``container`` (only those of ``user_ids`` when given)."""
        ...

    async def close(self) -> None: ...


class DirSource:
    """An export folder: ``users.json``, ``memories.jsonl``, ... (one file per container)."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder", field="from_dir")
        self.folder = folder
        self.name = f"folder {folder}"

    def _file(self, container: str) -> Path | None:
        for ext in EXTENSIONS:
            path = self.folder / f"{container}{ext}"
            if path.is_file():
                return path
        return None

    async def containers(self) -> list[str]:
        return sorted({p.stem for p in self.folder.iterdir() if p.suffix in EXTENSIONS and p.is_file()})

    async def documents(self, container: str, user_ids: Sequence[str] = ()) -> AsyncIterator[dict[str, Any]]:
        path = self._file(container)
        if path is None:
            return
        wanted = set(user_ids)
        for doc in read_export(path):
            if not wanted or owner(container, doc) in wanted:
                yield doc

    async def close(self) -> None:
        return None


def read_export(path: Path) -> list[dict[str, Any]]:
    """A JSON array of documents, or one document per line (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceUnavailable(f"{path.name} cannot be read: {type(exc).__name__}") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            loaded = json.loads(stripped)
        else:
            loaded = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise SourceUnavailable(f"{path.name} is not JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(loaded, list) or not all(isinstance(d, dict) for d in loaded):
        raise SourceUnavailable(f"{path.name} must hold JSON objects, as an array or one per line")
    return loaded


def owner(container: str, doc: dict[str, Any]) -> str:
    """The person a document belongs to: its partition key ``userId``; a profile document without it
    is its own id."""
    user = doc.get("userId")
    if isinstance(user, str) and user:
        return user
    if container == "users" and isinstance(doc.get("id"), str):
        return str(doc["id"])
    return ""


class CosmosSource:
    """The seed system's Cosmos DB account, read with ``azure-cosmos``'s async client."""

    def __init__(
        self, endpoint: str, key: str, database: str = DATABASE, *, page_size: int = PAGE_SIZE
    ) -> None:
        from azure.cosmos.aio import CosmosClient

        if not endpoint.startswith(("https://", "http://")):
            raise InvalidInput("the Cosmos DB endpoint must be an https:// URL", field="cosmos_endpoint")
        try:
            self._client = CosmosClient(endpoint, credential=key)
        except (ValueError, TypeError) as exc:  # a key that is not base64, a malformed URL
            raise InvalidInput(
                f"cannot use the Cosmos DB account: {type(exc).__name__}", field="cosmos_key"
            ) from None
        self._db = self._client.get_database_client(database)
        self._page_size = page_size
        self.database = database
        self.name = f"Cosmos DB {endpoint} database {database}"

    async def containers(self) -> list[str]:
        try:
            return sorted([c["id"] async for c in self._db.list_containers()])
        except Exception as exc:
            raise _unavailable("the list of containers", exc) from None

    async def documents(self, container: str, user_ids: Sequence[str] = ()) -> AsyncIterator[dict[str, Any]]:
        client = self._db.get_container_client(container)
        try:
            if not user_ids:
                async for doc in self._pages(client, "SELECT * FROM c", [], cross=True):
                    yield doc
                return
            for user_id in user_ids:
                # the userId condition is in the query itself: some servers ignore partition_key alone
                query = "SELECT * FROM c WHERE c.userId = @userId"
                params = [{"name": "@userId", "value": user_id}]
                async for doc in self._pages(client, query, params, cross=False, partition=user_id):
                    yield doc
                if container == "users":  # a profile document may carry only its id
                    query = "SELECT * FROM c WHERE c.id = @userId AND NOT IS_DEFINED(c.userId)"
                    async for doc in self._pages(client, query, params, cross=True):
                        yield doc
        except SourceUnavailable:
            raise
        except Exception as exc:
            raise _unavailable(f"container {container}", exc) from None

    async def _pages(
        self,
        client: Any,
        query: str,
        params: list[dict[str, Any]],
        *,
        cross: bool,
        partition: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """A query read a page at a time, each page asked for with the previous one's continuation
        token (so a long read holds one page in memory at once and could resume from a token)."""
        token: str | None = None
        while True:
            options: dict[str, Any] = {"parameters": params, "max_item_count": self._page_size}
            if partition is not None:
                options["partition_key"] = partition
            pages = client.query_items(query, **options).by_page(token)
            token = None
            async for page in pages:  # the first page only: the next is asked for by its token
                async for doc in page:
                    yield doc
                token = pages.continuation_token
                break
            if not token:
                return

    async def close(self) -> None:
        await self._client.close()


class PhotoFolder:
    """A copy of the seed system's Blob container ``photos`` (``{userId}/{ms}-{name}`` under ``folder``,
    as ``azcopy`` or Storage Explorer download it). A path from a document never leads out of it."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder", field="photos_dir")
        self.folder = folder.resolve()

    def find(self, blob_path: str) -> Incoming | None:
        """The file of ``blob_path``, ready to read; None when the copy does not have it."""
        parts = PurePosixPath(blob_path).parts
        if not parts or parts[0] == "/" or ".." in parts or "\x00" in blob_path:
            return None
        path = self.folder.joinpath(*parts)
        try:
            if not path.resolve().is_relative_to(self.folder) or not path.is_file():
                return None  # missing, or a link out of the folder
            size = path.stat().st_size
        except (OSError, ValueError):
            return None
        return Incoming(blob_path, size, partial(asyncio.to_thread, path.read_bytes))


def _unavailable(what: str, exc: Exception) -> SourceUnavailable:
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return SourceUnavailable(f"Cosmos DB refused the key reading {what} ({status})")
    if status == 404:
        return SourceUnavailable(f"Cosmos DB has no {what} (404): check --database")
    detail = f"HTTP {status}" if status else type(exc).__name__
    return SourceUnavailable(f"Cosmos DB could not be read ({what}): {detail}")
