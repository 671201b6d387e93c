"""The elder's side: pairing a tablet as a device of one person, the voice page at ``/app``, the
music library the page plays from, and the family's photos it shows.

``install(app)`` adds the routes and static files; each module owns one concept.
"""

from __future__ import annotations

from fastapi import FastAPI

from companion.api.routing import add_routes
from companion.elder import music_routes, page, pair_routes, photo_routes, reminder_routes


def install(app: FastAPI) -> None:
    page.install_static(app)
    add_routes(app, *(m.router for m in (pair_routes, music_routes, photo_routes, reminder_routes, page)))


__all__ = ["install"]
