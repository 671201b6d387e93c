"""Care context -> the realtime model's instructions, in the person's language.

``build(context)`` is pure and deterministic: same context, same text, same ``version``. Caregiver
text is sanitised and quoted as data (``sanitize_value``); the fixed wording lives in per-language
packs (``LANGUAGES``); the function tools the model may call are in ``TOOLS``.
"""

from __future__ import annotations

from .builder import DEFAULT_BUDGET_TOKENS, Instructions, build
from .lang import LANGUAGES, LanguagePack
from .render import Section
from .sanitize import sanitize_value
from .tokens import estimate_tokens
from .tools import TOOLS, tool_definitions

__all__ = [
    "DEFAULT_BUDGET_TOKENS",
    "LANGUAGES",
    "TOOLS",
    "Instructions",
    "LanguagePack",
    "Section",
    "build",
    "estimate_tokens",
    "sanitize_value",
    "tool_definitions",
]
