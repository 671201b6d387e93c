"""Pairing a browser as a device of one person: ``/app/pair``, ``/app/session``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
