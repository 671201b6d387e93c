"""The companion speaks first: what the relay adds to a new conversation so that the model greets the
person for the time of day where they live.

The instructions carry no clock (their version must stay stable for hours), so the local time goes
into the conversation instead, as one system message when the conversation starts. Pure: the time is
passed in, so the decisions are tested with plain data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from companion.profiles.models import CareContext
from companion.realtime import protocol

PartOfDay = Literal["morning", "afternoon", "evening", "night"]
DEFAULT_TIMEZONE: Final = "Asia/Jerusalem"  # the profile's own default; used when a zone is unknown
# Hours at which each part of the day begins, as people say it (a greeting at 04:30 is still "night").
MORNING_FROM: Final = 5
AFTERNOON_FROM: Final = 12
EVENING_FROM: Final = 17
NIGHT_FROM: Final = 21


def part_of_day(hour: int) -> PartOfDay:
    if MORNING_FROM <= hour < AFTERNOON_FROM:
        return "morning"
    if AFTERNOON_FROM <= hour < EVENING_FROM:
        return "afternoon"
    if EVENING_FROM <= hour < NIGHT_FROM:
        return "evening"
    return "night"


def zone_of(context: CareContext) -> ZoneInfo:
    name = context.profile.personal_info.timezone if context.profile else DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def greeting_message(context: CareContext, now: datetime, *, note: str | None = None) -> dict[str, Any]:
    """A system message item: the local time, tagged the way the instruction builder tags data lines
    (``[key]: «value»``), and what to do with it. ``now`` must be aware.

    ``note`` (a reminder's note, when the page opened the conversation for it) is said in the same
    answer right after the greeting: one greeting, then the reminder, in one response."""
    local = now.astimezone(zone_of(context))
    lines = [
        "The conversation has just started; the person has not spoken yet.",
        f"Local time where the person lives [local_time]: «{local:%H:%M}»",
        f"Part of the day [part_of_day]: «{part_of_day(local.hour)}»",
    ]
    if note is None:
        lines.append(
            "Speak first: greet the person warmly by name for this time of day, in their language, "
            "and ask one short, gentle question."
        )
    else:
        lines += [
            "Speak first: greet the person warmly by name for this time of day, in their language, in "
            "one short sentence. Then, in the same answer and without greeting again:",
            note,
        ]
    return protocol.system_message_item("\n".join(lines))
