"""What the import owns of a document, and how a later import tells its own changes from the family's.

An import owns only the fields the source gave (``partial``, in our JSON shape); everything else of a
section (the companion's voice, what is kept of conversations, a contact's e-mail) belongs here and is
kept when the import writes. For each owned field the import remembers a digest of what it wrote. Next
time, the source's new values and the stored document's current values are both compared with those
digests: only the source changed -> update; only here -> the family's edit stays (a conflict, unless
``--overwrite``); neither -> nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

DIGESTS_KEPT: Final = 4096  # scalar values whose digest is remembered (a few hundred KB at most)
_DIGESTS: dict[tuple[type, Any], str] = {}

# Lists of objects whose items keep fields of ours (matched by name): only these keys are the import's.
LIST_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "emergencyContacts": ("name", "relationship", "phone"),
    "familyMembers": ("name", "relationship", "phone", "isEmergencyContact"),
}


def digest(value: Any) -> str:
    """A short digest of a JSON value (a plain text or number without the cost of JSON). The same
    texts and numbers come back again and again (a medication's name, a state, a time of day): their
    digests are remembered."""
    if value is None or isinstance(value, (str, int, float, bool)):
        key = (value.__class__, value)
        found = _DIGESTS.get(key)
        if found is None:
            found = _hash(f"{type(value).__name__}:{value}")
            if len(_DIGESTS) >= DIGESTS_KEPT:
                _DIGESTS.clear()
            _DIGESTS[key] = found
        return found
    return _hash(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def paths(partial: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The owned fields of a partial document, as dotted paths (a list is one field)."""
    out: list[str] = []
    for key, value in partial.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out += paths(value, path + ".")
        else:
            out.append(path)
    return out


def _get(body: Mapping[str, Any], path: str) -> Any:
    if "." in path:
        node: Any = body
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        last = path.rsplit(".", 1)[-1]
    else:  # most owned fields are top-level ones
        node, last = body.get(path), path
    if last in LIST_KEYS and isinstance(node, list):
        keys = LIST_KEYS[last]
        return [{k: item.get(k) for k in keys} for item in node if isinstance(item, Mapping)]
    return node


def fingerprint(body: Mapping[str, Any] | None, owned: list[str]) -> dict[str, str]:
    """A digest of each owned field's value in ``body`` (a missing document: every value None)."""
    return {path: digest(_get(body or {}, path)) for path in owned}


def merge(current: Mapping[str, Any] | None, partial: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with the owned fields replaced by ``partial``'s. Items of a ``LIST_KEYS`` list keep
    the fields of ours of the current item with the same name."""
    out = dict(current or {})  # new dicts on the way down; values are never changed in place
    for key, value in partial.items():
        here = out.get(key)
        if isinstance(value, Mapping) and value and isinstance(here, Mapping | type(None)):
            out[key] = merge(here, value)
        elif key in LIST_KEYS and isinstance(value, list) and isinstance(here, list):
            by_name = {
                str(item.get("name", "")).casefold(): item for item in here if isinstance(item, Mapping)
            }
            out[key] = [{**by_name.get(str(item.get("name", "")).casefold(), {}), **item} for item in value]
        else:
            out[key] = value
    return out
