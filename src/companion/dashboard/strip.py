"""The 14-day strip of the person's page, drawn by the service as SVG: minutes talked per day (bars)
and doses taken per day (a number under each bar). No script, no font or image from elsewhere; it
scales to the width of a phone (``viewBox``), and every bar has a title a screen reader reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

from companion.conversations.today import Day

WIDTH: Final = 420
BAR_AREA: Final = 90  # the tallest bar
TOP: Final = 6
LABEL_Y: Final = TOP + BAR_AREA + 16
DOSES_Y: Final = LABEL_Y + 16
HEIGHT: Final = DOSES_Y + 6
MIN_SCALE_MINUTES: Final = 30.0  # a quiet fortnight is not drawn as if every day were full


def strip_svg(days: Sequence[Day], *, title: str, bar_title: str, rtl: bool = False) -> str:
    """``bar_title`` is a template with ``{date}``, ``{minutes}`` and ``{doses}``. Days run oldest to
    newest from the reading side: right to left on a Hebrew page."""
    count = max(1, len(days))
    slot = WIDTH / count
    scale = max(MIN_SCALE_MINUTES, *(d.minutes for d in days)) if days else MIN_SCALE_MINUTES
    parts = [
        f'<svg class="strip" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" y1="{TOP + BAR_AREA}" x2="{WIDTH}" y2="{TOP + BAR_AREA}" class="axis"/>',
    ]
    for i, day in enumerate(days):
        position = count - 1 - i if rtl else i
        x = position * slot
        height = round(BAR_AREA * day.minutes / scale, 1) if day.minutes else 0
        label = bar_title.format(date=day.day.isoformat(), minutes=round(day.minutes), doses=day.doses)
        parts.append(
            f'<g class="day"><title>{escape(label)}</title>'
            f'<rect x="{x + slot * 0.15:.1f}" y="{TOP + BAR_AREA - height:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(height, 0.5):.1f}" class="{"talk" if day.minutes else "talk none"}"/>'
            f'<text x="{x + slot / 2:.1f}" y="{LABEL_Y}" class="date">{day.day.day}</text>'
            f'<text x="{x + slot / 2:.1f}" y="{DOSES_Y}" class="doses">{day.doses}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
