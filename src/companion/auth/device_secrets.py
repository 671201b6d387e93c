"""The secrets a tablet lives by: the pairing code it is given, the cookie it keeps, and the
single-use client secrets it opens live sessions with.

Only hashes of any of them are stored. The cookie and client secrets carry 256 bits, so a fast hash
is enough. A pairing code is short enough to type, so its hash alone would not hide it from someone who
reads the database; what protects it is that it lives ten minutes, works once, and guessing it online
is throttled per client address.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

PAIRING_CODE_DIGITS = 6  # typeable by a helper on a tablet; a million codes against a throttled guesser
PAIRING_CODE_TTL = timedelta(minutes=10)  # time to walk to the tablet and type it, little for a guesser
PAIRING_RECORD_KEEP = timedelta(days=1)  # a used or expired code answers "used"/"expired" this long
CLIENT_SECRET_PREFIX = "ek_"  # as OpenAI's ephemeral keys: tells them apart from bearer tokens
CLIENT_SECRET_TTL = timedelta(seconds=60)  # the page opens its socket right after asking for one
# A conversation opened with a tablet's one-time secret ends this long after it began (1008, "access
# expired"), as one opened with an expiring token ends when the token does: the page then fetches a new
# secret with its cookie (which checks that the tablet is still paired) and reconnects at once.
DEVICE_SESSION_LIFETIME = timedelta(hours=8)
SECRET_BYTES = 32  # 256 bits for the device cookie and client secrets: guessing is hopeless
DEVICE_ID_BYTES = 8

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u00a0]+")
_CODE = re.compile(rf"^[0-9]{{{PAIRING_CODE_DIGITS}}}$")


def hash_secret(value: str) -> str:
    """How every high-entropy secret is stored: bearer tokens, device cookies, client secrets."""
    return hashlib.sha256(value.encode()).hexdigest()


def hash_pairing_code(code: str) -> str:
    # Domain-separated from the other secrets so a code's hash can never match a token's.
    return hash_secret("pairing-code:" + code)


def new_pairing_code() -> str:
    return f"{secrets.randbelow(10**PAIRING_CODE_DIGITS):0{PAIRING_CODE_DIGITS}d}"


def normalise_pairing_code(raw: str) -> str | None:
    """``"123 456"``, ``"123-456"`` -> ``"123456"``; None when it cannot be a code."""
    code = _SEPARATORS.sub("", raw or "")
    return code if _CODE.match(code) else None


def new_device_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def new_device_id() -> str:
    return "dev-" + secrets.token_hex(DEVICE_ID_BYTES)
