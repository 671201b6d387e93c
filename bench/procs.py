"""Start and stop the bench's child processes, and read their CPU time and memory from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

READY_TIMEOUT_S = 30.0  # a child that is not listening by then is broken
STOP_TIMEOUT_S = 15.0  # graceful shutdown with 1,000 sessions takes a few seconds
GC_SETTLE_S = 0.5  # after SIGUSR1 (gc.collect in the child) before RSS is read
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Child:
    """One ``python -m bench.serve <role>`` process."""

    role: str
    process: subprocess.Popen[str]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kb(self, *, collect: bool = True) -> int:
        """Resident memory; ``collect`` first asks the child to run ``gc.collect()``."""
        if collect:
            os.kill(self.pid, signal.SIGUSR1)
            time.sleep(GC_SETTLE_S)
        return rss_kb(self.pid)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the {self.role} process exited; see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_ready(stream: IO[str], found: list[str]) -> None:
    line = stream.readline()
    if line:
        found.append(line)


def start_child(role: str, env: dict[str, str], log_path: Path) -> Child:
    """Start ``bench.serve <role>``; wait until it prints ``READY <port>``."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", role],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    found: list[str] = []
    reader = threading.Thread(target=_read_ready, args=(process.stdout, found), daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT_S)
    child = Child(role, process, 0, log_path)
    if not found or not found[0].startswith("READY "):
        child.stop()
        raise RuntimeError(f"the {role} process did not start; see {log_path}:\n{child.log_tail()}")
    child.port = int(found[0].split()[1])
    return child


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the whole process (all threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def git_commit(root: Path = ROOT) -> str:
    """The checked-out commit, read from .git without running git."""
    git = root / ".git"
    if git.is_file():  # a worktree: "gitdir: <path>"
        git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return "unknown"
    if not head.startswith("ref: "):
        return head
    ref = head[5:]
    common = git / "commondir"  # a worktree's branches live in the main checkout's .git
    if not (git / ref).is_file() and common.is_file():
        git = (git / common.read_text().strip()).resolve()
    if (git / ref).is_file():
        return (git / ref).read_text().strip()
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    return "unknown"
