"""Keeping the engines' long-lived objects out of the garbage collector's full passes.

A branch's day of tickets is millions of objects that live until the day changes. Every full
collection walks them all (0.5 to 0.8 s with 1M tickets on the reference machine, see
docs/performance.md), for nothing: they are freed by reference counting when the engine drops
them. ``gc.freeze()`` moves every tracked object into a permanent generation that collections
skip. So:

* after the engines are rebuilt at start: ``gc.collect()`` then ``gc.freeze()``;
* every ``refreeze_every`` issued tickets: the young generations are collected, then what lives
  is frozen again, so that the pass over unfrozen objects stays short;
* at a business-day change: ``gc.unfreeze()`` and a full ``gc.collect()`` (the hall is closed),
  which frees any cyclic garbage that was frozen with the rest, then freeze again.

The garbage collector is process-wide; this object is its one user in the app.
"""

from __future__ import annotations

import gc
from typing import Protocol

REFREEZE_EVERY = 50_000
YOUNG_THRESHOLD = 50_000  # objects allocated between young collections (CPython's default: 700)


class Collector(Protocol):
    """The part of the ``gc`` module used here (a fake in the tests)."""

    def collect(self, generation: int = 2) -> int: ...
    def freeze(self) -> None: ...
    def unfreeze(self) -> None: ...
    def get_threshold(self) -> tuple[int, int, int]: ...
    def set_threshold(
        self, threshold0: int, threshold1: int = ..., threshold2: int = ...
    ) -> None: ...


class HeapFreezer:
    def __init__(self, *, refreeze_every: int = REFREEZE_EVERY, collector: Collector = gc) -> None:
        self.refreeze_every = refreeze_every
        self.collector = collector
        self.issued_since_freeze = 0
        self._day: str | None = None

    def started(self) -> None:
        """The engines are loaded: collect once, freeze what lives, and collect the young
        generation less often (request garbage is short-lived and freed by reference counts)."""
        collector = self.collector
        young, middle, old = collector.get_threshold()
        collector.set_threshold(max(YOUNG_THRESHOLD, young), middle, old)
        collector.collect()
        collector.freeze()
        self.issued_since_freeze = 0

    def issued(self, tickets: int) -> None:
        """``tickets`` more tickets were issued (and committed)."""
        self.issued_since_freeze += tickets
        if self.issued_since_freeze >= self.refreeze_every:
            self.collector.collect(1)
            self.collector.freeze()
            self.issued_since_freeze = 0

    def day_changed(self, business_day: str) -> None:
        """A branch started ``business_day``; the first branch to do so frees the old day."""
        if business_day == self._day:
            return
        self._day = business_day
        self.collector.unfreeze()
        self.collector.collect()
        self.collector.freeze()
        self.issued_since_freeze = 0
