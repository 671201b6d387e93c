"""Companion: a realtime voice-companion backend whose instructions follow the care profile live."""

__version__ = "0.1.0"
