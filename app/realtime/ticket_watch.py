"""What a customer's ticket socket is told, and when (sans-I/O: views and times come in).

A :class:`TicketWatch` follows one ticket's customer view (``views.ticket_view``) and turns each
new view into at most one message type:

* a change of state is told at once: ``called`` (to which counter), ``recalled``, ``serving``,
  ``missed``, ``returned``, ``transferred``, ``parked``, ``finished`` (with the link to rate),
  ``cancelled``, ``expired``, else ``state``;
* a change of position or estimate alone is told at most once per ``min_interval`` seconds
  (``position``); a change that comes sooner waits (``pending``) until the caller asks again;
* the first view in which at most N people are ahead while waiting is ``almost_your_turn``
  (once per wait: again only after the ticket left the queue and came back).
"""

from __future__ import annotations

from typing import Any

View = dict[str, Any]

_STATE_MESSAGES = {
    "called": "called",
    "serving": "serving",
    "missed": "missed",
    "parked": "parked",
    "finished": "finished",
    "cancelled": "cancelled",
    "expired": "expired",
}
_CAUSE_MESSAGES = {
    "ticket_recalled": "recalled",
    "ticket_returned": "returned",
    "ticket_transferred": "transferred",
    "ticket_unparked": "state",
}
FINAL_STATES = frozenset({"finished", "cancelled", "expired"})


class TicketWatch:
    __slots__ = ("_almost_told", "_last", "_last_position_at", "min_interval", "pending")

    def __init__(self, view: View, *, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self._last = view
        self._last_position_at = float("-inf")
        self._almost_told = bool(view.get("almost_your_turn"))
        self.pending = False

    @property
    def view(self) -> View:
        return self._last

    @property
    def final(self) -> bool:
        return self._last["state"] in FINAL_STATES

    def next_allowed(self) -> float:
        """When a pending position change may be told."""
        return self._last_position_at + self.min_interval

    def update(self, view: View, now: float, cause: str | None = None) -> str | None:
        """The message type to send for ``view`` (and remember it as told), or None."""
        last = self._last
        kind: str | None = None
        if cause in _CAUSE_MESSAGES:
            kind = _CAUSE_MESSAGES[cause]
        elif view["state"] != last["state"]:
            if last["state"] == "missed" and view["state"] == "waiting":
                kind = "returned"
            else:
                kind = _STATE_MESSAGES.get(view["state"], "state")
        if kind is not None:
            self._told(view)
            if view["state"] == "waiting" and view["almost_your_turn"] and not self._almost_told:
                self._almost_told = True
            return kind
        if (view["ahead"], view["eta_minutes"]) == (last["ahead"], last["eta_minutes"]):
            self.pending = False
            return None
        if now < self.next_allowed():
            self.pending = True
            return None
        self._told(view)
        self._last_position_at = now
        if view["almost_your_turn"] and not self._almost_told:
            self._almost_told = True
            return "almost_your_turn"
        return "position"

    def _told(self, view: View) -> None:
        if view["state"] != "waiting":
            self._almost_told = False
        self._last = view
        self.pending = False
