"""``build``: how long the instruction builder takes for a maximum-size profile (and a realistic one).

Runs in the load generator's process before the service starts, so nothing else competes for the CPU.
"""

from __future__ import annotations

import time
from typing import Any

from bench.config import BenchConfig
from bench.data import max_context, realistic_context
from bench.stats import summary_ms
from companion.profiles.models import CareContext
from companion.prompt import DEFAULT_BUDGET_TOKENS, build

WARMUP_BUILDS = 3


def _time(context: CareContext, samples: int) -> tuple[dict[str, Any], Any]:
    for _ in range(WARMUP_BUILDS):
        built = build(context, budget_tokens=DEFAULT_BUDGET_TOKENS)
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        built = build(context, budget_tokens=DEFAULT_BUDGET_TOKENS)
        durations.append(time.perf_counter() - started)
    return summary_ms(durations), built


def run(config: BenchConfig) -> dict[str, Any]:
    figures, built = _time(max_context(), config.build_samples)
    realistic, small = _time(realistic_context(), config.build_samples)
    return {
        "n": config.build_samples,
        "profile": "maximum-size (every list and text at its schema limit, 200 memories)",
        **figures,
        "chars": len(built.text),
        "tokens_estimate": built.tokens_estimate,
        "budget_tokens": DEFAULT_BUDGET_TOKENS,
        "dropped_memories": built.dropped_memories,
        "trimmed": list(built.trimmed),
        "realistic": {**realistic, "chars": len(small.text), "tokens_estimate": small.tokens_estimate},
    }
