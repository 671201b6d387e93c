"""Small conversions shared by the mappings: texts cut to our limits, lists from comma strings, phone
numbers, times and dates. Each notes what it could not carry on the ``Fields`` it reads from."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from companion.importers.fields import Fields
from companion.profiles.models import normalise_phone

_HHMM: Final = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*$")
_MS_IN_ID: Final = re.compile(r"-(\d{12,14})$")  # config-{userId}-{ms}, music-{userId}-{ms}


def fit(fields: Fields, key: str, text: str, limit: int) -> str:
    """``text`` within ``limit`` characters; a longer one is cut, and the cut is noted."""
    if len(text) <= limit:
        return text
    fields.note(key, f"longer than {limit} characters: cut to {limit}")
    return text[:limit].rstrip()


def text_list(fields: Fields, key: str, limit: int, max_items: int) -> list[str]:
    """A list of short texts from a list or a comma-separated string (the wizard's music fields)."""
    value = fields.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        raw: list[Any] = [part for part in value.split(",")]
    elif isinstance(value, list):
        raw = value
    else:
        fields.note(key, "neither a list nor a comma-separated text")
        return []
    out: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, (str, int, float)) or isinstance(entry, bool):
            fields.note(f"{key}[{index}]", "not text")
            continue
        item = str(entry).strip()
        if not item:
            continue
        if len(item) > limit:
            fields.note(f"{key}[{index}]", f"longer than {limit} characters: cut to {limit}")
            item = item[:limit].rstrip()
        if item not in out:
            out.append(item)
    if len(out) > max_items:
        fields.note(key, f"more than {max_items} entries: the first {max_items} kept")
        out = out[:max_items]
    return out


def phone(fields: Fields, key: str) -> str | None:
    """The number normalised as the wizard does (+972-XX-XXX-XXXX for Israeli ones), or None (noted)."""
    raw = fields.text(key)
    if not raw:
        return None
    try:
        return normalise_phone(raw)
    except ValueError as exc:
        fields.note(key, f"not a phone number here: {exc}")
        return None


def hhmm(fields: Fields, key: str) -> str | None:
    """A time of day as HH:MM (7:30 and 07:30:00 become 07:30), or None (noted when present)."""
    raw = fields.text(key)
    if not raw:
        return None
    match = _HHMM.match(raw)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return f"{int(match[1]):02d}:{match[2]}"
    fields.note(key, "not a time of day (HH:MM)")
    return None


def moment(value: Any) -> datetime | None:
    """An ISO 8601 time (a trailing Z, or none: taken as UTC, as the seed system writes them), or epoch
    seconds/milliseconds, as an aware UTC datetime; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def when(fields: Fields, key: str) -> datetime | None:
    value = fields.get(key)
    if value is None:
        return None
    parsed = moment(value)
    if parsed is None:
        fields.note(key, "not a date and time")
    return parsed


def birth_date(fields: Fields, key: str) -> date | None:
    value = fields.get(key)
    if value is None:
        return None
    parsed = moment(value) if not (isinstance(value, str) and len(value.strip()) == 10) else None
    try:
        day = parsed.date() if parsed else date.fromisoformat(str(value).strip())
    except ValueError:
        fields.note(key, "not a date")
        return None
    if day > datetime.now(UTC).date():
        fields.note(key, "in the future")
        return None
    return day


def zone_name(fields: Fields, key: str) -> str | None:
    raw = fields.text(key)
    if not raw:
        return None
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        fields.note(key, "not a known time zone")
        return None
    return raw


def written_at(body: dict[str, Any]) -> datetime:
    """When a document was last written, for "the newest wins": its ``updatedAt``, else ``createdAt``,
    else the milliseconds in its id (``config-{userId}-{ms}``), else Cosmos DB's ``_ts``; else the
    beginning of time."""
    for key in ("updatedAt", "createdAt"):
        found = moment(body.get(key))
        if found is not None:
            return found
    match = _MS_IN_ID.search(str(body.get("id", "")))
    if match:
        found = moment(int(match[1]))
        if found is not None:
            return found
    return moment(body.get("_ts")) or datetime.min.replace(tzinfo=UTC)


def safe_id(source_id: str, limit: int = 60) -> str:
    """An id of ours for a source document: ``na-`` and its id when that is short and plain, else a
    digest of it (so the same source document always gets the same id)."""
    import hashlib

    if source_id and len(source_id) <= limit and re.fullmatch(r"[A-Za-z0-9_.:\-]+", source_id):
        return f"na-{source_id}"
    return "na-" + hashlib.sha256(source_id.encode()).hexdigest()[:32]
