"""Ordered waiting lines.

A queue holds ``(key, ticket_id)`` entries in a :class:`SortedList`: O(log n) insert and remove,
O(log n) rank (the position printed on a ticket), and the head cached in an attribute so that a
counter comparing the heads of K services pays K attribute reads, not K list look-ups.

Calling the head is the hot path, so it does not remove the head from the sorted list at once.
Removing an entry keeps the list's positional index (which rank needs) up to date, a walk of
that index tree per removal. Instead, a called head stays in the list as one of its first
``gone`` entries (the "called prefix"), and the next head is read from the first sublist. The
next :meth:`KeyedQueue.add` removes one called entry, so that cost moves to taking a ticket;
calls that outpace new tickets remove one per call once the prefix reaches :data:`MAX_GONE`.
Invariant: the first ``gone`` entries of ``entries`` are called, every entry after them waits,
and each called entry is smaller than every waiting one (an added entry that is not larger
than every called one first clears the prefix). So positions are sorted-list positions minus
``gone``.

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

#: Most called heads kept in a queue's sorted list before a call removes one itself.
MAX_GONE = 32


class KeyedQueue:
    """Entries ordered by ``(key, ticket_id)``; the smallest is called first."""

    __slots__ = ("entries", "gone", "head")

    def __init__(self) -> None:
        self.entries = SortedList()
        self.gone = 0  # called heads still at the front of ``entries``
        self.head: Entry | None = None

    def __len__(self) -> int:
        return len(self.entries) - self.gone

    def add(self, entry: Entry) -> None:
        entries = self.entries
        gone = self.gone
        if gone:
            entries.pop(0)  # one called head, removed here instead of on the calling path
            gone -= 1
            # An entry at or below a called head (a ticket back with the key it was called
            # with is equal to its old entry) would sort among them: clear them all first.
            if gone and entry <= entries[gone - 1]:
                del entries[:gone]
                gone = 0
            self.gone = gone
        entries.add(entry)
        head = self.head
        if head is None or entry < head:
            self.head = entry

    def remove(self, entry: Entry) -> None:
        entries = self.entries
        if entry is self.head:
            gone = self.gone + 1
            if gone > MAX_GONE:
                entries.pop(0)
                gone -= 1
            self.gone = gone
            try:
                self.head = entries[gone]  # in the first sublist: no index walk
            except IndexError:
                self.head = None
        else:
            entries.remove(entry)

    def rank(self, entry: Entry) -> int:
        """How many waiting entries come before this one."""
        return int(self.entries.bisect_left(entry)) - self.gone

    def key_at(self, index: int) -> float:
        """The key of the entry at ``index`` in calling order (negative: from the end)."""
        return self.entry_at(index)[0]

    def entry_at(self, index: int) -> Entry:
        if not -len(self) <= index < len(self):
            raise IndexError("queue index out of range")
        entry: Entry = self.entries[index if index < 0 else index + self.gone]
        return entry

    def ids(self) -> list[int]:
        return [ticket_id for _, ticket_id in self.entries.islice(self.gone)]


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
