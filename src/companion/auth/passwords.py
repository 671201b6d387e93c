"""Caregiver passwords: argon2id at OWASP's parameters, hashed and checked on one thread, niced.

Live audio relays share the event loop with sign-ins, so the work must never take every core. New
hashes have one lane (one thread by construction). Hashes made before carry argon2-cffi's default of
four lanes, and its ``verify`` runs one thread per lane: on two cores, a burst of wrong passwords for
such accounts starved the loop's own thread (a /health polled during 16 of them waited up to 470 ms;
``bench/scenarios/signins.py`` measures it). Lanes are part of the hash but threads are not (libargon2
computes the lanes of a pass one after another when given one thread, with the same result), so
``check`` computes every hash on one thread, whatever its lanes. Such a hash is replaced at the
caregiver's next successful sign-in (``needs_rehash``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from argon2 import PasswordHasher, Type, extract_parameters, low_level
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id minimum (Password Storage Cheat Sheet): ~70 ms here, on one core.
ARGON2_MEMORY_KIB: Final = 19 * 1024
ARGON2_PASSES: Final = 2
ARGON2_LANES: Final = 1
ARGON2_THREADS: Final = 1  # whatever a stored hash's lanes: one core for a check, never more
PASSWORD_WORKERS: Final = 1  # checks at once: a burst of sign-ins queues instead of taking the cores
# The worker's nice value: the kernel favours the event loop's thread over it when both want a core,
# while on an idle machine a check runs as fast as before. 10 is what `nice` itself adds.
PASSWORD_WORKER_NICE: Final = 10
ARGON2_VERSION: Final = low_level.ARGON2_VERSION
_ffi = low_level.ffi
_lib = low_level.lib  # type: ignore[attr-defined]  # re-exported by argon2-cffi without a type
_PHC_FIELDS: Final = 6  # "", "argon2id", "v=19", "m=..,t=..,p=..", salt, digest


def _lower_priority() -> None:
    """The pool thread's initializer. Linux gives every thread its own nice value; elsewhere, or when
    the process may not change it, the thread simply runs at the process's priority."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_WORKER_NICE)


# One pool for the process, not bound to any event loop; its thread starts on the first sign-in.
PASSWORD_POOL: Final = ThreadPoolExecutor(
    max_workers=PASSWORD_WORKERS, thread_name_prefix="argon2", initializer=_lower_priority
)


def password_hasher() -> PasswordHasher:
    """The hasher of new passwords (and of rehashes at sign-in)."""
    return PasswordHasher(time_cost=ARGON2_PASSES, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_LANES)


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def check(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from, computed on one thread. A hash
    this function does not recognise (not argon2id version 19) is left to argon2-cffi's own check."""
    try:
        params = extract_parameters(password_hash)
        fields = password_hash.split("$")
        if params.type is not Type.ID or params.version != ARGON2_VERSION or len(fields) != _PHC_FIELDS:
            return _library_check(password_hash, password)
        salt, expected = _unb64(fields[4]), _unb64(fields[5])
    except (InvalidHashError, ValueError, binascii.Error):
        return False
    secret = password.encode()
    out = _ffi.new("uint8_t[]", len(expected))
    # Named, not built inside the struct below: a cdata buffer lives only as long as a Python reference
    # to it, and the struct keeps only its address (a freed buffer made every other check fail).
    pwd = _ffi.new("uint8_t[]", secret)
    salt_buffer = _ffi.new("uint8_t[]", salt)
    context = _ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": len(expected),
            "pwd": pwd,
            "pwdlen": len(secret),
            "salt": salt_buffer,
            "saltlen": len(salt),
            "secret": _ffi.NULL,
            "secretlen": 0,
            "ad": _ffi.NULL,
            "adlen": 0,
            "t_cost": params.time_cost,
            "m_cost": params.memory_cost,
            "lanes": params.parallelism,
            "threads": ARGON2_THREADS,
            "allocate_cbk": _ffi.NULL,
            "free_cbk": _ffi.NULL,
            "flags": _lib.ARGON2_DEFAULT_FLAGS,
            "version": ARGON2_VERSION,
        },
    )
    if low_level.core(context, Type.ID.value) != _lib.ARGON2_OK:  # cffi releases the GIL for the call
        return False
    return hmac.compare_digest(bytes(_ffi.buffer(out, len(expected))), expected)


def _library_check(password_hash: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
