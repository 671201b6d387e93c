"""The tools the model may call, and what the relay does with each call.

``remember``, ``alert_family`` and ``show_photos`` are answered by the relay itself (the elder's app
never sees the calls). ``show_photos`` also has something for the app: which photo to put on the screen,
a client notice that the session forwards with the answer (``ToolResult.client_events``).
``play_music`` and ``stop_music`` belong to the app, but ``play_music`` is checked first against the
person's current music preferences: a refused request is answered to the model with what it may play
and never reaches the app, so a removed artist is not played even if the model ignores its instructions.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from companion.care.alerting import FAMILY_SERVICE
from companion.care.alerts import AlertService
from companion.care.reminder_tools import REMINDER_TOOL_NAMES, run_reminder_tool
from companion.errors import CompanionError
from companion.profiles.models import MEDIUM_TEXT, CareContext, MemorySource, Music
from companion.profiles.service import ProfileService
from companion.prompt import tool_definitions
from companion.prompt.sanitize import fold_name, sanitize_value
from companion.store.base import JobRecord

if TYPE_CHECKING:
    from companion.care.reminders import ReminderService
    from companion.photos.service import PhotoService

log = logging.getLogger(__name__)

PHOTO_TOOL = "show_photos"
SERVER_TOOLS = frozenset({"remember", "alert_family", PHOTO_TOOL, *REMINDER_TOOL_NAMES})
MUSIC_TOOLS = frozenset({"play_music", "stop_music"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    call_id: str
    item_id: str
    arguments: str

    def args(self) -> dict[str, Any]:
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A server tool's answer to the model, and the events (if any) the elder's app must also get."""

    output: dict[str, Any]
    client_events: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class MusicDecision:
    allowed: bool
    output: dict[str, Any]


@functools.cache
def _definitions() -> tuple[dict[str, Any], ...]:
    """Copied once: a deep copy on every refresh was ~7% of the refresh's CPU time in a profile."""
    return tuple(tool_definitions())


def tools_for(context: CareContext) -> list[dict[str, Any]]:
    """Every tool, except the music ones when music is switched off for this person, and
    ``show_photos`` when the family has added no photos.

    The definitions are shared by all sessions and must not be changed: ``protocol.session_update``
    sends a deep copy, and nothing else edits them.
    """
    tools = list(_definitions())
    if not context.music.enabled:
        tools = [t for t in tools if t.get("name") not in MUSIC_TOOLS]
    if not context.photos:
        tools = [t for t in tools if t.get("name") != PHOTO_TOOL]
    return tools


def check_music(music: Music, args: dict[str, Any], played: int) -> MusicDecision:
    """Decide a ``play_music`` request against the preferences as they are now."""
    artists = list(music.preferred_artists)
    may_play: dict[str, Any] = {  # named as the instructions show them, so asking for one is allowed
        "artists": _as_shown(artists),
        "songs": _as_shown(music.preferred_songs),
        "genres": _as_shown(music.preferred_genres),
    }

    def refuse(reason: str, message: str) -> MusicDecision:
        return MusicDecision(False, {"ok": False, "error": reason, "message": message, "mayPlay": may_play})

    if not music.enabled:
        return refuse("music_disabled", "Music is switched off for this person; do not offer music.")
    if played >= music.max_songs_per_session:
        return refuse(
            "song_limit_reached",
            f"The limit of {music.max_songs_per_session} songs for this conversation has been reached.",
        )
    artist = fold_name(str(args.get("artist") or ""))
    song = fold_name(str(args.get("song") or ""))
    genre = fold_name(str(args.get("genre") or ""))
    if artist and artist in {fold_name(a) for a in music.disliked_artists}:
        return refuse(
            "artist_disliked", "This person does not want to hear this artist. Offer one of mayPlay."
        )
    if artist:
        if artist in {fold_name(a) for a in artists}:
            return MusicDecision(True, {})
        return refuse(
            "artist_not_preferred", "This artist is not in the person's music list. Offer one of mayPlay."
        )
    if song and song in {fold_name(s) for s in music.preferred_songs}:
        return MusicDecision(True, {})
    if genre and genre in {fold_name(g) for g in music.preferred_genres}:
        return MusicDecision(True, {})
    return refuse("not_preferred", "Only the person's preferred artists, songs or genres may be played.")


