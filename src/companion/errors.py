"""One exception tree for the whole service.

Every error the service raises on purpose derives from ``CompanionError`` and carries the HTTP status
it maps to, so routes never choose status codes themselves (the mapping lives in ``api/errors.py``)::

    CompanionError (500)
    ├── InvalidInput (422)            bad field; ``field`` names it
    ├── Unauthorized (401)            no or unknown credentials
    ├── Forbidden (403)               known caller, not allowed (hidden as NotFound where existence leaks)
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── AlreadyExists (409)
    │   ├── QuotaExceeded (409)       a person's photo library is full
    │   └── SessionNotActive (409)    the live session has no open connection
    ├── TooLarge (413)                a file (or an image's pixel count) over its limit
    ├── UnsupportedType (415)         a file that is not one of the accepted kinds
    ├── PreconditionFailed (412)      stale If-Match; carries the current version
    ├── PreconditionRequired (428)    If-Match missing on an update
    ├── TooManyAttempts (429)
    ├── StoreUnavailable (503)        the database could not be reached
    │   └── StoreTimeout (503)        it did not answer in time (a statement, a lock, the connection)
    ├── ClusterUnavailable (503)      Redis (the instances' shared state) could not be reached
    ├── InstanceTimeout (504)         the instance holding a live session did not answer in time
    ├── SourceUnavailable (502)       an import's source (the seed system's database, its export) failed
    └── UpstreamError (502)           the realtime model failed
        ├── UpstreamRejected (502)    the model answered an update with an error
        ├── UpstreamLost (502)        the model connection ended under a pending operation
        └── UpstreamTimeout (504)     the model did not confirm in time
"""

from __future__ import annotations

from typing import Any, ClassVar


class CompanionError(Exception):
    """Base of every deliberate error; ``status`` is the HTTP status it maps to."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class InvalidInput(CompanionError):
    status = 422
    code = "invalid_input"


class Unauthorized(CompanionError):
    status = 401
    code = "unauthorized"


class Forbidden(CompanionError):
    status = 403
    code = "forbidden"


class NotFound(CompanionError):
    status = 404
    code = "not_found"


class Conflict(CompanionError):
    status = 409
    code = "conflict"


class AlreadyExists(Conflict):
    code = "already_exists"


class SessionNotActive(Conflict):
    code = "session_not_active"


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class TooLarge(CompanionError):
    status = 413
    code = "too_large"


class UnsupportedType(CompanionError):
    status = 415
    code = "unsupported_type"


class PreconditionFailed(CompanionError):
    """The caller's version is stale. ``current_version`` tells what it is now."""

    status = 412
    code = "version_mismatch"

    def __init__(self, message: str, *, current_version: int | None, **extra: Any) -> None:
        super().__init__(message, currentVersion=current_version, **extra)
        self.current_version = current_version


class PreconditionRequired(CompanionError):
    status = 428
    code = "if_match_required"


class TooManyAttempts(CompanionError):
    status = 429
    code = "too_many_attempts"


class StoreUnavailable(CompanionError):
    status = 503
    code = "store_unavailable"


class StoreTimeout(StoreUnavailable):
    """A statement ran, or waited for a lock, longer than the store allows: a stuck query or a
    transaction holding rows elsewhere. The same 503 as an unreachable database (try again)."""

    code = "store_timeout"


class ClusterUnavailable(CompanionError):
    status = 503
    code = "cluster_unavailable"


class InstanceTimeout(CompanionError):
    """Another instance holds the session but did not answer a routed command in time."""

    status = 504
    code = "instance_timeout"


class SourceUnavailable(CompanionError):
    """The seed system's Cosmos DB account could not be read (refused, wrong key, no such database),
    or its export could not be read (a missing folder, a file that is not JSON)."""

    status = 502
    code = "source_unavailable"


class UpstreamError(CompanionError):
    status = 502
    code = "upstream_error"


class UpstreamRejected(UpstreamError):
    code = "upstream_rejected"


class UpstreamLost(UpstreamError):
    """The model connection ended while something waited on it; a live session replaces it."""

    code = "upstream_lost"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
