"""Domain errors raised by the queue engine.

Every command validates before it changes anything, so an error always means "nothing happened".
Each class's docstring is its default message; callers pass a more specific sentence when they
have one. The HTTP layer maps these classes to status codes in one place; the engine knows no HTTP.

Hierarchy::

    QueueError
    ├── ConfigError               a branch configuration is invalid
    ├── InvalidCommand            the command's arguments make no sense
    ├── NotFound
    │   ├── UnknownService
    │   ├── UnknownCounter
    │   └── UnknownTicket
    └── Conflict                  legal input, but the current state forbids it
        ├── QuotaReached
        ├── ServicePaused
        ├── CounterNotOpen
        ├── CounterBusy
        ├── CounterIdle
        ├── ServiceNotServedHere
        ├── IllegalTransition
        ├── ReturnNotAllowed
        └── CheckInRefused
"""

from __future__ import annotations


class QueueError(Exception):
    """The queue engine refused the command."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        super().__init__(self.detail)


class ConfigError(QueueError):
    """The branch configuration is invalid."""


class InvalidCommand(QueueError):
    """The command's arguments are invalid."""


class NotFound(QueueError):
    """Not found."""


class UnknownService(NotFound):
    """No such service at this branch."""


class UnknownCounter(NotFound):
    """No such counter at this branch."""


class UnknownTicket(NotFound):
    """No such ticket today at this branch."""


class Conflict(QueueError):
    """The command does not fit the current state."""


class QuotaReached(Conflict):
    """Today's ticket quota for this service is used up."""


class ServicePaused(Conflict):
    """Ticket issuing for this service is paused (暂停取号)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


class CounterNotOpen(Conflict):
    """The counter is not open, so it cannot call tickets."""


class CounterBusy(Conflict):
    """The counter is still holding a ticket; finish it, mark it a no-show or transfer it first."""


class CounterIdle(Conflict):
    """The counter holds no ticket."""


class ServiceNotServedHere(Conflict):
    """This counter does not serve the ticket's service."""


class IllegalTransition(Conflict):
    """The ticket's current state does not allow this command."""


class ReturnNotAllowed(Conflict):
    """This missed ticket cannot come back into the queue."""


class CheckInRefused(Conflict):
    """The appointment cannot be checked in now."""
