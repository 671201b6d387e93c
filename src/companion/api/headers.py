"""Response headers shared by the JSON API and the elder's pages."""

from __future__ import annotations

# Answers that carry a secret (a pairing code, a client secret) or say whether a code is live must not
# be kept by a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}
