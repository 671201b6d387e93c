"""The people the bench talks about: a realistic profile, a maximum-size one, and seeding the store.

The realistic profile is the demo person's (Hebrew, three family members, two medications, two
memories: ~5.6k characters of instructions); every bench user gets its own copy with its own name.
The maximum-size profile puts every list and every text at its schema limit (as in
``tests/prompt/factories.py``); the builder then has to apply its whole budget policy.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from companion.app import build_services
from companion.auth import Role
from companion.auth.device_secrets import hash_secret
from companion.auth.service import new_token
from companion.demo import DEMO_MEMORIES, DEMO_SECTIONS
from companion.profiles import models
from companion.profiles.models import CareContext, Memory, Music, Profile, Safety
from companion.services import Services
from companion.settings import Settings
from companion.store import schema

ADMIN_TOKEN = "bench-admin-token"
CAREGIVER_USERNAME = "bench-caregiver"
MUSIC = "music"
SAFETY = "safety"
SECTION_DOC = "main"


def pool_user(index: int) -> str:
    return f"bench-u{index:05d}"


def realistic_sections(index: int) -> dict[str, dict[str, Any]]:
    sections = copy.deepcopy(DEMO_SECTIONS)
    sections["profile"]["personalInfo"]["fullName"] = f"משה לוי {index}"
    return sections


def hebrew(length: int, tag: str) -> str:
    """Hebrew text of exactly ``length`` characters that starts with a unique ``tag``."""
    filler = " שלום עולם ומה נשמע היום בבית"
    text = tag + filler * (length // len(filler) + 1)
    return text[: length - 1] + "ה"


FALLBACK_TEXT = 80  # a string the schema does not bound (none today) gets this length
FALLBACK_ITEMS = 10  # likewise for a list
# The companion is female (every gender key is), so its voice must sound female or neutral: marin.
CHOSEN = {"gender": "female", "voice": "marin", "cognitiveMode": "dementia-moderate", "severity": "high"}
FIXED = {"language": "he", "timezone": "Asia/Jerusalem"}


class _MaxDocument:
    """A document at every limit of a section's JSON schema: each list full, each text at its length.

    Derived from the schema, not from constant names, so it follows the limits as they change.
    Strings the schema leaves unbounded are times (routine, medication times); phones, language and
    time zone get valid values; dates are left out.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self._defs: dict[str, Any] = schema.get("$defs", {})
        self._serial = 0

    def value(self, node: dict[str, Any], key: str, index: int = 0) -> Any:
        if "$ref" in node:
            return self.value(self._defs[node["$ref"].rsplit("/", 1)[1]], key, index)
        if "anyOf" in node:
            options = [n for n in node["anyOf"] if n.get("type") != "null"]
            return self.value(options[0], key, index) if options else None
        if "enum" in node:
            return CHOSEN.get(key, node["enum"][-1])
        kind = node.get("type")
        if kind == "object":
            return self.object(node)
        if kind == "array":
            count = node.get("maxItems", FALLBACK_ITEMS)
            return [self.value(node["items"], key, i) for i in range(count)]
        if kind == "boolean":
            return index % 5 == 0 if key == "isEmergencyContact" else True
        if kind == "integer":
            return node.get("maximum", 3)
        if kind == "string":
            return self.text(node, key, index)
        raise ValueError(f"no maximal value for {key}: {node}")

    def object(self, node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, prop in node.get("properties", {}).items():
            value = self.value(prop, key)
            if value is not None:
                out[key] = value
        return out

    def text(self, node: dict[str, Any], key: str, index: int) -> str | None:
        if key in FIXED:
            return FIXED[key]
        if key == "phone":
            return f"050-123-{4500 + index % 100:04d}"
        if key == "email":
            return f"contact{index}@example.com"
        if node.get("format"):
            return None  # dates: optional everywhere
        if "maxLength" not in node:
            return f"{(6 + index) % 24:02d}:{index % 4 * 15:02d}"  # routine and medication times
        self._serial += 1
        return hebrew(node.get("maxLength", FALLBACK_TEXT), f"{key}{self._serial:03d}")


def max_sections() -> dict[str, dict[str, Any]]:
    """Every list at its maximum length and every text at its maximum length, in Hebrew."""
    out = {}
    for name, model in models.SECTION_MODELS.items():
        body = _MaxDocument(model.model_json_schema(by_alias=True)).object(
            model.model_json_schema(by_alias=True)
        )
        out[name] = model.model_validate(body).model_dump(mode="json", by_alias=True)
    return out


def max_memories() -> list[dict[str, Any]]:
    schema = models.MemoryInput.model_json_schema(by_alias=True)
    length = schema["properties"]["text"].get("maxLength", FALLBACK_TEXT)
    count = getattr(models, "MAX_MEMORIES", 200)
    return [
        {"text": hebrew(length, f"זיכרון{i:03d}"), "type": "family", "importance": i % 5 + 1}
        for i in range(count)
    ]


def context_of(
    user_id: str, sections: dict[str, dict[str, Any]], memories: list[dict[str, Any]]
) -> CareContext:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return CareContext(
        user_id=user_id,
        profile=Profile.model_validate(sections["profile"]),
        safety=Safety.model_validate(sections["safety"]),
        music=Music.model_validate(sections["music"]),
        memories=tuple(
            Memory.model_validate({**m, "id": f"m{i:03d}", "createdAt": start + timedelta(days=i)})
            for i, m in enumerate(memories)
        ),
    )


def max_context() -> CareContext:
    return context_of("bench-max", max_sections(), max_memories())


def realistic_context(index: int = 0) -> CareContext:
    return context_of(pool_user(index), realistic_sections(index), list(DEMO_MEMORIES))


@dataclass
class Seeded:
    """The store as the bench left it, still open for direct writes, and the tokens it made."""

    services: Services
    caregiver_token: str
    device_tokens: dict[str, str]

    async def change_unannounced(self, user_id: str, serial: int) -> None:
        """Change what the model sees without announcing it (the refresh under test must find it).

        The first forbidden topic: safety is never trimmed, so the change shows in the instructions
        even of a maximum-size profile.
        """
        store = self.services.store
        current = await store.get(user_id, SAFETY, SECTION_DOC)
        assert current is not None
        body = copy.deepcopy(current.body)
        body["forbiddenTopics"] = [f"נושא {serial}", *body["forbiddenTopics"][1:]]
        await store.put(user_id, SAFETY, SECTION_DOC, body, expected_version=current.version)

    async def close(self) -> None:
        await self.services.store.close()


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, admin_token=ADMIN_TOKEN)


