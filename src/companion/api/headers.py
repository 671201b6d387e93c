"""Response headers shared by the JSON API and the elder's pages."""

from __future__ import annotations

# Answers that carry a secret (a pairing code, a client secret) or say whether a code is live must not
# be kept by a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}
# The elder's pages name the person or carry a code: never cached, and referrers stay on this origin.
# Not "no-referrer": under it Chromium posts their forms with "Origin: null", which the same-origin
# check must refuse.
PRIVATE_PAGE = {**NO_STORE, "Referrer-Policy": "same-origin"}
NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # files are only ever what their Content-Type says
