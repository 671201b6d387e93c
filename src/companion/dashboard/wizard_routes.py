"""The profile wizard's pages: one step per screen, the conflict view, and the result of a save.

The draft lives in the caregiver's server-side session (one per person), so Back and Next never lose
input; every POST first copies the step's fields into it, then acts (next, back, go to a step, add
or remove an item, submit). Each step is validated by the profile models before moving forward.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import ValidationError

from companion.dashboard import photos_routes
from companion.dashboard.family_contacts import missing_contacts
from companion.dashboard.forms import (
    CRISIS_PRESETS,
    ROUTINE_KEYS,
    add_family_contact,
    add_preset,
    add_row,
    confirm_memory,
    error_map,
    extra_errors,
    read_step,
    remove_item,
    timezone_choices,
)
from companion.dashboard.saving import SaveReport, reapply_mine, reload_theirs, retry_refresh, submit
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, Page, PostDep
from companion.dashboard.wizard import (
    LAST_STEP,
    PHOTOS_STEP,
    STEPS,
    Draft,
    FieldError,
    diff,
    dump,
    first_invalid_step,
    memory_changes,
    step,
    step_errors,
    validate,
)
from companion.profiles.models import (
    SECTIONS,
    VOICE_GENDERS,
    CognitiveMode,
    MemoryInput,
    MemoryType,
    Severity,
)

router = APIRouter(prefix=PREFIX + "/people/{user_id}", route_class=DashboardRoute, include_in_schema=False)


def _url(user_id: str, suffix: str) -> str:
    return f"{PREFIX}/people/{user_id}/{suffix}"


async def _draft(page: Page, user_id: str, *, fresh: bool = False) -> Draft:
    await page.person(user_id)
    session = page.session
    assert session is not None
    draft = None if fresh else await page.draft(user_id)
    if not isinstance(draft, Draft):
        draft = await Draft.open(page.services, user_id)
    session.keep_draft(user_id, draft)
    return draft


def _label(page: Page, path: str) -> str:
    """``familyMembers.1.phone`` -> "Family › 2 › Phone", in the page's language."""
    parts = [str(int(p) + 1) if p.isdigit() else page.t(f"field.{p}") for p in path.split(".")]
    return " › ".join(parts)


# Fields whose stored values are codes, and where their words are (a list field: each item's).
CODED_FIELDS = {
    "gender": "gender.",
    "language": "language.",
    "cognitiveMode": "mode.",
    "severity": "severity.",
    "notifyFor": "severity.",
    "type": "memtype.",
}


def _in_words(page: Page, path: str, value: Any) -> Any:
    """A stored code (``female``, ``he``, ``critical``) in the page's words; any other value as it is."""
    field = path.rsplit(".", 1)[-1]
    if field == "voice" and path.startswith("companion."):  # a voice's name, or the service's choice
        return str(value).capitalize() if value else page.t("voice.auto")
    prefix = CODED_FIELDS.get(field)
    if prefix is None or value is None or value == "":
        return value
    if isinstance(value, list):
        return [page.t(prefix + str(item)) for item in value]
    return page.t(prefix + str(value))


def _review(page: Page, draft: Draft) -> dict[str, Any]:
    changes = {}
    for section in SECTIONS:
        valid, _ = validate(section, draft.data[section])
        changes[section] = diff(draft.base[section], valid or draft.data[section])
    added, removed = memory_changes(draft)
    return {"changes": changes, "added_memories": added, "removed_memories": removed}


