"""The conversation's items, in order, and the audio length behind each one.

Kept apart from the engine because item bookkeeping (insertion after ``previous_item_id``, the
exact "does not exist" errors, truncation rules) is its own concept, and because ``session.update``
must never touch it: items survive every configuration change.
"""

from __future__ import annotations

from typing import Any

from companion.localmodel.errors import EngineError, invalid_type, invalid_value
from companion.localmodel.items import item_text

JsonDict = dict[str, Any]


class Conversation:
    def __init__(self) -> None:
        self.items: list[JsonDict] = []
        self.audio_ms: dict[str, float] = {}

    def find(self, item_id: Any) -> int | None:
        return next((i for i, item in enumerate(self.items) if item["id"] == item_id), None)

    def add(self, item: JsonDict, previous_item_id: Any = None) -> str | None:
        """Insert (after ``previous_item_id`` when given) and return the id of the item before it."""
        if previous_item_id is None:
            index = len(self.items)
        elif previous_item_id == "root":
            index = 0
        else:
            found = self.find(previous_item_id)
            if found is None:
                raise EngineError(
                    "item_create_invalid_previous_item_id",
                    f"Previous item with id '{previous_item_id}' does not exist.",
                    param="previous_item_id",
                )
            index = found + 1
        self.items.insert(index, item)
        return self.items[index - 1]["id"] if index > 0 else None

    def get(self, item_id: Any, action: str, code: str) -> JsonDict:
        """The item, or the service's ``<action>`` error (``code`` names the operation)."""
        index = self.find(item_id)
        if index is None:
            raise EngineError(code, f"Error {action} item: the item with id '{item_id}' does not exist.")
        return self.items[index]

    def delete(self, item_id: Any) -> JsonDict:
        item = self.get(item_id, "deleting", "item_delete_invalid_item_id")
        self.items.remove(item)
        return item

    def truncate(self, item_id: Any, content_index: Any, audio_end_ms: Any) -> JsonDict:
        """Cut assistant audio at what the listener heard; its transcript goes, as on the service."""
        item = self.get(item_id, "truncating", "item_truncate_invalid_item_id")
        content = item.get("content") or [{}]
        if item.get("role") != "assistant" or content[0].get("type") != "output_audio":
            raise EngineError(
                "invalid_value", "Only assistant messages with audio can be truncated.", param="item_id"
            )
        if content_index != 0:
            raise invalid_value("content_index", content_index)
        if isinstance(audio_end_ms, bool) or not isinstance(audio_end_ms, int) or audio_end_ms < 0:
            raise invalid_type("audio_end_ms", "a non-negative integer", audio_end_ms)
        audio_ms = self.audio_ms.get(item["id"], 0.0)
        if audio_end_ms > audio_ms:
            raise EngineError(
                "invalid_value",
                f"Audio content of {audio_ms:g}ms is shorter than {audio_end_ms}ms.",
                param="audio_end_ms",
            )
        content[0]["transcript"] = ""
        self.audio_ms[item["id"]] = float(audio_end_ms)
        return item

    def text(self) -> str:
        return " ".join(item_text(item) for item in self.items)

    def user_audio_ms(self) -> float:
        return sum(self.audio_ms.get(i["id"], 0.0) for i in self.items if i.get("role") == "user")