def _as_shown(names: Sequence[str]) -> list[str]:
    return [shown for shown in (sanitize_value(name) for name in names) if shown]


class ToolRuntime:
    """Runs the server-side tools for one user's session."""

    def __init__(
        self,
        profiles: ProfileService,
        alerts: AlertService,
        reminders: ReminderService | None = None,
        photos: PhotoService | None = None,
    ) -> None:
        self._profiles = profiles
        self._alerts = alerts
        self.reminders = reminders  # None: the reminder tools answer "unknown tool"
        self.photos = photos  # None: show_photos answers "unknown tool"

    async def answer(self, call: ToolCall, *, user_id: str, session_id: str) -> ToolResult:
        """The model's answer, and what the elder's app must be told besides (a photo to show)."""
        if call.name == PHOTO_TOOL and self.photos is not None:
            try:
                shown = await self.photos.show(user_id, session_id, call.args())
            except CompanionError as exc:
                return ToolResult({"ok": False, "error": exc.code, "message": exc.message})
            return ToolResult(shown.output, (shown.notice,) if shown.notice is not None else ())
        return ToolResult(await self.run(call, user_id=user_id, session_id=session_id))

    async def run(self, call: ToolCall, *, user_id: str, session_id: str) -> dict[str, Any]:
        """The model's answer alone (``answer`` has the app's events too)."""
        args = call.args()
        try:
            if call.name == PHOTO_TOOL and self.photos is not None:
                return (await self.answer(call, user_id=user_id, session_id=session_id)).output
            if call.name == "remember":
                return await self._remember(user_id, args, session_id)
            if call.name in REMINDER_TOOL_NAMES and self.reminders is not None:
                return await run_reminder_tool(self.reminders, call.name, args, user_id)
            if call.name == "alert_family":
                alert, jobs = await self._alerts.record(user_id, _alert_body(args), session_id=session_id)
                log.info(
                    "alert %s (%s) recorded for user %s, %d messages queued",
                    alert.id,
                    alert.severity.value,
                    user_id,
                    len(jobs),
                )
                return alert_answer(alert.id, jobs)
        except CompanionError as exc:
            return {"ok": False, "error": exc.code, "message": exc.message}
        return {"ok": False, "error": "unknown_tool", "message": f"No tool named {call.name}"}

    async def _remember(self, user_id: str, args: dict[str, Any], session_id: str) -> dict[str, Any]:
        text = args.get("text") or args.get("value") or ""
        key = args.get("key")
        if key and text and key not in text:
            text = f"{key}: {text}"
        body: dict[str, Any] = {"text": text}
        if args.get("type"):
            body["type"] = args["type"]
        if args.get("importance") is not None:
            body["importance"] = args["importance"]
        memory, _ = await self._profiles.add_memory(
            user_id, body, source=MemorySource.CONVERSATION, conversation_id=session_id
        )
        return {"ok": True, "memoryId": memory.id}


NOBODY_TOLD: Final = (
    "The alert is recorded on the family's dashboard, but no one was sent a message. "
    "Do not say anyone is coming."
)
SOMEONE_TOLD: Final = (
    "A message about this is being sent to: {names}. You may tell the person that {names} "
    "will get a message. Do not promise that anyone is coming, or when: no one has answered yet."
)


def alert_answer(alert_id: str, jobs: Sequence[JobRecord]) -> dict[str, Any]:
    """What ``alert_family`` tells the model: exactly who was queued a message, nothing more."""
    notified = [
        {"name": job.contact or FAMILY_SERVICE, "channel": job.channel, "status": "queued"} for job in jobs
    ]
    if not notified:
        return {"ok": True, "alertId": alert_id, "notified": [], "message": NOBODY_TOLD}
    names = ", ".join(dict.fromkeys(n["name"] for n in notified))
    return {
        "ok": True,
        "alertId": alert_id,
        "notified": notified,
        "message": SOMEONE_TOLD.format(names=names),
    }


def _alert_body(args: dict[str, Any]) -> dict[str, Any]:
    summary = args.get("summary") or args.get("what_was_asked") or args.get("message") or "(no details given)"
    return {
        "severity": args.get("severity") or "high",
        "summary": str(summary)[:MEDIUM_TEXT],
        "rule": str(args.get("rule") or "")[:MEDIUM_TEXT],
    }
