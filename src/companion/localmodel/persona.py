"""The companion's own gender, as the instructions carry it: the engine's words about itself and the
sound of its voice follow it, so the tablet, the instructions and the engine agree.

The instruction builder writes ``[companion_gender]: «female»`` (or ``«male»``) in the identity
section. Hebrew first-person present forms are gendered ("אני מקשיבה" / "אני מקשיב"); the engine's
fixed sentences write them as ``{masculine|feminine}`` and :func:`as_companion` picks one. Instructions
that do not say (a client's own) get the masculine forms, Hebrew's unmarked default.

The voice: a realtime voice that sounds female or male (``audio.output.voice``) is imitated with
espeak-ng's matching variant; a neutral one (alloy, a custom voice) follows the companion's gender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

Sex = Literal["female", "male"]

COMPANION_GENDER_KEY: Final = "companion_gender"  # prompt/render.py: identity
# How the realtime voices sound (as profiles.models.VOICE_GENDERS says; the engine stands alone).
_VOICE_SOUNDS: Final[Mapping[str, Sex]] = {
    "coral": "female",
    "sage": "female",
    "shimmer": "female",
    "marin": "female",
    "ash": "male",
    "ballad": "male",
    "echo": "male",
    "verse": "male",
    "cedar": "male",
}
# espeak-ng voice variants, appended to a language voice ("he+f3"): a middle female and male register.
ESPEAK_VARIANTS: Final[Mapping[Sex, str]] = {"female": "+f3", "male": "+m3"}
_FORMS: Final = re.compile(r"\{([^{}|]*)\|([^{}|]*)\}")


def companion_gender(values: Mapping[str, list[str]]) -> Sex | None:
    """The gender the instructions' ``[companion_gender]`` line gives, or None when they do not say."""
    said = values.get(COMPANION_GENDER_KEY, [])
    first = said[0].casefold() if said else ""
    return "female" if first == "female" else "male" if first == "male" else None


def as_companion(template: str, gender: Sex | None) -> str:
    """``template``'s ``{masculine|feminine}`` forms for the companion: feminine only when it is female.

    Only for the engine's own sentences, before any data is put in: a user's words may hold braces.
    """
    return _FORMS.sub(lambda match: match.group(2 if gender == "female" else 1), template)


def voice_sound(voice: Any, values: Mapping[str, list[str]]) -> Sex | None:
    """How the engine should sound: the realtime voice's own sound, else the companion's gender."""
    if isinstance(voice, str) and voice in _VOICE_SOUNDS:
        return _VOICE_SOUNDS[voice]
    return companion_gender(values)
