"""Where the elder's side lives: the paths its page, its routes and the family's links share."""

from __future__ import annotations

APP = "/app"  # the page itself (no trailing slash: the service worker's scope is this)
PAIR = APP + "/pair"  # a code is redeemed by POST here; its link (the QR code) is PAIR/<code>
SESSION = APP + "/session"  # a paired page's client secrets
MUSIC = APP + "/music"
PHOTOS = APP + "/photos"  # the family's photos, fetched with the paired device's cookie
STATIC = APP + "/static"
