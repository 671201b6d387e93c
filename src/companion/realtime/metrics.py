"""Prometheus metrics for live sessions, on a registry of the app's own (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Buckets around the one-second promise: most refreshes are a local round trip (ms), some wait on a model.
# A new model session: a connect, a confirmed update and a replay; a drop adds the retries' backoff.
RESUME_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
REFRESH_BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.live_sessions = Gauge(
            "companion_live_sessions", "Live conversations relayed right now", registry=self.registry
        )
        self.sessions_total = Counter(
            "companion_sessions", "Conversations started", ["outcome"], registry=self.registry
        )
        self.refreshes = Counter(
            "companion_refreshes", "Instruction refreshes by result", ["result"], registry=self.registry
        )
        self.refresh_latency = Histogram(
            "companion_refresh_latency_seconds",
            "From refresh start to the model's confirmation",
            buckets=REFRESH_BUCKETS_S,
            registry=self.registry,
        )
        self.tokens = Counter(
            "companion_tokens", "Tokens the model reported in response.done", registry=self.registry
        )
        self.upstream_connections = Counter(
            "companion_upstream_connections",
            "Model connections opened, by reason (start, rotation, expired, dropped, error)",
            ["reason"],
            registry=self.registry,
        )
        self.resume_seconds = Histogram(
            "companion_resume_seconds",
            "From losing (or starting to replace) a model connection to relaying on the next",
            ["reason"],
            buckets=RESUME_BUCKETS_S,
            registry=self.registry,
        )
        self.held_audio_dropped = Counter(
            "companion_held_audio_dropped",
            "Client audio events held during a switch of model sessions and dropped as too old",
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "companion_tool_calls",
            "Tool calls by name and outcome",
            ["tool", "outcome"],
            registry=self.registry,
        )