def _render_step(
    page: Page,
    draft: Draft,
    number: int,
    errors: list[FieldError] | None = None,
    *,
    status: int = 200,
    notice: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    current = step(number)
    messages = error_map(page.t, errors or [])
    context: dict[str, Any] = {
        "user_id": draft.user_id,
        "step": current,
        "steps": STEPS,
        "last_step": LAST_STEP,
        "data": draft.data,
        "memories": draft.memories,
        "errors": messages,
        "notice": notice,
        "label": lambda path: _label(page, path),
        "in_words": lambda path, value: _in_words(page, path, value),
        "severities": [s.value for s in Severity],
        "cognitive_modes": [m.value for m in CognitiveMode],
        "memory_types": [m.value for m in MemoryType],
        "voices": [
            (voice.value, sound.value if sound else "neutral") for voice, sound in VOICE_GENDERS.items()
        ],
        "presets": CRISIS_PRESETS.get(draft.person_language, CRISIS_PRESETS["he"]),
        "routine_keys": ROUTINE_KEYS,
        "timezones": timezone_choices(),
        "memory_form": {},
    }
    if current.key == "contacts":
        members = draft.data["profile"].get("familyMembers", [])
        context["from_family"] = missing_contacts(members, draft.data["safety"].get("emergencyContacts", []))
    if current.number == LAST_STEP:
        invalid = first_invalid_step(draft)
        context.update(_review(page, draft), invalid_step=invalid[0] if invalid else None)
    context.update(extra or {})
    return page.render(f"step_{current.key}.html", status=status, **context)


@router.get("/wizard")
async def wizard_start(page: MemberDep, user_id: str) -> Response:
    """Open the wizard afresh: filled in from what is stored now, remembering each version."""
    await _draft(page, user_id, fresh=True)
    return page.redirect(_url(user_id, "wizard/1"))


@router.get("/wizard/{number}")
async def wizard_step(page: MemberDep, user_id: str, number: int) -> Response:
    draft = await _draft(page, user_id)
    flash = page.session.pop_flash() if page.session else None
    notice = flash.get("notice") if flash else None
    current = step(number)
    extra = await photos_routes.step_context(page, user_id) if current.number == PHOTOS_STEP else None
    return _render_step(page, draft, current.number, notice=notice, extra=extra)


def _add_memory(page: Page, draft: Draft) -> list[FieldError]:
    """Step 8: a memory typed into the form joins the draft (saved with the rest on submit)."""
    text = page.field("memory.text")
    if not text:
        return []
    body = {
        "text": text,
        "type": page.field("memory.type") or "life-story",
        "importance": page.field("memory.importance") or "3",
    }
    try:
        memory = MemoryInput.model_validate(body)
    except ValidationError as exc:
        return [
            FieldError("memory." + str(e["loc"][0]), e["type"], e["msg"], dict(e.get("ctx") or {}))
            for e in exc.errors(include_url=False, include_input=False)
        ]
    draft.memories.append(dump(memory))
    return []


@router.post("/wizard/{number}")
async def wizard_post(page: PostDep, user_id: str, number: int) -> Response:
    draft = await _draft(page, user_id)
    number = step(number).number
    read_step(number, draft, page.form)
    if number == 8:
        errors = _add_memory(page, draft)
        if errors:
            return _render_step(page, draft, number, errors, status=422)
    kind, _, arg = (page.field("action") or "next").partition(":")
    here = _url(user_id, f"wizard/{number}")
    if kind == "add":
        add_row(draft, arg)
        return page.redirect(f"{here}#list-{arg}")
    if kind == "preset":
        add_preset(draft, arg)
        return page.redirect(f"{here}#list-crisisTriggers")
    if kind == "family":  # step 4: a family member ticked as an emergency contact joins the list
        add_family_contact(draft, int(arg) if arg.isdigit() else -1)
        return page.redirect(f"{here}#list-emergencyContacts")
    if kind == "remove":
        name, _, index = arg.rpartition(":")
        remove_item(draft, name, int(index) if index.isdigit() else -1)
        return page.redirect(f"{here}#list-{name}")
    if kind == "confirm":  # a memory learned in conversation that the family keeps (saved on submit)
        index = arg.rpartition(":")[2]
        confirm_memory(draft, int(index) if index.isdigit() else -1)
        return page.redirect(f"{here}#list-memories")
    if kind == "submit":
        return await _submit(page, draft)
    if kind == "back":
        return page.redirect(_url(user_id, f"wizard/{step(number - 1).number}"))
    target = int(arg) if kind == "goto" and arg.isdigit() else number + 1
    if target > number:
        errors = step_errors(number, draft) + extra_errors(number, draft)
        if errors:
            return _render_step(page, draft, number, errors, status=422)
    return page.redirect(_url(user_id, f"wizard/{step(target).number}"))


def _first_problem(draft: Draft) -> tuple[int, list[FieldError]] | None:
    invalid = first_invalid_step(draft)
    if invalid is None and extra_errors(1, draft):
        return 1, extra_errors(1, draft)
    return invalid


async def _submit(page: Page, draft: Draft) -> Response:
    problem = _first_problem(draft)
    if problem is not None:
        number, errors = problem
        return _render_step(page, draft, number, errors, status=422, notice=page.t("wizard.fix_first"))
    report = await submit(page.services, draft)
    return _after_save(page, draft, report)


def _after_save(page: Page, draft: Draft, report: SaveReport) -> Response:
    if draft.conflicts:
        page.set_flash(**report.as_flash())
        return page.redirect(_url(draft.user_id, "conflict"))
    assert page.session is not None
    page.session.drafts.pop(draft.user_id, None)
    page.set_flash(**report.as_flash())
    return page.redirect(_url(draft.user_id, "saved"))


@router.get("/conflict")
async def conflict_page(page: MemberDep, user_id: str) -> Response:
    draft = await _draft(page, user_id)
    if not draft.conflicts:
        return page.redirect(_url(user_id, f"wizard/{LAST_STEP}"))
    flash = page.session.pop_flash() if page.session else None
    conflicts = [
        {
            "section": section,
            "version": conflict.version,
            "theirs": diff(draft.base[section], conflict.theirs),
            "mine": diff(draft.base[section], validate(section, draft.data[section])[0]),
        }
        for section, conflict in draft.conflicts.items()
    ]
    return page.render(
        "conflict.html",
        user_id=user_id,
        conflicts=conflicts,
        saved=(flash or {}).get("saved", []),
        label=lambda path: _label(page, path),
        in_words=lambda path, value: _in_words(page, path, value),
    )


@router.post("/conflict")
async def conflict_resolve(page: PostDep, user_id: str) -> Response:
    draft = await _draft(page, user_id)
    kind, _, section = page.field("action").partition(":")
    if section not in draft.conflicts:
        return page.redirect(_url(user_id, "conflict"))
    if kind == "reload":
        reload_theirs(draft, section)
        if draft.conflicts:
            return page.redirect(_url(user_id, "conflict"))
        page.set_flash(notice=page.t("conflict.reloaded"))
        return page.redirect(_url(user_id, f"wizard/{LAST_STEP}"))
    report = await reapply_mine(page.services, draft, section)
    problem = _first_problem(draft)
    if problem is not None and not draft.conflicts:
        number, errors = problem
        return _render_step(page, draft, number, errors, status=422, notice=page.t("wizard.fix_first"))
    return _after_save(page, draft, report)


@router.get("/saved")
async def saved_page(page: MemberDep, user_id: str) -> Response:
    await page.person(user_id)
    flash = page.session.pop_flash() if page.session else None
    if not flash or flash.get("kind") != "saved":
        return page.redirect(f"{PREFIX}/people/{user_id}")
    return page.render("saved.html", user_id=user_id, result=flash)


@router.post("/refresh")
async def retry(page: PostDep, user_id: str) -> Response:
    """Refresh the person's live conversations again after a save whose refresh failed."""
    await page.person(user_id)
    counts = await retry_refresh(page.services, user_id)
    report = SaveReport(saved=["refresh"], counts=counts)
    page.set_flash(**report.as_flash())
    return page.redirect(_url(user_id, "saved"))
