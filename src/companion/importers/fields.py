"""Reading a source document so that nothing is dropped without a word.

Every field a mapping reads is marked as read; a field it does not carry over is named with the
reason (``drop``); whatever is left at the end (a field the seed system's data model does not describe)
is named too. The report lists them all: field names and reasons, never the values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

# Cosmos DB's own bookkeeping on every document: not the family's data.
COSMOS_METADATA: Final = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})
METADATA_REASON: Final = "Cosmos DB's own metadata"
UNKNOWN_REASON: Final = "not part of the seed system's data model: nothing here to put it in"


@dataclass(frozen=True, slots=True)
class NotCarried:
    """One field of one source document that was not brought over, and why."""

    container: str
    doc_id: str
    field: str
    reason: str


class Fields:
    """A source document (or an object inside one) being read. ``notes`` is shared with its parts."""

    def __init__(
        self,
        container: str,
        body: Any,
        *,
        doc_id: str | None = None,
        prefix: str = "",
        notes: list[NotCarried],
    ) -> None:
        self.container = container
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.doc_id = doc_id if doc_id is not None else str(self.body.get("id", ""))
        self.prefix = prefix
        self.notes = notes
        self._read: set[str] = set()

    @classmethod
    def of(cls, container: str, body: dict[str, Any]) -> Fields:
        return cls(container, body, notes=[])

    def has(self, key: str) -> bool:
        return self.body.get(key) not in (None, "", [], {})

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        value = self.body.get(key, default)
        return default if value is None else value

    def text(self, key: str) -> str:
        """A text field as text ("" when missing); a number is written out, anything else noted."""
        value = self.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        self.note(key, "not text")
        return ""

    def part(self, key: str) -> Fields:
        """An object inside this one, read the same way (its fields named ``key.field``)."""
        self._read.add(key)
        return Fields(
            self.container, self.body.get(key), doc_id=self.doc_id, prefix=self._path(key), notes=self.notes
        )

    def items(self, key: str) -> list[Fields]:
        """The objects of a list field; entries that are not objects are noted."""
        self._read.add(key)
        value = self.body.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.note(key, "not a list")
            return []
        out = []
        for index, entry in enumerate(value):
            path = f"{key}[{index}]"
            if isinstance(entry, dict):
                out.append(
                    Fields(
                        self.container, entry, doc_id=self.doc_id, prefix=self._path(path), notes=self.notes
                    )
                )
            else:
                self.note(path, "not an object")
        return out

    def drop(self, key: str, reason: str) -> None:
        """``key`` is read and deliberately not carried over (named only when the document has it)."""
        self._read.add(key)
        if key in self.body:
            self.note(key, reason)

    def drop_all(self, keys: Iterable[str], reason: str) -> None:
        for key in keys:
            self.drop(key, reason)

    def rest(self, reason: str) -> None:
        """Every field not read so far is deliberately not carried, for ``reason``."""
        for key in self.body:
            if key not in self._read and key not in COSMOS_METADATA:
                self.drop(key, reason)

    def note(self, path: str, reason: str) -> None:
        self.notes.append(NotCarried(self.container, self.doc_id, self._path(path), reason))

    def finish(self) -> list[NotCarried]:
        """Name every field nobody read; returns every note so far."""
        for key in self.body:
            if key in self._read:
                continue
            if key in COSMOS_METADATA:
                self.note(key, METADATA_REASON)
            else:
                self.note(key, UNKNOWN_REASON)
            self._read.add(key)
        return self.notes

    def _path(self, key: str) -> str:
        if not key:
            return self.prefix or "*"
        return f"{self.prefix}.{key}" if self.prefix else key
