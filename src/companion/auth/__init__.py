"""Who is calling, and what they may touch."""

from companion.auth.principal import Principal, Role
from companion.auth.service import AuthService

__all__ = ["AuthService", "Principal", "Role"]
