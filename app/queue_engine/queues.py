"""Ordered waiting lines.

A queue holds ``(key, ticket_id)`` entries in a :class:`SortedList`: O(log n) insert and remove,
O(log n) rank (the position printed on a ticket), and the head cached in an attribute so that a
counter comparing the heads of K services pays K attribute reads, not K list look-ups.

A :class:`ServiceQueue` also keeps its entries in arrival order (a deque) to find the ticket that
has waited longest, which SLA escalation needs. That deque is cleaned lazily: an entry is live
only while its ticket still holds that very tuple (``ticket.entry is entry``), so a ticket that
left and came back is never mistaken for its older self.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from sortedcontainers import SortedList

from .model import Ticket

Entry = tuple[float, int]


class KeyedQueue:
    """Entries ordered by ``(key, ticket_id)``; the smallest is called first."""

    __slots__ = ("entries", "head")

    def __init__(self) -> None:
        self.entries = SortedList()
        self.head: Entry | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: Entry) -> None:
        self.entries.add(entry)
        head = self.head
        if head is None or entry < head:
            self.head = entry

    def remove(self, entry: Entry) -> None:
        entries = self.entries
        if entry is self.head:
            # The head is the first entry: pop it without the two bisections of remove().
            entries.pop(0)
            self.head = entries[0] if entries else None
        else:
            entries.remove(entry)

    def rank(self, entry: Entry) -> int:
        """How many entries come before this one."""
        return int(self.entries.bisect_left(entry))

    def key_at(self, index: int) -> float:
        key: float = self.entries[index][0]
        return key

    def entry_at(self, index: int) -> Entry:
        entry: Entry = self.entries[index]
        return entry

    def ids(self) -> list[int]:
        return [ticket_id for _, ticket_id in self.entries]


class ServiceQueue(KeyedQueue):
    """One service's line, plus arrival order for the longest-waiting ticket."""

    __slots__ = ("arrivals",)

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: deque[Entry] = deque()

    def add(self, entry: Entry) -> None:
        super().add(entry)
        self.arrivals.append(entry)

    def add_in_arrival_order(self, entries: list[tuple[float, Entry]]) -> None:
        """Bulk load for a rebuild: ``(queued_at, entry)`` pairs in any order."""
        entries.sort(key=lambda pair: (pair[0], pair[1][1]))
        for _, entry in entries:
            self.add(entry)

    def oldest(self, ticket: Callable[[int], Ticket]) -> Ticket | None:
        """The waiting ticket that joined this line first (amortised O(1))."""
        arrivals = self.arrivals
        while arrivals:
            entry = arrivals[0]
            candidate = ticket(entry[1])
            if candidate.entry is entry:
                return candidate
            arrivals.popleft()
        return None
