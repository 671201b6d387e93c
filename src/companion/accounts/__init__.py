"""Account rules shared by every entry point (API, CLI, dashboard): people, caregivers, tokens, erasure."""

from companion.accounts.service import CLI_ACTOR, AccountService, CaregiverView

__all__ = ["CLI_ACTOR", "AccountService", "CaregiverView"]
