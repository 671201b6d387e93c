"""Which photo the companion shows next: a pure, deterministic function of plain data.

Given the person's photos (as the family described them, in the family's order), what the model asked
for, what this conversation already showed, and when each photo was last shown:

- names are matched against the people in a photo (and its caption), keywords against people,
  caption, place and time, all folded (``folding``: Hebrew with or without niqqud, English case-folded);
- a photo marked "only when asked" is a candidate only when the person asked for photos
  (``user_requested_photos``) and it matches what they asked for;
- with names or keywords, only matching photos are candidates; without, every candidate is;
- candidates are ranked by how well they match, then those not shown in the last week before those
  that were (the longest ago first), then the family's order;
- a conversation shows at most ``per_conversation`` photos, and never the same one twice;
- ``next_photo`` continues the selection of the last request, skipping photos deleted meanwhile.

The same inputs always give the same answer; nothing here reads a clock or a store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

from companion.photos.folding import contains, words
from companion.profiles.models import Photo

REASONS: Final = (
    "user_mentioned_family",
    "user_expressed_sadness",
    "long_conversation_engagement",
    "user_requested_photos",
)
ASKED: Final = "user_requested_photos"
RECENT: Final = timedelta(days=7)  # a photo shown within this is shown again only after the others
NAME_IN_PEOPLE: Final = 3  # the person named is in the photo: the best reason to show it
KEYWORD_IN_PEOPLE: Final = 2
IN_TEXT: Final = 1  # a name or keyword in the caption, the place or the time


@dataclass(frozen=True, slots=True)
class Request:
    reason: str = "user_requested_photos"
    names: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    next_photo: bool = False

    @property
    def asked(self) -> bool:
        return self.reason == ASKED


@dataclass(frozen=True, slots=True)
class Viewing:
    """What one conversation has seen: the last selection, where in it, and every photo shown."""

    request: Request = field(default_factory=Request)
    selection: tuple[str, ...] = ()
    index: int = -1  # of the photo on screen in ``selection``
    shown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Showing:
    photo: Photo
    number: int  # 1-based, among the selection's photos that still exist
    total: int
    has_more: bool
    viewing: Viewing


NoPhotoReason = Literal["no_photos", "no_match", "limit_reached", "no_more"]


@dataclass(frozen=True, slots=True)
class NoPhoto:
    reason: NoPhotoReason
    viewing: Viewing


def choose(
    photos: Sequence[Photo],
    request: Request,
    viewing: Viewing,
    *,
    last_shown: Mapping[str, datetime | None],
    now: datetime,
    per_conversation: int,
) -> Showing | NoPhoto:
    if request.next_photo and viewing.selection:
        return _next(photos, viewing, per_conversation)
    if not photos:
        return NoPhoto("no_photos", viewing)
    if len(viewing.shown) >= per_conversation:
        return NoPhoto("limit_reached", viewing)
    ranked = rank(photos, request, last_shown=last_shown, now=now, exclude=frozenset(viewing.shown))
    if not ranked:
        return NoPhoto("no_match", viewing)
    selection = tuple(p.id for p in ranked[: per_conversation - len(viewing.shown)])
    return _show(photos, Viewing(request, selection, -1, viewing.shown), 0)


def rank(
    photos: Sequence[Photo],
    request: Request,
    *,
    last_shown: Mapping[str, datetime | None],
    now: datetime,
    exclude: frozenset[str] = frozenset(),
) -> list[Photo]:
    """The candidates for ``request``, best first (see the module docstring)."""
    wanted = bool(request.names or request.keywords)
    order = {p.id: i for i, p in enumerate(photos)}
    scored = []
    for photo in photos:
        if photo.id in exclude:
            continue
        points = score(photo, request)
        if photo.only_when_asked and not (request.asked and points > 0):
            continue
        if wanted and points == 0:
            continue
        shown_at = last_shown.get(photo.id)
        recent = shown_at is not None and now - shown_at < RECENT
        ago = shown_at.timestamp() if recent and shown_at is not None else 0.0
        scored.append((-points, recent, ago, order[photo.id], photo))
    scored.sort(key=lambda entry: entry[:4])
    return [entry[4] for entry in scored]


def score(photo: Photo, request: Request) -> int:
    """How well ``photo`` matches the names and keywords asked for (0: not at all)."""
    people = [words(person) for person in photo.people]
    text = words(" ".join((photo.caption, photo.where, photo.when)))
    points = 0
    for name in request.names:
        asked = words(name)
        if any(_same_person(asked, person) for person in people):
            points += NAME_IN_PEOPLE
        elif contains(text, asked):
            points += IN_TEXT
    for keyword in request.keywords:
        asked = words(keyword)
        if any(_same_person(asked, person) for person in people):
            points += KEYWORD_IN_PEOPLE
        elif contains(text, asked):
            points += IN_TEXT
    return points


def _same_person(asked: tuple[str, ...], person: tuple[str, ...]) -> bool:
    """ "Noam" is "Noam Cohen", and "Noam Cohen" is a photo's "Noam"."""
    return contains(person, asked) or contains(asked, person)


def _next(photos: Sequence[Photo], viewing: Viewing, per_conversation: int) -> Showing | NoPhoto:
    if len(viewing.shown) >= per_conversation:
        return NoPhoto("limit_reached", viewing)
    present = {p.id for p in photos}
    for index in range(viewing.index + 1, len(viewing.selection)):
        if viewing.selection[index] in present and viewing.selection[index] not in viewing.shown:
            return _show(photos, viewing, index)
    return NoPhoto("no_more", viewing)


def _show(photos: Sequence[Photo], viewing: Viewing, index: int) -> Showing:
    by_id = {p.id: p for p in photos}
    alive = [photo_id for photo_id in viewing.selection if photo_id in by_id]
    photo_id = viewing.selection[index]
    later = [
        i
        for i in range(index + 1, len(viewing.selection))
        if viewing.selection[i] in by_id and viewing.selection[i] not in viewing.shown
    ]
    shown = (*viewing.shown, photo_id)
    return Showing(
        photo=by_id[photo_id],
        number=alive.index(photo_id) + 1,
        total=len(alive),
        has_more=bool(later),  # the selection was cut to what the conversation may still show
        viewing=Viewing(viewing.request, viewing.selection, index, shown),
    )
