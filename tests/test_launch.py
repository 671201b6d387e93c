"""The tests' launcher (``tests/launch.py``): a launched module runs as ``python -m`` would, with the
environment, output, exit status and priority a process started by the launching thread has."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from tests.launch import Launched, launch

# ``python -m tests.launch_probe`` runs one statement: its exit status says what the child saw
EXIT_WITH = "import os, sys; sys.exit({})"


def probe(statement: str, log: Path, **env: str) -> Launched:
    return launch("tests.launch_probe", [statement], env={"PATH": os.environ["PATH"], **env}, log=log)


def test_the_child_has_the_environment_given_and_the_exit_status_of_its_module(tmp_path: Path) -> None:
    only_given = "0 if os.environ.get('PROBE') == 'yes' and 'HOME' not in os.environ else 3"
    seen = probe(EXIT_WITH.format(only_given), tmp_path / "env.log", PROBE="yes")
    assert seen.wait(30) == 0, (tmp_path / "env.log").read_text()
    printed = probe("print('hello from the child')", tmp_path / "out.log")
    assert printed.wait(30) == 0
    assert "hello from the child" in (tmp_path / "out.log").read_text()


def test_a_killed_child_answers_as_popen_does(tmp_path: Path) -> None:
    child = probe("import time; time.sleep(60)", tmp_path / "sleep.log")
    assert child.poll() is None
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL and child.returncode == -signal.SIGKILL
    child.terminate()  # gone already: nothing to do, as with Popen


def test_the_child_runs_at_the_launching_threads_priority(tmp_path: Path) -> None:
    """A thread of its own lowers its priority (allowed to anyone) and launches: the child has it."""
    statuses: list[int] = []

    def lowered() -> None:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + 3)  # this thread only
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        child = probe(EXIT_WITH.format("os.getpriority(os.PRIO_PROCESS, 0)"), tmp_path / "nice.log")
        statuses.extend([nice, child.wait(30)])

    thread = threading.Thread(target=lowered)
    thread.start()
    thread.join(60)
    nice, status = statuses
    assert status == nice and nice > os.getpriority(os.PRIO_PROCESS, 0)
