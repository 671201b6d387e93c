"""Password hashing must not stall the event loop: live audio relays share it with sign-ins."""

from __future__ import annotations

import asyncio
import time

from argon2 import PasswordHasher

from companion.auth import AuthService
from companion.store import CaregiverRecord

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
