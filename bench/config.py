"""How big and how long each scenario runs: the full run, ``--quick``, and the smoke test's tiny one."""

from __future__ import annotations

from dataclasses import dataclass, replace

SCENARIOS = (
    "build",
    "resume",
    "memory",
    "bulk",
    "refresh",
    "save_to_confirmed",
    "relay",
    "recording",
    "cluster",
    "signins",
    "import",
)
# Keys of the results file: the scenarios, and bulk once more for a --postgres run (both are reported).
RESULT_KEYS = (*SCENARIOS, "bulk_postgresql")


@dataclass(frozen=True)
class BenchConfig:
    name: str
    build_samples: int
    memory_n: int
    bulk_n: int
    refresh_n: tuple[int, ...]
    refresh_samples: int
    direct_samples: int
    max_profile_samples: int  # refreshes of one session with a maximum-size profile (0: skip)
    save_k: tuple[int, ...]
    save_samples: int
    relay_n: tuple[int, ...]
    relay_warmup_s: float
    relay_window_s: float
    relay_idle_settle_s: float  # after the last client connected, before the idle window
    relay_idle_window_s: float  # every client connected and silent: each process's steady CPU
    resume_runs: int  # conversations that each cross an expiry and a drop (in-process, on loopback)
    cluster_samples: int  # saves of each kind (another instance, the same instance) in the cluster run
    signin_burst: int = 16  # wrong dashboard sign-ins posted at once (the burst)
    import_people: int = (
        1000  # people of the seed system imported (each 5 memories, 20 reminders, 2 incidents)
    )
    recording_n: int = 50  # conversations streaming at once in each recording phase
    recording_rounds: int = 3  # phases of each kind (none, transcript), alternating
    recording_warmup_s: float = 1.0
    recording_window_s: float = 8.0
    recording_idle_n: int = 500  # idle conversations whose transcripts are kept, for memory per session
    warmup: int = 5  # untimed operations before each timed series

    def pool_size(self, only: frozenset[str]) -> int:
        """How many pool users (one realistic profile and one device token each) to seed."""
        sizes = [1]
        if "memory" in only:
            sizes.append(self.memory_n)
        if "bulk" in only:
            sizes.append(self.bulk_n)
        if "refresh" in only:
            sizes += self.refresh_n
        if "relay" in only:
            sizes += self.relay_n
        if "recording" in only:
            sizes += [2 * self.recording_n, self.recording_idle_n]
        return max(sizes)


FULL = BenchConfig(
    name="full",
    build_samples=50,
    memory_n=1000,
    bulk_n=1000,
    refresh_n=(1, 100, 1000),
    refresh_samples=300,
    direct_samples=300,
    max_profile_samples=30,
    save_k=(1, 10),
    save_samples=200,
    relay_n=(25, 50, 100, 200),  # per path: three times as many streams run at once
    relay_warmup_s=2.0,
    relay_window_s=15.0,
    relay_idle_settle_s=3.0,  # each session's start work (its record's first write) is done by then
    relay_idle_window_s=5.0,
    resume_runs=20,
    cluster_samples=200,
)

QUICK = replace(
    FULL,
    name="quick",
    build_samples=10,
    memory_n=200,
    bulk_n=200,
    refresh_n=(1, 100),
    refresh_samples=100,
    direct_samples=100,
    max_profile_samples=10,
    save_samples=50,
    relay_n=(50,),
    relay_warmup_s=1.0,
    relay_window_s=4.0,
    resume_runs=3,
    cluster_samples=40,
    import_people=200,
    recording_n=25,
    recording_rounds=2,
    recording_window_s=4.0,
    recording_idle_n=200,
)

# The smoke test's: proves the code paths work end to end in a few seconds; its figures mean nothing.
SMOKE = replace(
    QUICK,
    name="smoke",
    build_samples=3,
    memory_n=2,
    bulk_n=2,
    refresh_n=(2,),
    refresh_samples=3,
    direct_samples=3,
    max_profile_samples=0,
    save_k=(2,),
    save_samples=3,
    relay_n=(2,),
    relay_warmup_s=0.2,
    relay_window_s=1.5,  # a few probes per client even when the machine is busy
    relay_idle_settle_s=0.2,
    relay_idle_window_s=0.3,
    resume_runs=2,
    cluster_samples=3,
    signin_burst=2,
    import_people=3,
    recording_n=2,
    recording_rounds=1,
    recording_warmup_s=0.2,
    recording_window_s=0.6,
    recording_idle_n=2,
    warmup=1,
)

PRESETS = {config.name: config for config in (FULL, QUICK, SMOKE)}
