"""``passwords.check`` computes argon2id itself (one thread, whatever the hash's lanes): it must agree
with argon2-cffi every time, not only when the memory its buffers lived in happened to stay untouched."""

from __future__ import annotations

from argon2 import PasswordHasher

from companion.auth.passwords import check, password_hasher

PASSWORDS = ("long-enough-password-1", "סיסמה-ארוכה-מספיק")
ROUNDS = 5  # a freed buffer is overwritten by the next allocations: every round allocates (~70 ms a check)
ROUNDS_BEFORE = 2  # a four-lane hash of before takes ~0.3 s a check


def test_the_right_password_passes_every_time_and_a_wrong_one_never() -> None:
    for password in PASSWORDS:
        today = password_hasher().hash(password)
        before = PasswordHasher().hash(password)  # argon2-cffi's default: four lanes
        for hashed, rounds in ((today, ROUNDS), (before, ROUNDS_BEFORE)):
            answers = []
            for _ in range(rounds):
                churn = [bytearray(len(password) + n) for n in range(64)]  # reuse freed memory, if any
                answers.append((check(hashed, password), check(hashed, password + "!")))
                del churn
            assert answers == [(True, False)] * rounds, (password, hashed[:30])
