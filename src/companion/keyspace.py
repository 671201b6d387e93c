"""The service's names in a shared Redis: the cluster, the sign-in throttles and the dashboard's sessions
all write there, so the prefix they share lives below all of them."""

from __future__ import annotations

from typing import Final

KEY_PREFIX: Final = "companion:"  # every key and channel the service uses in Redis starts with this
