"""The service as a process of its own, started from an interpreter that has already imported it.

Tests that need the real service as a process (to kill it as a power cut would, to run several instances
on one database) started a fresh interpreter each time: about 1.5 CPU-seconds on a fast core, 3 on a slow
one, importing the service before it began to start. Each test worker now starts one fork server
(``multiprocessing``'s ``forkserver``) that imports the service once; every service process is forked
from it and runs the same command as ``python -m MODULE ARGS...`` (the module's ``__main__``, through
``runpy``), with the environment, working folder and log file given, at the priority of the thread that
launched it (as a process started by that thread would have). Only the imports were done before.

:func:`launch` answers a :class:`Launched`, whose methods are the ones of ``subprocess.Popen`` the tests
use. The command line itself (a fresh ``python -m companion.cli serve``) stays covered by
``tests/test_cli_local.py``, which starts it the plain way.

This module imports nothing of the service or of pytest: the fork server imports it to run
:func:`_run` in each child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Final

# What a service process imports before it starts: the command line, the app, the server, the engine.
PRELOAD: Final = ["companion.cli", "companion.app", "companion.localmodel.server", "uvicorn.main"]

_context: ForkServerContext | None = None


def _server() -> ForkServerContext:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        assert isinstance(context, ForkServerContext)
        context.set_forkserver_preload(PRELOAD)
        _context = context
    return _context


def _run(module: str, args: list[str], env: dict[str, str], log: str, cwd: str | None, nice: int) -> None:
    """In the child: the environment, folder, output and priority of a new process started by the
    launching thread, then ``python -m module``."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # as a process the test started would inherit it
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class Launched:
    """A launched process, answering as ``subprocess.Popen`` does."""

    def __init__(self, process: BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(f"python -m {self._process.name}", timeout or 0.0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def launch(
    module: str, args: Sequence[str], *, env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Launched:
    """``python -m module args...`` as a child of the worker's fork server, its output appended to
    ``log``."""
    process = _server().Process(
        target=_run,
        args=(
            module,
            list(args),
            dict(env),
            str(log),
            str(cwd) if cwd is not None else None,
            os.getpriority(os.PRIO_PROCESS, 0),  # the launching thread's, as a Popen child inherits it
        ),
        name=module,
        daemon=True,  # one still running when the worker ends is stopped with it
    )
    process.start()
    return Launched(process)
