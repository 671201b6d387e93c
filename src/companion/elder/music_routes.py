"""The music library as the elder's page sees it."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
