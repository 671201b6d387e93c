"""The cycle collector's settings for a server process."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from companion import gcpolicy


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_what_exists_and_raises_the_thresholds() -> None:
    class Built:
        pass

    kept = Built()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    gcpolicy.settle()
    assert gc.get_freeze_count() > 1000  # the imports and this process's start, at the least
    assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, *gcpolicy.OLDER_THRESHOLDS)
    assert not any(obj is kept for obj in gc.get_objects())  # frozen: no collection scans it


@pytest.mark.usefixtures("restored_gc")
def test_cycles_made_after_settling_are_still_collected() -> None:
    gcpolicy.settle()

    class Node:
        other: object

    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    gc.collect()
    assert gone() is None
