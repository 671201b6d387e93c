"""The elder's voice page at ``/app``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter()


def install_static(app: FastAPI) -> None:
    """Mount the page's static files (none yet)."""