async def seed(
    data_dir: Path, *, pool: int, extra: dict[str, str], database_url: str | None = None
) -> Seeded:
    """``pool`` realistic users with one device token each, plus ``extra`` users (id -> "realistic"
    or "max"); one caregiver token that sees them all.

    The first user of each kind goes through the services (validation, versions, memories); the
    rest of the pool are copies of the first, made in a few bulk inserts: through the services,
    1,000 users take over a minute, and the bench measures live sessions, not seeding.
    """
    services = await build_services(settings_for(data_dir, database_url))
    caregiver = await services.auth.create_caregiver(
        name="bench", username=CAREGIVER_USERNAME, password="bench-password"
    )
    tokens: dict[str, str] = {}

    async def through_services(user_id: str, kind: str, index: int) -> None:
        await services.store.create_user(user_id)
        await services.store.assign(caregiver.id, user_id)
        if kind == "max":
            sections, memories = max_sections(), max_memories()
        else:
            sections, memories = realistic_sections(index), list(DEMO_MEMORIES)
        for name, body in sections.items():
            await services.profiles.save_section(user_id, name, body, if_match=None)
        for memory in memories:
            await services.profiles.add_memory(user_id, memory)
        tokens[user_id], _ = await services.auth.create_token(Role.DEVICE, user_id=user_id)

    template = pool_user(0)
    await through_services(template, "realistic", 0)
    for index, (user_id, kind) in enumerate(extra.items(), start=1):
        await through_services(user_id, kind, index)
    copies = [pool_user(i) for i in range(1, pool)]
    tokens |= await _copy_user(services, template, copies, caregiver.id)
    care, _ = await services.auth.create_token(Role.CAREGIVER, caregiver_id=caregiver.id)
    return Seeded(services, care, tokens)


async def _copy_user(
    services: Services, template: str, user_ids: list[str], caregiver_id: str
) -> dict[str, str]:
    """Bulk-insert copies of ``template`` (own name, own memory ids, own device token)."""
    if not user_ids:
        return {}
    store = services.store
    docs = await store.load_user(template)
    now = datetime.now(UTC)
    doc_rows: list[dict[str, Any]] = []
    token_rows: list[dict[str, Any]] = []
    tokens: dict[str, str] = {}
    for index, user_id in enumerate(user_ids, start=1):
        for doc in docs:
            body = copy.deepcopy(doc.body)
            doc_id = doc.doc_id
            if doc.kind == "profile":
                body["personalInfo"]["fullName"] = f"משה לוי {index}"
            elif doc.kind == "memory":
                doc_id = body["id"] = "mem-" + uuid.uuid4().hex[:12]
            row = {"user_id": user_id, "kind": doc.kind, "doc_id": doc_id, "body": body}
            doc_rows.append(row | {"version": doc.version, "updated_at": doc.updated_at})
        token = new_token()
        tokens[user_id] = token
        token_rows.append(
            {
                "id": uuid.uuid4().hex[:12],
                "token_hash": hash_secret(token),
                "role": Role.DEVICE.value,
                "user_id": user_id,
                "caregiver_id": None,
                "label": None,
                "created_at": now,
            }
        )
    async with store._tx() as conn:
        await conn.execute(insert(schema.users), [{"user_id": u, "created_at": now} for u in user_ids])
        await conn.execute(
            insert(schema.caregiver_assignments),
            [{"caregiver_id": caregiver_id, "user_id": u, "created_at": now} for u in user_ids],
        )
        await conn.execute(insert(schema.documents), doc_rows)
        await conn.execute(insert(schema.api_tokens), token_rows)
    return tokens
