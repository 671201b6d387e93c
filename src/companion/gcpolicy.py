"""How a long-running server process sets Python's cycle collector.

With the default thresholds (700, 10, 10) a service holding a thousand live conversations ran ten
full collections during a burst of 1,000 saves, each scanning every object of every conversation:
3.3 s of a 19.7 s run, single pauses up to 825 ms (the event loop, and every conversation's audio,
stood still meanwhile). Two settings, applied once the process has started:

- ``gc.freeze()`` after a collection: what the imports and the start built (about 220,000 objects:
  modules, classes, the routes, the schemas) lives as long as the process and is never scanned again;
- a young generation of 10,000 allocations instead of 700, and 20 collections of each generation
  before the next one is considered: requests and audio frames die young and are freed by reference
  counting; what the collector exists for (cycles) is found a little later.

Measured in ``docs/performance.md``. Reference counting frees almost everything this service makes;
only reference cycles wait for a collection, and none of them holds much.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations (minus deallocations) of tracked objects before a young collection
OLDER_THRESHOLDS = (20, 20)  # younger collections before an older generation is considered


def settle() -> None:
    """Call once the server has started: keeps what the start built out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
