"""Run by ``tests/test_launch.py`` as ``python -m tests.launch_probe STATEMENT``: runs the statement, whose
exit status tells the test what the child saw."""

import sys

exec(sys.argv[1])  # the test's own statement
