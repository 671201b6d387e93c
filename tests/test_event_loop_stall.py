"""Password hashing must not stall the event loop: live audio relays share it with sign-ins."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from argon2 import Parameters, PasswordHasher, extract_parameters

from companion.auth import AuthService
from companion.auth.passwords import check, password_hasher
from companion.store import CaregiverRecord

pytestmark = pytest.mark.real_passwords  # the hashing itself is what is watched

TICK = 0.005  # a coroutine that wants to run every 5 ms, like an audio relay
MAX_GAP = 0.05  # the longest pause it may see (one argon2 run on the loop is ~130 ms on an idle machine)


class _Accounts:
    """Only what password checks touch."""

    def __init__(self) -> None:
        self.caregivers: dict[str, CaregiverRecord] = {}

    async def add_caregiver_assigned(self, caregiver: CaregiverRecord, user_ids: list[str]) -> None:
        self.caregivers[caregiver.username] = caregiver

    async def find_caregiver_by_username(self, username: str) -> CaregiverRecord | None:
        return self.caregivers.get(username)

    async def update_caregiver_password(self, caregiver_id: str, password_hash: str) -> bool:
        for username, record in self.caregivers.items():
            if record.id == caregiver_id:
                self.caregivers[username] = replace(record, password_hash=password_hash)
                return True
        return False


async def _max_gap_while(work: asyncio.Future[object]) -> float:
    worst = 0.0
    last = time.perf_counter()
    while not work.done():
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        worst = max(worst, now - last)
        last = now
    await work
    return worst


async def test_sign_ins_do_not_stall_a_concurrent_ticker() -> None:
    accounts = _Accounts()
    auth = AuthService(accounts)  # type: ignore[arg-type]
    await auth.create_caregiver(name="Dana", username="dana", password="dana-password-1")

    async def sign_ins() -> list[CaregiverRecord | None]:
        return await asyncio.gather(
            auth.verify_caregiver("dana", "dana-password-1"),
            auth.verify_caregiver("dana", "wrong-password"),
            auth.verify_caregiver("nobody", "whatever-pass"),
            auth.create_caregiver(name="Eli", username="eli", password="eli-password-1"),
        )

    # On a busy machine the worker threads compete with the loop for a core, and every pause grows with
    # the load; one argon2 run timed here keeps the bound fair (on the loop, the four runs stall it ~4x).
    started = time.perf_counter()
    PasswordHasher().hash("reference")
    bound = max(MAX_GAP, time.perf_counter() - started)

    work = asyncio.ensure_future(sign_ins())
    gap = await _max_gap_while(work)
    ok, wrong, unknown, _created = work.result()
    assert ok is not None and ok.username == "dana"
    assert wrong is None and unknown is None
    assert await auth.verify_caregiver("eli", "eli-password-1") is not None
    assert gap < bound, f"the event loop stalled for {gap * 1000:.0f} ms during sign-ins"


def _parameters(password_hash: str) -> Parameters:
    return extract_parameters(password_hash)


async def test_new_passwords_are_hashed_on_one_lane_at_owasp_strength() -> None:
    """One lane is one thread: a run can never take more than one core from the event loop."""
    accounts = _Accounts()
    auth = AuthService(accounts)  # type: ignore[arg-type]
    await auth.create_caregiver(name="Dana", username="dana", password="dana-password-1")
    params = _parameters(accounts.caregivers["dana"].password_hash)
    assert params.type.name == "ID"
    assert params.parallelism == 1
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    assert params == _parameters(password_hasher().hash("x"))


async def test_a_hash_with_older_parameters_verifies_and_is_rehashed_at_sign_in() -> None:
    accounts = _Accounts()
    auth = AuthService(accounts)  # type: ignore[arg-type]
    await auth.create_caregiver(name="Dana", username="dana", password="dana-password-1")
    legacy = PasswordHasher().hash("dana-password-1")  # argon2-cffi's default: four lanes, 64 MiB
    accounts.caregivers["dana"] = replace(accounts.caregivers["dana"], password_hash=legacy)
    assert _parameters(legacy).parallelism == 4

    assert await auth.verify_caregiver("dana", "wrong-password") is None
    assert accounts.caregivers["dana"].password_hash == legacy  # a wrong password changes nothing

    assert await auth.verify_caregiver("dana", "dana-password-1") is not None
    rehashed = accounts.caregivers["dana"].password_hash
    assert rehashed != legacy and _parameters(rehashed).parallelism == 1
    assert await auth.verify_caregiver("dana", "dana-password-1") is not None
    assert accounts.caregivers["dana"].password_hash == rehashed  # current parameters: no second rehash


def test_a_check_on_one_thread_agrees_with_argon2_for_hashes_of_any_lane_count() -> None:
    """Hashes from before have four lanes; ``check`` computes them on one thread (a core, not four)
    and must answer exactly as argon2-cffi's own verify does."""
    from argon2 import Type

    hashes = [
        PasswordHasher().hash("right-password"),  # argon2-cffi's default: four lanes, 64 MiB
        PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=3).hash("right-password"),
        password_hasher().hash("right-password"),
        PasswordHasher(type=Type.I).hash("right-password"),  # not argon2id: the library's check
    ]
    for stored in hashes:
        assert check(stored, "right-password") is True, stored
        assert check(stored, "wrong-password") is False, stored
        assert check(stored, "right-password ") is False
    assert check("$argon2id$v=19$m=19456,t=2,p=1$bm90LWJhc2U2NA$!!!", "right-password") is False
    assert check("not a hash", "right-password") is False
