"""The import's account: per person what came over, what was in conflict, what was not carried and
why; in all, the totals and every field not carried with how often. Field names and reasons only,
never the values (the report is health data's neighbour, and may be mailed around)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from companion.events import RefreshCounts
from companion.importers.fields import NotCarried

Action = Literal["created", "updated", "overwritten"]
Status = Literal["created", "updated", "unchanged", "failed"]


@dataclass(frozen=True, slots=True)
class PhotoProblem:
    """A photo that did not come over: its file was not found (``error`` None), or it was refused."""

    photo_id: str  # its id here, had it come
    source: str  # container/id at the source
    file: str  # its path in the Blob container, and under --photos-dir
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        body = {"photo": self.photo_id, "source": self.source, "file": self.file}
        return body | ({"error": self.error} if self.error is not None else {})


@dataclass(slots=True)
class PersonReport:
    user_id: str
    status: Status
    changes: list[tuple[str, Action]] = field(default_factory=list)
    conflicts: list[tuple[str, str, bool]] = field(default_factory=list)  # (item, why, overwritten)
    not_carried: list[NotCarried] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    error: str | None = None
    live: RefreshCounts | None = None  # how the person's live conversations took the change
    photos_missing: list[PhotoProblem] = field(default_factory=list)  # no file to bring
    photos_failed: list[PhotoProblem] = field(default_factory=list)  # a file the photo library refused

    def count(self, kind: str) -> int:
        return sum(1 for item, _ in self.changes if item.startswith(kind + ":"))

    def as_json(self) -> dict[str, Any]:
        grouped = Counter((n.container, n.field, n.reason) for n in self.not_carried)
        body: dict[str, Any] = {
            "userId": self.user_id,
            "status": self.status,
            "changes": [{"item": item, "action": action} for item, action in self.changes],
            "conflicts": [
                {"item": item, "reason": why, "resolution": "overwritten" if over else "kept here"}
                for item, why, over in self.conflicts
            ],
            "notCarried": [
                {"container": c, "field": f, "reason": r, "count": n}
                for (c, f, r), n in sorted(grouped.items())
            ],
            "remarks": list(self.remarks),
            "photosMissing": [p.as_json() for p in self.photos_missing],
            "photosFailed": [p.as_json() for p in self.photos_failed],
        }
        if self.error:
            body["error"] = self.error
        if self.live is not None:
            body["liveSessions"] = self.live.as_json()
        return body


@dataclass(slots=True)
class ImportReport:
    source: str
    dry_run: bool
    overwrite: bool
    started_at: datetime
    finished_at: datetime | None = None
    people: list[PersonReport] = field(default_factory=list)
    skipped_containers: dict[str, str] = field(default_factory=dict)  # container -> why
    missing: list[str] = field(default_factory=list)  # --only people the source does not have

    @property
    def changes(self) -> int:
        return sum(len(p.changes) for p in self.people)

    @property
    def conflicts(self) -> int:
        return sum(len(p.conflicts) for p in self.people)

    @property
    def failed(self) -> list[PersonReport]:
        return [p for p in self.people if p.status == "failed"]

    @property
    def photos_missing(self) -> list[tuple[str, PhotoProblem]]:
        return [(p.user_id, photo) for p in self.people for photo in p.photos_missing]

    @property
    def photos_failed(self) -> list[tuple[str, PhotoProblem]]:
        return [(p.user_id, photo) for p in self.people for photo in p.photos_failed]

    def totals(self) -> dict[str, int]:
        counts = Counter(p.status for p in self.people)
        return {
            "people": len(self.people),
            "created": counts["created"],
            "updated": counts["updated"],
            "unchanged": counts["unchanged"],
            "failed": counts["failed"],
            "changes": self.changes,
            "conflicts": self.conflicts,
            "notCarried": sum(len(p.not_carried) for p in self.people),
            "photosMissing": len(self.photos_missing),
            "photosFailed": len(self.photos_failed),
        }

    def by_kind(self) -> dict[str, int]:
        """Changes by kind of item: section, memory, alert, reminder, conversation, photo."""
        counts: Counter[str] = Counter(item.split(":", 1)[0] for p in self.people for item, _ in p.changes)
        return dict(sorted(counts.items()))

    def not_carried(self) -> list[dict[str, Any]]:
        grouped = Counter((n.container, n.field, n.reason) for p in self.people for n in p.not_carried)
        return [
            {"container": c, "field": f, "reason": r, "count": n} for (c, f, r), n in sorted(grouped.items())
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dryRun": self.dry_run,
            "overwrite": self.overwrite,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "totals": self.totals(),
            "changesByKind": self.by_kind(),
            "skippedContainers": dict(sorted(self.skipped_containers.items())),
            "notFound": list(self.missing),
            "notCarried": self.not_carried(),
            "people": [p.as_json() for p in self.people],
        }
