"""The example people imported into a running service (SQLite and PostgreSQL) from an export folder,
then read back through the API (the person's export, their sections and memories) field by field;
run again; changed at the source; edited here; forced with --overwrite; previewed with --dry-run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api.conftest import Api
from companion.importers.report import ImportReport
from companion.importers.runner import ImportRunner
from companion.importers.sources import DirSource
from importers import seed_data
from importers.checks import check_everything, export_of
from importers.conftest import Published, write_export

SEED = seed_data


async def run(api: Api, folder: Path, **options: Any) -> tuple[ImportReport, Published]:
    published = Published(api)
    runner = ImportRunner(api.services.store, published, clock=lambda: SEED.NOW, **options)
    return await runner.run(DirSource(folder)), published


def person(report: ImportReport, user_id: str) -> Any:
    return next(p for p in report.people if p.user_id == user_id)


async def test_the_example_people_come_over_field_by_field(service: Api, export_dir: Path) -> None:
    report, published = await run(service, export_dir)
    assert [p.status for p in report.people] == ["created", "created", "created", "failed"]
    broken = person(report, SEED.BROKEN)
    assert broken.error is not None and "longer than 200" in broken.error
    await check_everything(service, report)
    # one change event per person, naming every section that changed: one refresh of each live session
    assert sorted((e.user_id, e.sections) for e in published.events) == [
        (SEED.MOSHE, ("profile", "safety", "memories")),
        (SEED.RINA, ("profile",)),
        (SEED.TIFERET, ("profile", "safety", "music", "memories")),
    ]
    assert report.skipped_containers == {"FamilyMembers": seed_data_reason()}
    # nothing was sent: the outbox has no row for anyone
    for user in (SEED.TIFERET, SEED.MOSHE):
        assert await service.services.store.jobs_of_user(user) == []


def seed_data_reason() -> str:
    from companion.importers.plan import NOT_IMPORTED

    return NOT_IMPORTED["FamilyMembers"]


async def test_a_second_run_changes_nothing(service: Api, export_dir: Path) -> None:
    await run(service, export_dir)
    before = await service.services.store.load_user(SEED.TIFERET)
    changes_before = await service.services.store.last_change_id()
    again, published = await run(service, export_dir)
    assert again.totals()["changes"] == 0 and again.totals()["conflicts"] == 0
    assert [p.status for p in again.people] == ["unchanged", "unchanged", "unchanged", "failed"]
    assert published.events == []
    after = await service.services.store.load_user(SEED.TIFERET)
    assert [(d.kind, d.doc_id, d.version) for d in after] == [(d.kind, d.doc_id, d.version) for d in before]
    assert await service.services.store.last_change_id() == changes_before  # no new versions at all


async def test_a_change_at_the_source_updates_only_that_section(
    service: Api, export_dir: Path, tmp_path: Path
) -> None:
    await run(service, export_dir)
    data = seed_data.containers()
    newest = data["safety-config"][1]
    newest["medications"].append({"name": "Vitamin D", "dosage": "1000 IU", "time": "12:00"})
    folder = write_export(tmp_path / "changed", data)
    report, published = await run(service, folder)
    tiferet = person(report, SEED.TIFERET)
    assert tiferet.changes == [("section:safety", "updated")]
    assert [p.changes for p in report.people if p.user_id != SEED.TIFERET and p.status != "failed"] == [
        [],
        [],
    ]
    assert [(e.user_id, e.sections) for e in published.events] == [(SEED.TIFERET, ("safety",))]
    safety = (await service.admin("GET", f"/api/users/{SEED.TIFERET}/safety")).json()
    assert "Vitamin D" in [m["name"] for m in safety["data"]["medications"]]
    assert safety["version"] == 2
    profile = (await service.admin("GET", f"/api/users/{SEED.TIFERET}/profile")).json()
    assert profile["version"] == 1


async def test_a_family_edit_here_is_kept_and_reported(
    service: Api, export_dir: Path, tmp_path: Path
) -> None:
    await run(service, export_dir)
    url = f"/api/users/{SEED.TIFERET}/safety"
    current = (await service.admin("GET", url)).json()
    edited = current["data"] | {"forbiddenTopics": ["politics"]}
    answer = await service.admin("PUT", url, json=edited, headers={"If-Match": f'"{current["version"]}"'})
    assert answer.status_code == 200, answer.text
    # a field of ours only (not from the source): no conflict, and kept by every later import
    profile_url = f"/api/users/{SEED.TIFERET}/profile"
    profile = (await service.admin("GET", profile_url)).json()
    answer = await service.admin(
        "PUT",
        profile_url,
        json=profile["data"] | {"conversationRecords": "transcript"},
        headers={"If-Match": f'"{profile["version"]}"'},
    )
    assert answer.status_code == 200, answer.text
    data = seed_data.containers()
    data["safety-config"][1]["boundaries"]["forbiddenTopics"].append("money")
    data["users"][0]["personalInfo"]["age"] = 83
    folder = write_export(tmp_path / "changed", data)

    report, _ = await run(service, folder)
    tiferet = person(report, SEED.TIFERET)
    assert tiferet.conflicts == [("section:safety", "edited here since the last import", False)]
    # the family now keeps transcripts: the conversation comes over again, with its words
    [(conversation, _)] = [c for c in tiferet.changes if c[0].startswith("conversation:")]
    assert tiferet.changes == [("section:profile", "updated"), (conversation, "updated")]
    [record] = (await export_of(service, SEED.TIFERET))["conversations"]
    assert record["records"] == "transcript"
    assert [(t["role"], t["text"]) for t in record["transcript"]] == [
        ("companion", "בוקר טוב תפארת!"),
        ("person", "בוקר טוב"),
        ("companion", "איך ישנת?"),
    ]
    safety = (await service.admin("GET", url)).json()["data"]
    assert safety["forbiddenTopics"] == ["politics"]  # the family's edit stands
    profile_after = (await service.admin("GET", profile_url)).json()["data"]
    assert profile_after["personalInfo"]["age"] == 83
    assert profile_after["conversationRecords"] == "transcript"  # ours, kept by the import's update

    forced, _ = await run(service, folder, overwrite=True)
    tiferet = person(forced, SEED.TIFERET)
    assert tiferet.conflicts == [("section:safety", "edited here since the last import", True)]
    assert tiferet.changes == [("section:safety", "overwritten")]
    safety = (await service.admin("GET", url)).json()["data"]
    assert safety["forbiddenTopics"] == ["politics", "her late husband's illness", "money"]


async def test_a_memory_removed_here_is_not_brought_back(
    service: Api, export_dir: Path, tmp_path: Path
) -> None:
    await run(service, export_dir)
    gone = "na-0b5d3c8e-0000-4000-8000-000000000003"
    assert (await service.admin("DELETE", f"/api/users/{SEED.TIFERET}/memories/{gone}")).status_code == 200
    again, _ = await run(service, export_dir)
    assert person(again, SEED.TIFERET).changes == []  # unchanged at the source: nothing to say
    data = seed_data.containers()
    data["memories"][2]["value"] = "Likes mint tea with lemon"
    changed, _ = await run(service, write_export(tmp_path / "changed", data))
    assert person(changed, SEED.TIFERET).conflicts == [
        (f"memory:{gone}", "removed here since the last import", False)
    ]
    memories = (await service.admin("GET", f"/api/users/{SEED.TIFERET}/memories")).json()
    assert gone not in [m["id"] for m in memories["memories"]]


async def test_a_dry_run_writes_nothing_and_says_what_it_would(
    service: Api, export_dir: Path, tmp_path: Path
) -> None:
    report, published = await run(service, export_dir, dry_run=True)
    assert report.dry_run and report.totals()["changes"] == 27
    assert published.events == []
    assert await service.services.store.load_user(SEED.TIFERET) == []
    assert not await service.services.store.user_exists(SEED.TIFERET)
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report.as_json()))
    body = json.loads(saved.read_text())
    assert body["dryRun"] is True and body["totals"]["people"] == 4
